"""The Dagster UI in a real browser (Playwright driving Debian's Chromium) on a populated demo instance.

The demo runs the job once per instance into DAGSTER_HOME before the UI serves it (as `make ui` does), so a
newcomer sees materializations and check results at once; then we materialize one lookup partition by
clicking, as an operator would, and see the new materialization and its check results on the asset page.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from usermgmt_pipeline_tests.conftest import REPO_ROOT
from usermgmt_pipeline_tests.orchestration.dagster_server import DagsterServer, running_dagster
from usermgmt_pipeline_tests.orchestration.helpers import config_document, seed, write_config

INSTANCES = ["alpha", "beta"]
SHOTS = os.environ.get("USERMGMT_SCREENSHOT_DIR", "")


def chromium_path() -> str:
    """Debian's Chromium binary (the /usr/bin/chromium wrapper script sets flags Playwright does not want)."""
    for candidate in (
        "/usr/lib/chromium/chromium",
        shutil.which("chromium") or "",
        shutil.which("chromium-browser") or "",
    ):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("Chromium is missing: apt-get install chromium (.ci/run does)", pytrace=False)


def populate(home: Path, config: Path) -> None:
    """What `make ui` does before serving: one run per instance, recorded in DAGSTER_HOME."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CONFIG_FILE_PATH": str(config),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "usermgmt_pipeline.cli"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


RUNS = "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"


def shoot(page: Any, name: str) -> None:
    """Screenshots for a human reviewer, when USERMGMT_SCREENSHOT_DIR names a folder."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / name), full_page=True)


def run_ids(server: DagsterServer) -> set[str]:
    return {r["runId"] for r in server.graphql(RUNS)["runsOrError"]["results"]}


def wait_for_new_lookup_run(server: DagsterServer, before: set[str]) -> str:
    """The run the click launched, once it finished (the daemon dequeues and runs it)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        new = [r for r in server.graphql(RUNS)["runsOrError"]["results"] if r["runId"] not in before]
        if new and new[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            assert new[0]["status"] == "SUCCESS", new[0]
            assert {"key": "dagster/partition", "value": "beta"} in new[0]["tags"]
            return str(new[0]["runId"])
        time.sleep(1)
    raise AssertionError("the launched run did not finish")


def test_materialize_a_lookup_partition_from_the_asset_page_and_see_its_checks(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    from playwright.sync_api import expect, sync_playwright

    seed(mongo_client, db_prefix, INSTANCES)
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, INSTANCES))
    home = tmp_path / "home"
    populate(home, config)
    dagster_yaml = (REPO_ROOT / "dagster.yaml").read_text()
    with (
        running_dagster(home, {"CONFIG_FILE_PATH": str(config)}, dagster_yaml) as server,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        before = run_ids(server)
        page.goto(f"{server.url}/assets/generate_profile_id_lookup")
        page.get_by_role("button", name="Skip").click()  # the first-visit dialog
        expect(page.get_by_role("dialog")).to_have_count(0)
        # populated: the demo's runs show a materialization, check results and the description
        expect(page.get_by_text("Latest check results")).to_be_visible()
        expect(page.get_by_text("already_present", exact=True).first).to_be_visible()
        expect(page.get_by_text("Two blocking checks follow", exact=False)).to_be_visible()
        shoot(page, "asset_page_populated.png")

        page.get_by_role("button", name="Materialize…").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Select a partition or create one").click()
        page.get_by_role("menuitem").filter(has_text="beta").click()
        # Close the partition list by clicking the dialog's top corner: the list can overlap the dialog's own
        # labels (it did over "Partition selection"), and the corner is the dialog's header padding.
        launch_dialog = dialog.filter(has_text="Launch runs to materialize")  # the list is a dialog too
        box = launch_dialog.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 8, box["y"] + 8)
        expect(page.get_by_role("menuitem")).to_have_count(0)
        launch_dialog.get_by_role("button", name="Launch 1 run").click()
        run_id = wait_for_new_lookup_run(server, before)

        page.get_by_role("tab", name="Events").click()
        expect(page.get_by_role("link", name=run_id[:8])).to_be_visible()  # the new materialization
        page.get_by_role("tab", name="Checks").click()
        for check in (
            "every_profile_has_one_entry_per_active_study",
            "no_entry_points_to_a_missing_profile",
            "no_failed_users",
        ):
            page.get_by_text(check[:14]).first.click()
            expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
            page.get_by_role("tab", name="Execution history").click()
            # the demo's two runs (alpha, beta) and the one we launched: three passed evaluations
            expect(page.get_by_text("Passed", exact=True)).to_have_count(3)
            page.get_by_role("tab", name="Overview").last.click()
        shoot(page, "asset_page_checks_after_click.png")
        browser.close()
