"""Malformed CASE documents: each one skipped and reported with the rest processed, or - for email
templates - the instance's task failing before it touches anyone.

Every scenario runs on a clone of the seeded template instance with the malformed documents added.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bson import Int64, ObjectId
from pymongo import MongoClient

from usermgmt_pipeline.case.id_mapping import StudyIdentity, compute_participant_ids
from usermgmt_pipeline.demo.documents import exp_arg, on_leave, str_arg, study_document, user_document
from usermgmt_pipeline.tasks.results import TaskFailedError
from usermgmt_pipeline_tests.reliability.conftest import NOW_NS, NOW_S
from usermgmt_pipeline_tests.reliability.harness import GLOBAL_SECRET, INSTANCE, run_task, snapshot

HOUR = 3600
Clone = Callable[..., tuple[str, Path]]


def _reminder_candidate(**account_changes: Any) -> dict[str, Any]:
    return user_document(
        account_id=f"m{ObjectId()}@example.org", created_at=NOW_S - 60 * HOUR, profiles=[(ObjectId(), True)]
    )


def _set(doc: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    *parents, leaf = dotted.split(".")
    target: Any = doc
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    target[leaf] = value
    return doc


def _unset(doc: dict[str, Any], dotted: str) -> dict[str, Any]:
    *parents, leaf = dotted.split(".")
    target: Any = doc
    for part in parents:
        target = target[part]
    del target[leaf]
    return doc


# (field path, wrong value, what the skip reason must name)
WRONG_TYPED_USERS: list[tuple[str, Any, str]] = [
    ("account.preferredLanguage", 5, "account.preferredLanguage"),
    ("account.preferredLanguage", {"lang": "en"}, "account.preferredLanguage"),
    ("account.accountID", ["x@example.org"], "account.accountID"),
    ("account.accountID", True, "account.accountID"),
    ("account.accountConfirmedAt", 0.5, "account.accountConfirmedAt"),
    ("timestamps.createdAt", float(NOW_S - 60 * HOUR) + 0.5, "timestamps.createdAt"),
    ("timestamps.lastLogin", "0", "timestamps.lastLogin"),
    ("timestamps.lastTokenRefresh", datetime(2020, 1, 1, tzinfo=UTC), "timestamps.lastTokenRefresh"),
    ("timestamps.markedForDeletion", 1.5, "timestamps.markedForDeletion"),
    ("profiles", "not-a-list", "profiles"),
    ("profiles", {"_id": ObjectId()}, "profiles"),
    ("profiles", [1], "profiles[0]"),
    ("profiles.0._id", "5f1e0c0e0c0e0c0e0c0e0c0e", "profiles[0]._id"),
    ("profiles.0.mainProfile", "yes", "profiles[0].mainProfile"),
    ("_id", "not-an-object-id", "_id"),
]


def test_users_with_wrong_types_are_skipped_and_reported_and_everyone_else_is_reminded(
    cloned_instance: Clone, mongo_client: MongoClient
) -> None:
    prefix, config = cloned_instance()
    users = mongo_client[f"{prefix}{INSTANCE}_users"]["users"]
    reference = run_task(cloned_instance()[1], "send_reminder_to_confirm_accounts", NOW_NS)[0]
    bad_ids = []
    for path, value, _ in WRONG_TYPED_USERS:
        doc = _set(_reminder_candidate(), path, value)
        users.insert_one(doc)
        bad_ids.append(str(doc["_id"]))
    missing_language = _unset(_reminder_candidate(), "account.preferredLanguage")
    missing_profiles = _unset(_reminder_candidate(), "profiles")
    users.insert_many([missing_language, missing_profiles])

    result = run_task(config, "send_reminder_to_confirm_accounts", NOW_NS)[0]

    reasons = dict(result.skip_reasons)
    assert result.skipped == len(WRONG_TYPED_USERS)
    for user_id, (_, _, named) in zip(bad_ids, WRONG_TYPED_USERS, strict=True):
        assert named in reasons[user_id], (user_id, reasons.get(user_id))
    # Missing fields decode to Go's zero values, as the original does: both users are reminded.
    assert (result.done, result.failed) == (reference.done + 2, 0)
    outgoing = mongo_client[f"{prefix}{INSTANCE}_messageDB"]["outgoing-emails"]
    reminded = {e["userId"] for e in outgoing.find({})}
    assert {str(missing_language["_id"]), str(missing_profiles["_id"])} <= reminded
    assert not reminded & set(bad_ids)
    tokens = mongo_client[f"{prefix}global-infos"]["temp-tokens"]
    assert tokens.count_documents({"userID": {"$in": bad_ids}}) == 0
    untouched = users.count_documents(
        {
            "_id": {"$in": [d for d in (ObjectId(i) if ObjectId.is_valid(i) else i for i in bad_ids)]},
            "timestamps.reminderToConfirmSentAt": Int64(0),
        }
    )
    assert untouched == len(bad_ids)


WRONG_TYPED_STUDIES: list[tuple[str, dict[str, Any]]] = [
    ("secretKey", {"secretKey": 12345}),
    ("configs", {"configs": "sha256"}),
    ("configs.trackAccount", {"configs": {"trackAccount": "yes", "idMappingMethod": "sha256"}}),
    ("configs.idMappingMethod", {"configs": {"idMappingMethod": 5}}),
    ("has no key", {"key": None}),
]


def test_undecodable_studies_are_reported_and_the_lookup_of_the_other_studies_is_complete(
    cloned_instance: Clone, mongo_client: MongoClient
) -> None:
    reference_prefix, reference_config = cloned_instance()
    run_task(reference_config, "generate_profile_id_lookup", NOW_NS)
    prefix, config = cloned_instance()
    infos = mongo_client[f"{prefix}{INSTANCE}_studyDB"]["study-infos"]
    for index, (_, changes) in enumerate(WRONG_TYPED_STUDIES):
        infos.insert_one({**study_document(f"broken-{index}", "s3cret"), **changes})

    result = run_task(config, "generate_profile_id_lookup", NOW_NS)[0]

    assert result.failed == len(WRONG_TYPED_STUDIES)
    reasons = " | ".join(reason for _, reason in result.failure_reasons)
    for named, _ in WRONG_TYPED_STUDIES:
        assert named in reasons
    id_map = "studyDB.confidential-id-map"
    prefix_state = snapshot(mongo_client, prefix)[f"{INSTANCE}_{id_map}"]
    assert prefix_state == snapshot(mongo_client, reference_prefix)[f"{INSTANCE}_{id_map}"]


@pytest.mark.parametrize(
    ("secret", "method"),
    [("", "sha256"), ("s3cret", "no-such-method")],
    ids=["study-without-secret", "unknown-mapping-method"],
)
def test_a_study_without_secret_or_with_an_unknown_method_maps_ids_exactly_as_the_case_services_do(
    secret: str, method: str, cloned_instance: Clone, mongo_client: MongoClient
) -> None:
    """Not skipped: CASE derives participant IDs from such studies too (empty key; unknown method = AES-CTR),
    so their data lives under exactly these IDs and skipping them would leave it behind on deletion."""
    prefix, config = cloned_instance()
    study_db = mongo_client[f"{prefix}{INSTANCE}_studyDB"]
    study = study_document("odd-study", secret, id_mapping_method=method)
    if not secret:
        del study["secretKey"]
    study_db["study-infos"].insert_one(study)

    result = run_task(config, "generate_profile_id_lookup", NOW_NS)[0]

    assert result.failed == 0
    profiles = [
        str(p["_id"])
        for u in mongo_client[f"{prefix}{INSTANCE}_users"]["users"].find({})
        for p in u["profiles"]
    ]
    identity = StudyIdentity("odd-study", secret, method)
    expected = {compute_participant_ids(identity, pid, GLOBAL_SECRET).confidential_id for pid in profiles}
    stored = {e["confidentialID"] for e in study_db["confidential-id-map"].find({"studyKey": "odd-study"})}
    assert stored == expected


def _b64(source: str) -> str:
    return base64.b64encode(source.encode()).decode()


@pytest.mark.parametrize(
    "template_def",
    [
        "not base64 at all!",
        _b64("<p>{{.token</p>"),
        _b64('<p>{{template "nowhere"}}</p>'),
        _b64("<p>{{.token | nosuchfunction}}</p>"),
    ],
    ids=["bad-base64", "unclosed-action", "undefined-template", "unknown-function"],
)
@pytest.mark.parametrize("task", ["send_reminder_to_confirm_accounts", "clean_up_unverified_users"])
def test_a_broken_email_template_fails_the_task_before_anyone_is_touched(
    task: str, template_def: str, cloned_instance: Clone, mongo_client: MongoClient
) -> None:
    prefix, config = cloned_instance()
    message_type = {"send_reminder_to_confirm_accounts": "registration"}.get(task, "account-deleted")
    templates = mongo_client[f"{prefix}{INSTANCE}_messageDB"]["email-templates"]
    templates.update_one(
        {"messageType": message_type}, {"$set": {"translations.1.templateDef": template_def}}
    )
    before = snapshot(mongo_client, prefix)

    with pytest.raises(TaskFailedError) as failure:
        run_task(config, task, NOW_NS)

    assert "no user was touched" in str(failure.value)
    assert f"{INSTANCE}/{message_type}/de" in str(failure.value)
    assert snapshot(mongo_client, prefix) == before


@pytest.mark.parametrize(
    ("rules", "reported"),
    [
        (json.dumps([{"name": "NO_SUCH_ACTION", "data": [str_arg("x")]}]), True),
        (json.dumps([exp_arg("INIT_REPORT", str_arg("r"))["exp"], {"name": "noSuchExpression"}]), True),
        ("{ not json", True),
        ('[{"name": 5}]', True),
        # Inside IFTHEN the Go engine only logs a child's error and carries on (docs/study-engine.md §4.2); we apply the result
        # the same way but also report the error, so an operator sees the rule set is broken.
        (json.dumps([on_leave(exp_arg("NO_SUCH_ACTION", str_arg("x")))]), True),
    ],
    ids=[
        "unknown-top-level-action",
        "unknown-expression-after-a-valid-one",
        "invalid-json",
        "wrong-name-type",
        "unknown-action-inside-ifthen",
    ],
)
def test_broken_leave_rules_are_reported_and_the_erasure_still_happens(
    rules: str, reported: bool, cloned_instance: Clone, mongo_client: MongoClient
) -> None:
    prefix, config = cloned_instance()
    study_db = mongo_client[f"{prefix}{INSTANCE}_studyDB"]
    study_db["studyRules"].insert_one(
        {"_id": ObjectId(), "studyKey": "influenzanet", "uploadedAt": Int64(NOW_S), "serialisedRules": rules}
    )
    users = mongo_client[f"{prefix}{INSTANCE}_users"]["users"]
    doomed = users.find_one(
        {"account.accountConfirmedAt": 0, "timestamps.createdAt": {"$lt": NOW_S - 168 * HOUR}}
    )
    assert doomed is not None

    result = run_task(config, "clean_up_unverified_users", NOW_NS)[0]

    assert (result.done, result.failed) == (1, 0)
    assert users.find_one({"_id": doomed["_id"]}) is None
    journal = mongo_client[f"{prefix}usermgmt-pipeline"]["journal"].find_one(
        {"_id": f"delete:{INSTANCE}:{doomed['_id']}"}
    )
    assert journal["state"] == "done"
    failures = [f for f in journal.get("ruleFailures", []) if f.startswith("influenzanet:")]
    assert bool(failures) is reported, journal.get("ruleFailures")
    study = study_db["study-infos"].find_one({"key": "influenzanet"})
    identity = StudyIdentity("influenzanet", study["secretKey"], study["configs"].get("idMappingMethod", ""))
    for profile in doomed["profiles"]:
        ids = compute_participant_ids(identity, str(profile["_id"]), GLOBAL_SECRET)
        participant = study_db["influenzanet_participants"].find_one({"participantID": ids.participant_id})
        assert participant["studyStatus"] == "accountDeleted"
        assert (
            study_db["influenzanet_confidentialResponses"].count_documents(
                {"participantID": ids.confidential_id}
            )
            == 0
        )
    # the other study with participants ran its (valid) LEAVE rules as usual
    assert study_db["covid-cohort_reports"].count_documents({"responseID": "LEAVE"}) == len(
        doomed["profiles"]
    )


# (what is broken, how) for the doomed user's data in the first study, `influenzanet`; `covid-cohort` comes later
BROKEN_STUDY_DATA: dict[str, dict[str, Any]] = {
    "participant-flags-not-a-map": {"flags": ["not", "a", "map"]},
    "participant-enteredAt-a-string": {"enteredAt": "2020-01-01"},
    "participant-_id-a-string": {"_id": "participant-one"},
    "study-key-with-a-dollar": {},
}


@pytest.mark.parametrize("broken", list(BROKEN_STUDY_DATA))
def test_one_undecodable_study_does_not_stop_a_deletion_and_a_rerun_leaves_it_finished(
    broken: str, cloned_instance: Clone, mongo_client: MongoClient
) -> None:
    prefix, config = cloned_instance()
    study_db = mongo_client[f"{prefix}{INSTANCE}_studyDB"]
    users = mongo_client[f"{prefix}{INSTANCE}_users"]
    temp_tokens = mongo_client[f"{prefix}global-infos"]["temp-tokens"]
    outgoing = mongo_client[f"{prefix}{INSTANCE}_messageDB"]["outgoing-emails"]
    journal = mongo_client[f"{prefix}usermgmt-pipeline"]["journal"]
    doomed = users["users"].find_one(
        {"account.accountConfirmedAt": 0, "timestamps.createdAt": {"$lt": NOW_S - 168 * HOUR}}
    )
    hex_id = str(doomed["_id"])
    profiles = [str(p["_id"]) for p in doomed["profiles"]]
    infos = {s["key"]: s for s in study_db["study-infos"].find({})}
    ids = {
        (key, pid): compute_participant_ids(
            StudyIdentity(key, s["secretKey"], s["configs"].get("idMappingMethod", "")), pid, GLOBAL_SECRET
        )
        for key, s in infos.items()
        for pid in profiles
    }
    users["renewTokens"].insert_one({"userID": hex_id, "sessionID": "s", "renewToken": "r"})
    temp_tokens.insert_one(
        {"token": "t", "purpose": "password-reset", "userID": hex_id, "instanceID": INSTANCE}
    )
    study_db["confidential-id-map"].insert_many(
        [
            {"confidentialID": i.confidential_id, "profileID": pid, "studyKey": key}
            for (key, pid), i in ids.items()
        ]
    )
    if broken == "study-key-with-a-dollar":
        dollar = study_document("influenza$net", "s3cret")
        study_db["study-infos"].delete_many({})
        study_db["study-infos"].insert_many([dollar, *infos.values()])  # first of all
        study_db["confidential-id-map"].insert_many(
            [{"confidentialID": f"c{pid}", "profileID": pid, "studyKey": "influenza$net"} for pid in profiles]
        )
    else:
        for pid in profiles:
            participants = study_db["influenzanet_participants"]
            query = {"participantID": ids[("influenzanet", pid)].participant_id}
            changes = {k: f"{v}-{pid}" if k == "_id" else v for k, v in BROKEN_STUDY_DATA[broken].items()}
            participants.insert_one({**participants.find_one_and_delete(query), **changes})

    for run in ("run", "rerun"):
        result = run_task(config, "clean_up_unverified_users", NOW_NS)[0]

        assert result.failed == 0, (run, result.failure_reasons)
        assert users["users"].count_documents({"_id": doomed["_id"]}) == 0
        for key in ("influenzanet", "covid-cohort"):
            for pid in profiles:
                participant = study_db[f"{key}_participants"].find_one(
                    {"participantID": ids[(key, pid)].participant_id}, projection={"studyStatus": 1}
                )
                assert participant["studyStatus"] == "accountDeleted", (run, key)
                confidential = {"participantID": ids[(key, pid)].confidential_id}
                assert study_db[f"{key}_confidentialResponses"].count_documents(confidential) == 0, (run, key)
        assert study_db["confidential-id-map"].count_documents({"profileID": {"$in": profiles}}) == 0, run
        assert temp_tokens.count_documents({"userID": hex_id}) == 0, run
        assert users["renewTokens"].count_documents({"userID": hex_id}) == 0, run
        assert [e["messageType"] for e in outgoing.find({"userId": hex_id})] == ["account-deleted"], run
        assert journal.find_one({"_id": f"delete:{INSTANCE}:{hex_id}"})["state"] == "done", run
        reported = result.extra["leave_rule_failure_details"] + result.extra["study_problems"]
        assert any("influenza" in r for r in reported) is (run == "run" or broken.startswith("study")), (
            reported
        )
