"""The dry-run review bundle against the real server: complete, private, and exactly what the real run does."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

from dagster import DagsterInstance
from pymongo import MongoClient

from usermgmt_pipeline.config import load_config
from usermgmt_pipeline.orchestration.build import USER_MANAGEMENT_JOB, build_definitions, run_config
from usermgmt_pipeline.orchestration.task_assets import DRY_RUN_JOB
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
