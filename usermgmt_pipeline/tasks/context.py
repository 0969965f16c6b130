"""Everything a task needs for one instance, built from the config and the four database clients."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

from bson import ObjectId
from pymongo.errors import PyMongoError

from usermgmt_pipeline.account_hash import account_hash
from usermgmt_pipeline.case.connections import CaseDatabases
from usermgmt_pipeline.case.journal import AccountSealer
from usermgmt_pipeline.case.messaging import MessagingCollections
from usermgmt_pipeline.case.pipeline_store import PipelineStore
from usermgmt_pipeline.case.studies import StudyCollections
from usermgmt_pipeline.case.temp_tokens import TempTokens
from usermgmt_pipeline.case.users import UsersCollections
from usermgmt_pipeline.config import AppConfig
from usermgmt_pipeline.tasks.checkpoints import PROCESS_HOOKS, StepHooks
from usermgmt_pipeline.tasks.declaration import RunPlan
from usermgmt_pipeline.tasks.fencing import Lease
from usermgmt_pipeline.tasks.stopping import PROCESS_STOP, StopToken

T = TypeVar("T")

log = logging.getLogger("usermgmt_pipeline.tasks")

_EMAIL_ADDRESS = re.compile(r"[^\s@<>\"'(),;:]+@[^\s@<>\"'(),;:]+")


AUDIT_BUFFER_LIMIT = 5000
"""Audit records held before they are written anyway; the batched tasks also write them after every batch,
so a batch's records (a few per user) go in one `insert_many`."""


def ids_only(text: str, limit: int = 500) -> str:
    """Text for an audit record: email addresses (e.g. echoed in a driver error) replaced, length bounded."""
    return _EMAIL_ADDRESS.sub("<address>", text)[:limit]


@dataclass
class RunOptions:
    """Per-run switches an operator sets (CLI flags, Dagster run config)."""

    dry_run: bool = False
    allow_mass_deletion: bool = False
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    report: bool = False  # dry run: write a review bundle under orchestration.report_dir/<run id>
    report_dir: str = ""  # dry run: write the review bundle into this folder (CLI --report DIR)
    run_tasks: tuple[str, ...] = ()
    """The `run_tasks` flags this run executes, in order (the mass-deletion guard sums their deletions);
    empty: only the task being called (a task run on its own)."""


