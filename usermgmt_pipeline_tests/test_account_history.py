"""`user-management history`: one account's recorded actions, from the audit log, after the account is gone."""

from __future__ import annotations

import hashlib
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
    notice, account_deleted, *leave, deletion = entries
    assert (notice["task"], notice["action"], notice["outcome"]) == (
        "notify_inactive_users",
        "account-inactivity",
        "done",
    )
    # the deletion is recorded when the account document is deleted, before its studies are erased
    assert (account_deleted["task"], account_deleted["action"], account_deleted["outcome"]) == (
        "delete_marked_users",
        "account-deleted",
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
    assert nothing.returncode == 4 and "no recorded action" in nothing.stdout  # issue 22: was 0
    missing_user = run_cli(["history", "--instance", "alpha"], config, tmp_path)
    assert missing_user.returncode == 2 and "--user" in missing_user.stderr
    for malformed in ("alpha.user6@example.org", "12345", "zz" * 12):
        refused = run_cli(["history", "--instance", "alpha", "--user", malformed], config, tmp_path)
        assert refused.returncode == 2 and "is not a user id" in refused.stderr, malformed
    usage = run_cli(["history", "--help"], config, tmp_path)
    assert usage.returncode == 0 and "exit codes:" in usage.stdout and "no recorded action" in usage.stdout


HASH_KEY = "test-account-hash-key-0123456789"


def _pipeline_documents(client: MongoClient, prefix: str) -> str:
    """Every document of every collection of our own database, as one text."""
    db = client[f"{prefix}usermgmt-pipeline"]
    return "\n".join(
        json.dumps(doc, default=str) for name in db.list_collection_names() for doc in db[name].find()
    )


def test_history_by_address_finds_a_deleted_account_and_no_address_is_stored_anywhere(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    """Issue 22: a request that arrives by email after the deletion can be answered, from a keyed hash of the
    normalised address; the pipeline database holds no address, and the hash is useless without the key."""
    seed(mongo_client, db_prefix, INSTANCES)
    users = mongo_client[f"{db_prefix}alpha_users"]["users"]
    address = "alpha.user6@example.org"
    user_id = str(users.find_one({"account.accountID": address})["_id"])  # inactive: warned, then deleted
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, INSTANCES))
    key = {"USERMGMT_ACCOUNT_HASH_KEY": HASH_KEY}  # the env override of orchestration.account_hash_key

    warned = run_cli([], config, tmp_path, **key)
    assert warned.returncode == 0, warned.stderr
    users.update_one(
        {"_id": ObjectId(user_id)}, {"$set": {"timestamps.markedForDeletion": Int64(int(time.time()) - 60)}}
    )
    deleted = run_cli([], config, tmp_path, **key)
    assert deleted.returncode == 0, deleted.stderr
    assert users.count_documents({"_id": ObjectId(user_id)}) == 0

    found = run_cli(
        ["history", "--instance", "alpha", "--email", " Alpha.User6@Example.ORG ", "--format", "json"],
        config,
        tmp_path,
        **key,
    )
    assert found.returncode == 0, found.stderr
    [account] = json.loads(found.stdout)["users"]
    assert account["userID"] == user_id
    assert [(e["action"], e["outcome"]) for e in account["entries"] if not e["leave_rules"]] == [
        ("account-inactivity", "done"),
        ("account-deleted", "done"),  # recorded when the account document was deleted
        ("delete", "done"),
    ]
    assert "example.org" not in found.stdout.lower()
    as_text = run_cli(["history", "--instance", "alpha", "--email", address], config, tmp_path, **key)
    assert as_text.returncode == 0 and f"history of user {user_id} in instance alpha" in as_text.stdout

    stored = _pipeline_documents(mongo_client, db_prefix)
    assert stored and "accountHash" in stored
    assert "@" not in stored and "example.org" not in stored.lower()
    assert hashlib.sha256(address.encode()).hexdigest() not in stored  # keyed, not a plain hash

    other_key = run_cli(
        ["history", "--instance", "alpha", "--email", address],
        config,
        tmp_path,
        USERMGMT_ACCOUNT_HASH_KEY="another-key-of-enough-length",
    )
    assert other_key.returncode == 4 and "no recorded action" in other_key.stdout
    unknown = run_cli(
        ["history", "--instance", "alpha", "--email", "nobody@example.org"], config, tmp_path, **key
    )
    assert unknown.returncode == 4
    no_key = run_cli(["history", "--instance", "alpha", "--email", address], config, tmp_path)
    assert no_key.returncode == 2 and "orchestration.account_hash_key" in no_key.stderr
    assert HASH_KEY not in "".join(
        p.stdout + p.stderr for p in (warned, deleted, found, as_text, other_key, unknown, no_key)
    )


def test_a_short_account_hash_key_is_refused_at_load_naming_the_key(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    document = config_document(
        mongo_uri, db_prefix, INSTANCES, orchestration={"account_hash_key": "k3y-tiny"}
    )
    done = run_cli([], write_config(tmp_path / "config.yaml", document), tmp_path)
    assert done.returncode == 2 and "orchestration.account_hash_key" in done.stderr
    assert "k3y-tiny" not in done.stderr
    assert f"{db_prefix}usermgmt-pipeline" not in mongo_client.list_database_names()


def test_history_says_which_database_it_could_not_reach(tmp_path: Path) -> None:
    from devtools.local_mongo import free_port

    document = config_document(f"mongodb://127.0.0.1:{free_port()}", "unreachable_", INSTANCES)
    document["db_configs"]["global_infos_db"]["timeout"] = 1
    config = write_config(tmp_path / "config.yaml", document)

    done = run_cli(["history", "--instance", "alpha", "--user", str(ObjectId())], config, tmp_path)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "user-management: could not connect to global_infos_db: no server reachable" in done.stderr
    assert "Traceback" not in done.stderr
