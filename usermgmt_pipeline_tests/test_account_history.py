"""`user-management history`: one account's recorded actions, from the audit log, after the account is gone."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bson import Int64, ObjectId
from pymongo import MongoClient

from usermgmt_pipeline_tests.orchestration.helpers import config_document, seed, write_config
from usermgmt_pipeline_tests.test_cli import run_cli

INSTANCES = ["alpha"]


def test_history_of_a_deleted_account_lists_every_action_oldest_first_without_addresses(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    seed(mongo_client, db_prefix, INSTANCES)
    users = mongo_client[f"{db_prefix}alpha_users"]["users"]
    outgoing = mongo_client[f"{db_prefix}alpha_messageDB"]["outgoing-emails"]
    user_id = str(
        users.find_one({"account.accountID": "alpha.user6@example.org"})["_id"]
    )  # inactive, to warn
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, INSTANCES))

    warned = run_cli([], config, tmp_path)
    assert warned.returncode == 0, warned.stdout + warned.stderr
    users.update_one(  # the grace period is over
        {"_id": ObjectId(user_id)}, {"$set": {"timestamps.markedForDeletion": Int64(int(time.time()) - 60)}}
    )
    deleted = run_cli([], config, tmp_path)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert users.count_documents({"_id": ObjectId(user_id)}) == 0

    as_json = run_cli(
        ["history", "--instance", "alpha", "--user", user_id, "--format", "json"], config, tmp_path
    )
    assert as_json.returncode == 0, as_json.stderr
    assert "@" not in as_json.stdout
    history = json.loads(as_json.stdout[as_json.stdout.index("{\n") :])
    assert history["userID"] == user_id and history["instanceID"] == "alpha"
    entries = history["entries"]
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    notice, *leave, deletion = entries
    assert (notice["task"], notice["action"], notice["outcome"]) == (
        "notify_inactive_users",
        "account-inactivity",
        "done",
    )
    assert (deletion["task"], deletion["action"], deletion["outcome"]) == (
        "delete_marked_users",
        "delete",
        "done",
    )
    assert notice["run_id"] != deletion["run_id"]
    # both profiles took part in the two studies the demo enrols them in: their LEAVE rules ran and each wrote
    # its report
    assert sorted((e["leave_rules"]["study"], e["leave_rules"]["result"]) for e in leave) == [
        ("covid-cohort", "applied"),
        ("covid-cohort", "applied"),
        ("influenzanet", "applied"),
        ("influenzanet", "applied"),
    ]
    assert all(e["leave_rules"]["reports"] == 1 and e["run_id"] == deletion["run_id"] for e in leave)
    assert deletion["studies_erased"] == sorted(
        ["influenzanet", "covid-cohort", "pilot-same", "vaccination", "closed-study"]
    )
    queued = {e["emailID"]: e["messageType"] for entry in entries for e in entry["emails_queued"]}
    assert sorted(queued.values()) == ["account-deleted-after-inactivity", "account-inactivity"]
    in_outbox = {str(d["_id"]): d["messageType"] for d in outgoing.find({"userId": user_id})}
    assert in_outbox == queued

    as_text = run_cli(["history", "--instance", "alpha", "--user", user_id], config, tmp_path)
    assert as_text.returncode == 0, as_text.stderr
    text = as_text.stdout[as_text.stdout.index("history of user") :]
    assert text.index("account-inactivity: done") < text.index("leave-rules:influenzanet: applied")
    assert text.index("leave-rules:influenzanet: applied") < text.index("delete: done")
    assert "email queued: account-deleted-after-inactivity" in text and "studies erased: closed-study" in text


def test_history_refuses_an_unknown_instance_and_says_when_nothing_was_recorded(
    tmp_path: Path, mongo_uri: str, db_prefix: str
) -> None:
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, INSTANCES))
    unknown = run_cli(["history", "--instance", "gamma", "--user", "x"], config, tmp_path)
    assert unknown.returncode == 2 and "gamma" in unknown.stderr
    nothing = run_cli(["history", "--instance", "alpha", "--user", str(ObjectId())], config, tmp_path)
    assert nothing.returncode == 0 and "no recorded action" in nothing.stdout
    missing_user = run_cli(["history", "--instance", "alpha"], config, tmp_path)
    assert missing_user.returncode == 2 and "--user" in missing_user.stderr


def test_history_says_which_database_it_could_not_reach(tmp_path: Path) -> None:
    from devtools.local_mongo import free_port

    document = config_document(f"mongodb://127.0.0.1:{free_port()}", "unreachable_", INSTANCES)
    document["db_configs"]["global_infos_db"]["timeout"] = 1
    config = write_config(tmp_path / "config.yaml", document)

    done = run_cli(["history", "--instance", "alpha", "--user", str(ObjectId())], config, tmp_path)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "user-management: could not connect to global_infos_db: no server reachable" in done.stderr
    assert "Traceback" not in done.stderr
