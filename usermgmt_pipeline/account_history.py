"""What happened to one account: every recorded action from our audit log, oldest first.

Answers a participant's or a data-protection officer's question ("what did you do with my account, and
when?") after the account is gone: the audit records live in our own database and hold ids, keys and
counts only, never an email address. Kept free of Dagster so the CLI (and anything else) can use it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from usermgmt_pipeline.case.pipeline_store import PipelineStore


@dataclass(frozen=True)
class HistoryEntry:
    at: int
    time: str
    run_id: str
    task: str
    action: str
    outcome: str
    emails_queued: list[dict[str, str]] = field(default_factory=list)
    studies_erased: list[str] = field(default_factory=list)
    leave_rules: dict[str, Any] | None = None
    reason: str = ""


def _entry(record: Mapping[str, Any]) -> HistoryEntry:
    details = record.get("details") or {}
    action = str(record.get("action") or "")
    leave_rules = None
    if action.startswith("leave-rules:"):
        leave_rules = {"study": action.split(":", 1)[1], "result": str(record.get("outcome") or "")}
        leave_rules.update({k: v for k, v in details.items() if k in ("reports", "error")})
    at = int(record.get("at") or 0)
    return HistoryEntry(
        at=at,
        time=datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        run_id=str(record.get("runID") or ""),
        task=str(record.get("task") or ""),
        action=action,
        outcome=str(record.get("outcome") or ""),
        emails_queued=[dict(e) for e in details.get("emailsQueued") or []],
        studies_erased=[str(s) for s in details.get("studiesErased") or []],
        leave_rules=leave_rules,
        reason=str(details.get("reason") or ""),
    )


def account_history(store: PipelineStore, instance_id: str, user_id: str) -> list[HistoryEntry]:
    return [_entry(record) for record in store.audit_for_user(instance_id, user_id)]


def histories_by_account_hash(
    store: PipelineStore, instance_id: str, hashed: str
) -> dict[str, list[HistoryEntry]]:
    """The history of every user id audited under a keyed account hash (see `account_hash`)."""
    return {
        user_id: account_history(store, instance_id, user_id)
        for user_id in store.user_ids_for_account_hash(instance_id, hashed)
    }


def as_json(instance_id: str, user_id: str, entries: Sequence[HistoryEntry]) -> str:
    return json.dumps(
        {"instanceID": instance_id, "userID": user_id, "entries": [asdict(e) for e in entries]}, indent=2
    )


def as_text(instance_id: str, user_id: str, entries: Sequence[HistoryEntry]) -> str:
    if not entries:
        return f"no recorded action on user {user_id} in instance {instance_id}\n"
    lines = [f"history of user {user_id} in instance {instance_id} (oldest first):"]
    for e in entries:
        lines.append(f"{e.time}  {e.task}  {e.action}: {e.outcome}  [run {e.run_id}]")
        for email in e.emails_queued:
            lines.append(f"    email queued: {email.get('messageType')} (id {email.get('emailID')})")
        if e.studies_erased:
            lines.append(f"    studies erased: {', '.join(e.studies_erased)}")
        if e.leave_rules is not None:
            extra = e.leave_rules.get("error") or (
                f"{e.leave_rules['reports']} report(s)" if "reports" in e.leave_rules else ""
            )
            lines.append(
                f"    LEAVE rules of {e.leave_rules['study']}: {e.leave_rules['result']}"
                + (f" ({extra})" if extra else "")
            )
        if e.reason:
            lines.append(f"    reason: {e.reason}")
    return "\n".join(lines) + "\n"