@dataclass
class TaskContext:
    """One instance's task run: the config, the databases, the run's options, and what steers the run from
    outside, as httpx passes `event_hooks` to its client: the step hooks (crash tests), the stop token
    (signals) and the instance lease (fencing)."""

    config: AppConfig
    dbs: CaseDatabases
    instance_id: str
    options: RunOptions = field(default_factory=RunOptions)
    now_ns: Callable[[], int] = time.time_ns
    logger: logging.Logger = log
    leave_rules: Any = None  # usermgmt_pipeline.tasks.study_leave.LeaveRulesRunner, built lazily
    lease: Lease = field(default_factory=Lease.unheld)
    """The instance lease this run holds (set by `instance_lock`): checked before every irreversible step."""
    hooks: StepHooks = field(default_factory=lambda: PROCESS_HOOKS)
    stop: StopToken = field(default_factory=lambda: PROCESS_STOP)
    plan: RunPlan = field(default_factory=RunPlan)
    """The run this task is part of (set by the task's runner from the declarations, `registry`)."""
    _audit_buffer: list[dict[str, Any]] = field(default_factory=list)
    _audit_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def now_s(self) -> int:
        return self.now_ns() // 1_000_000_000

    def before(self, duration_ns: int) -> int:
        """Go's `(now - d).Unix()`: subtract at ns precision, then floor to whole seconds."""
        return (self.now_ns() - duration_ns) // 1_000_000_000

    def after(self, duration_ns: int) -> int:
        return (self.now_ns() + duration_ns) // 1_000_000_000

    @property
    def users(self) -> UsersCollections:
        return UsersCollections(
            self.dbs.users_db(self.instance_id),
            self.dbs.timeout_s("participant_user_db"),
            no_cursor_timeout=self.dbs.no_cursor_timeout("participant_user_db"),
        )

    @property
    def temp_tokens(self) -> TempTokens:
        return TempTokens(self.dbs.global_infos_db(), self.dbs.timeout_s("global_infos_db"))

    @property
    def messaging(self) -> MessagingCollections:
        return MessagingCollections(
            self.dbs.messaging_db(self.instance_id), self.dbs.timeout_s("messaging_db")
        )

    @property
    def studies(self) -> StudyCollections:
        return StudyCollections(self.dbs.study_db(self.instance_id), self.dbs.timeout_s("study_db"))

    @property
    def pipeline(self) -> PipelineStore:
        """Our journal and audit, fenced by the lease this run holds now (hence built per use)."""
        return PipelineStore(
            self.dbs.pipeline_db(), self.dbs.timeout_s("global_infos_db"), self.lease.generation, self._sealer
        )

    @cached_property
    def _sealer(self) -> AccountSealer | None:
        """Derived once per context: its key derivation would otherwise run on every journal access."""
        secret = self.config.study_configs.global_secret.get_secret_value()
        return AccountSealer(secret) if secret else None

    def write_parts(self, step: str, items: Sequence[T]) -> Iterator[Sequence[T]]:
        """The parts of the irreversible bulk write that ends at checkpoint `step` (see `in_parts`), each
        written only while the instance is still ours: the lease is asked right before each part."""
        for part in self.hooks.parts(step, items):
            self.lease.check(step)
            yield part

    @property
    def global_secret(self) -> str:
        secret: str = self.config.study_configs.global_secret.get_secret_value()
        return secret

    @property
    def account_hash_key(self) -> str:
        return self.config.orchestration.account_hash_key.get_secret_value()

    @property
    def batch_size(self) -> int:
        """Users per bulk database call of the batched tasks (`orchestration.batch_size`)."""
        return self.config.orchestration.batch_size

    def audit(
        self,
        task: str,
        user_id: str,
        action: str,
        outcome: str,
        details: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        at: int | None = None,
        account_id: str = "",
    ) -> None:
        """Buffer one audit record (ids only); flushed in batches by `flush_audit`. Thread-safe.

        `details` (optional) says what the action did, for the account history: message type and email id
        queued, study keys erased, LEAVE-rule results, the failure reason. Ids, keys and counts only.

        `key` names the record of a journaled step once per attempt (the journal key, the attempt's start
        and the step): whichever run writes it, a run that was taken over or the one that took over, the
        record exists once. Records without a key are facts of this run alone (e.g. a failed retry).
        `account_id` (the address) is never stored: with `orchestration.account_hash_key` set, its keyed hash
        is (`accountHash`), so `history --email` finds the account after it is gone.
        """
        record: dict[str, Any] = {
            "_id": key if key is not None else ObjectId(),
            "runID": self.options.run_id,
            "instanceID": self.instance_id,
            "task": task,
            "userID": user_id,
            "action": action,
            "outcome": outcome,
            "at": int(time.time()) if at is None else at,
            # orders the records of one second as they happened (keyed records' ids do not)
            "atNs": time.time_ns() if at is None else at * 1_000_000_000,
        }
        if details:
            record["details"] = details
        hashed = account_hash(self.account_hash_key, account_id) if account_id else ""
        if hashed:
            record["accountHash"] = hashed
        with self._audit_lock:
            self._audit_buffer.append(record)
            full = len(self._audit_buffer) >= AUDIT_BUFFER_LIMIT
        if full:
            self.flush_audit()

    def flush_audit(self) -> None:
        with self._audit_lock:
            records, self._audit_buffer = self._audit_buffer, []
        if self.options.dry_run or not records:
            return
        try:
            self.pipeline.record_audit(records)
        except (PyMongoError, RuntimeError) as exc:
            # Called from `finally` blocks: raising here would replace the task's own error (and its counts)
            # with this one. Keep the records for a later flush and say loudly that they are not saved yet.
            with self._audit_lock:
                self._audit_buffer[:0] = records
            self.logger.error(
                "audit[%s]: %d audit records could not be saved: %s: %s",
                self.instance_id,
                len(records),
                type(exc).__name__,
                exc,
            )


class ProgressLogger:
    """Logs progress every N users with the processing rate, so long runs are visibly alive."""

    def __init__(self, ctx: TaskContext, task: str) -> None:
        self.ctx = ctx
        self.task = task
        self.every = ctx.config.orchestration.progress_log_every
        self.started = time.monotonic()
        self.count = 0

    def tick(self) -> None:
        self.count += 1
        if self.count % self.every == 0:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            self.ctx.logger.info(
                "%s[%s]: %d users processed (%.1f users/s)",
                self.task,
                self.ctx.instance_id,
                self.count,
                self.count / elapsed,
            )
