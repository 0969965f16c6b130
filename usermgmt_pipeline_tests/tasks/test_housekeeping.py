"""Our own collections stay bounded: every task run purges this instance's expired finished journal entries
and audit records (orchestration.journal_retention / audit_retention) and has the resume query's index."""

from __future__ import annotations

from bson import ObjectId

from usermgmt_pipeline.config import GoDuration
from usermgmt_pipeline.tasks.registry import TASKS
from usermgmt_pipeline_tests.tasks.helpers import HOUR, INSTANCE, CaseEnv

JOURNAL_RETENTION = 720 * HOUR
AUDIT_RETENTION = 9600 * HOUR


def _entry(env: CaseEnv, key: str, state: str, age_s: int, instance: str = INSTANCE) -> None:
    env.journal.insert_one(
        {
            "_id": key,
            "task": "send_reminder_to_confirm_accounts",
            "instanceID": instance,
            "userID": str(ObjectId()),
            "state": state,
            "startedAt": env.t0 - age_s,
            "emailDocId": ObjectId(),
            "tokenDocId": ObjectId(),
        }
    )


def _audit(env: CaseEnv, key: str, age_s: int, instance: str = INSTANCE) -> None:
    env.client[f"{env.prefix}usermgmt-pipeline"]["audit"].insert_one(
        {
            "_id": key,
            "instanceID": instance,
            "userID": "u",
            "action": "a",
            "outcome": "done",
            "at": env.t0 - age_s,
        }
    )


def test_a_task_run_purges_expired_finished_entries_and_audit_records_of_its_instance_only(
    env: CaseEnv,
) -> None:
    env.add_templates()
    old, recent = JOURNAL_RETENTION + 60, JOURNAL_RETENTION - 60
    for state in ("done", "selection-changed", "abandoned"):
        _entry(env, f"old-{state}", state, old)
        _entry(env, f"recent-{state}", state, recent)
    for state in ("pending", "email_queued", "selected", "user_deleted", "erased"):
        _entry(env, f"old-unfinished-{state}", state, 10 * JOURNAL_RETENTION)
    _entry(env, "old-other-instance", "done", old, instance="other")
    _audit(env, "audit-old", AUDIT_RETENTION + 60)
    _audit(env, "audit-recent", AUDIT_RETENTION - 60)
    _audit(env, "audit-old-other-instance", AUDIT_RETENTION + 60, instance="other")

    TASKS["send_reminder_to_confirm_accounts"](env.context())

    assert sorted(doc["_id"] for doc in env.journal.find({})) == sorted(
        [
            "recent-done",
            "recent-selection-changed",
            "recent-abandoned",
            "old-unfinished-pending",
            "old-unfinished-email_queued",
            "old-unfinished-selected",
            "old-unfinished-user_deleted",
            "old-unfinished-erased",
            "old-other-instance",
        ]
    )
    audit = env.client[f"{env.prefix}usermgmt-pipeline"]["audit"]
    assert sorted(doc["_id"] for doc in audit.find({})) == ["audit-old-other-instance", "audit-recent"]


def test_configured_retentions_apply(env: CaseEnv) -> None:
    env.add_templates()
    orchestration = env.config.orchestration.model_copy(
        update={
            "journal_retention": GoDuration(2 * HOUR * 10**9),
            "audit_retention": GoDuration(HOUR * 10**9),
        }
    )
    env.config = env.config.model_copy(update={"orchestration": orchestration})
    _entry(env, "three-hours", "done", 3 * HOUR)
    _entry(env, "one-hour", "done", HOUR)
    _audit(env, "audit-two-hours", 2 * HOUR)
    _audit(env, "audit-half-hour", HOUR // 2)

    TASKS["send_reminder_to_confirm_accounts"](env.context())

    assert [doc["_id"] for doc in env.journal.find({})] == ["one-hour"]
    audit = env.client[f"{env.prefix}usermgmt-pipeline"]["audit"]
    assert [doc["_id"] for doc in audit.find({})] == ["audit-half-hour"]


def test_the_journal_has_the_resume_querys_index(env: CaseEnv) -> None:
    env.add_templates()

    TASKS["send_reminder_to_confirm_accounts"](env.context())

    keys = [list(index["key"].items()) for index in env.journal.list_indexes()]
    assert [("task", 1), ("instanceID", 1), ("state", 1)] in keys


def test_a_dry_run_purges_nothing(env: CaseEnv) -> None:
    env.add_templates()
    _entry(env, "old-done", "done", JOURNAL_RETENTION + 60)

    TASKS["send_reminder_to_confirm_accounts"](env.context(dry_run=True))

    assert env.journal.count_documents({}) == 1


def test_the_purge_never_removes_the_running_runs_own_audit_records(env: CaseEnv) -> None:
    """However short the retention (a config built in code is not held to the load-time minimum), the running
    run's records stay: its mass-deletion guard counts what it already deleted from them."""
    env.add_templates()
    orchestration = env.config.orchestration.model_copy(update={"audit_retention": GoDuration(1)})
    env.config = env.config.model_copy(update={"orchestration": orchestration})
    ctx = env.context()
    audit = env.client[f"{env.prefix}usermgmt-pipeline"]["audit"]
    audit.insert_many(
        [
            {"_id": "this-run", "runID": ctx.options.run_id, "instanceID": INSTANCE, "at": env.t0 - HOUR},
            {"_id": "earlier-run", "runID": "earlier", "instanceID": INSTANCE, "at": env.t0 - HOUR},
        ]
    )

    TASKS["send_reminder_to_confirm_accounts"](ctx)

    assert [doc["_id"] for doc in audit.find({"_id": {"$in": ["this-run", "earlier-run"]}})] == ["this-run"]
