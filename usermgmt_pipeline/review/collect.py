"""Collecting the review in a task's dry-run walk: one row per user the real run would act on.

The rows say why each user was selected (the configured threshold, the cutoff it gives and the user's own
timestamps), what would happen (delete or which notice), which email in which language would be queued
(rendered once per message type and language, exactly as queued, with a placeholder token) and, for a
deletion, in which studies the user's profiles take part, i.e. where LEAVE rules would run.

A user whom an earlier task of the same run deletes is not listed again by a later task (the real run
would not see them any more), so the bundle lists exactly what the run then does.

The review only collects and writes: it imports nothing from `tasks/`. What it reads of a task's context is
the `ReviewSource` protocol (a `tasks.context.TaskContext` is one); what only the tasks know, they pass in:
the plan (with the email as the task declares it), which tasks of the run come earlier, and the instance's
studies (for the LEAVE-rule column).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any, Protocol

from usermgmt_pipeline.case.id_mapping import compute_participant_ids
from usermgmt_pipeline.case.journal import JournalEntry
from usermgmt_pipeline.case.messaging import MessagingCollections
from usermgmt_pipeline.case.studies import Study, StudyCollections
from usermgmt_pipeline.case.users import User
from usermgmt_pipeline.config import AppConfig
from usermgmt_pipeline.emails.task_email import TaskEmail
from usermgmt_pipeline.emails.templates import choose_translation, render_email
from usermgmt_pipeline.review.bundle import TIMESTAMP_COLUMNS, ReviewBundle, ReviewDirError, open_bundle

PLACEHOLDER_TOKEN = "TOKEN-PLACEHOLDER"
Scalar = int | float | str | bool


class ReviewOptions(Protocol):
    @property
    def run_id(self) -> str: ...
    @property
    def report(self) -> bool: ...
    @property
    def report_dir(self) -> str: ...


class ReviewSource(Protocol):
    """What the review reads of a task's context (`tasks.context.TaskContext` is one)."""

    @property
    def instance_id(self) -> str: ...
    @property
    def options(self) -> ReviewOptions: ...
    @property
    def config(self) -> AppConfig: ...
    @property
    def messaging(self) -> MessagingCollections: ...
    @property
    def studies(self) -> StudyCollections: ...
    @property
    def global_secret(self) -> str: ...


@dataclass(frozen=True)
class ReviewPlan:
    """What a task does to each user it selects, and why it selects them (for the review's rows)."""

    action: str  # "delete" or "notify"
    email: TaskEmail  # as the task declares it: the message type, and whether it carries a token
    threshold: str  # e.g. "delete_unverified_users_after=168h0m0s"
    cutoff: int  # Unix seconds the timestamps are compared with
    fields: tuple[str, ...]  # User attributes the selection compares with the cutoff

    @property
    def message_type(self) -> str:
        return self.email.message_type


@dataclass
class ReviewReport:
    """A dry run's review bundle: how many users this task listed, and where."""

    listed: int
    not_listed_deleted_earlier: int
    bundle: PurePath

    def entries(self) -> dict[str, Scalar | PurePath]:
        return {
            "review_listed": self.listed,
            "review_not_listed_deleted_earlier": self.not_listed_deleted_earlier,
            "review_bundle": self.bundle,
        }


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if seconds else ""


def bundle_for(ctx: ReviewSource) -> ReviewBundle | None:
    """The run's bundle, when a review was asked for (CLI `--report DIR`, Dagster `report: true`)."""
    options = ctx.options
    if options.report_dir:
        return open_bundle(options.report_dir)
    if not options.report:
        return None
    base = ctx.config.orchestration.report_dir
    if not base:
        raise ReviewDirError("report: true needs orchestration.report_dir (the folder for review bundles)")
    root = Path(base)
    try:
        root.mkdir(
            mode=0o700, exist_ok=True
        )  # the operator's folder; each bundle in it is checked as private
    except OSError as exc:
        raise ReviewDirError(f"orchestration.report_dir {root} cannot be created: {exc.strerror}") from None
    return open_bundle(root / options.run_id)


class TaskReview:
    def __init__(
        self,
        ctx: ReviewSource,
        task: str,
        plan: ReviewPlan,
        bundle: ReviewBundle,
        earlier: frozenset[str],
        studies: Callable[[], Sequence[Study]],
    ) -> None:
        self.ctx, self.task, self.plan, self.bundle = ctx, task, plan, bundle
        self.load_studies = studies
        self.excluded_ids = {
            r["user_id"]
            for r in bundle.rows(ctx.instance_id)
            if r.get("task") in earlier and r.get("planned_action") == "delete"
        }
        self.excluded = 0
        self.rows: list[dict[str, Any]] = []
        self.emails: dict[str, tuple[str, str]] = {}  # language -> (email file, error)
        self.template = ctx.messaging.find_global_template(plan.message_type)
        self.studies: Sequence[Study] | None = None

    def add(self, user: User) -> None:
        if user.id in self.excluded_ids:
            self.excluded += 1
            return
        plan = self.plan
        because = "; ".join(f"{f}={iso(getattr(user, f)) or 'never'}" for f in plan.fields)
        self._add_row(
            user.id,
            user.account_id,
            plan.action,
            plan.threshold,
            f"{because} < {iso(plan.cutoff)}",
            {column: iso(getattr(user, column)) for column in TIMESTAMP_COLUMNS},
            plan.message_type,
            user.preferred_language,
            self._leave_studies(user) if plan.action == "delete" else [],
        )

    def add_resumed(self, entry: JournalEntry) -> None:
        """A deletion an interrupted run left past its commit point (a `JournalEntry`): the real run
        finishes it first."""
        state = str(entry.state)
        emails = state in ("selected", "user_deleted", "erased")
        self._add_row(
            entry.user_id,
            entry.account_id,
            "resume-delete",
            "",
            f"deletion interrupted at journal state {state!r}: the account is already deleted; the real run "
            "finishes its studies, tokens and email",
            dict.fromkeys(TIMESTAMP_COLUMNS, ""),
            (entry.message_type or self.plan.message_type) if emails else "",
            entry.language,
            self._studies_of(entry.profile_ids)
            if state in ("selected", "user_deleted", "studies_pending")
            else [],
        )

    def _add_row(
        self,
        user_id: str,
        account_id: str,
        planned_action: str,
        threshold: str,
        selected_because: str,
        timestamps: Mapping[str, str],
        message_type: str,
        language: str,
        leave_rule_studies: list[str],
    ) -> None:
        """One row of the bundle (its columns in `page.USER_COLUMNS`' order); the email rendered if any."""
        email_file, email_error, email_language = self._email(language) if message_type else ("", "", "")
        self.rows.append(
            {
                "instance_id": self.ctx.instance_id,
                "task": self.task,
                "user_id": user_id,
                "account_id": account_id,
                "planned_action": planned_action,
                "threshold": threshold,
                "selected_because": selected_because,
                **timestamps,
                "message_type": message_type,
                "language": language,
                "email_language": email_language,
                "email_file": email_file,
                "email_error": email_error,
                "leave_rule_studies": leave_rule_studies,
            }
        )

    def _email(self, language: str) -> tuple[str, str, str]:
        if self.template is None:
            return "", f"email template {self.plan.message_type!r} is missing: the real run fails", ""
        chosen = choose_translation(self.template, language).language_code
        if language not in self.emails:
            try:
                email = render_email(
                    self.template,
                    instance_id=self.ctx.instance_id,
                    language=language,
                    payload=self.plan.email.payload(PLACEHOLDER_TOKEN),
                    constants=self.ctx.config.messaging_configs.global_email_template_constants,
                )
                meta = {
                    "messageType": self.plan.message_type,
                    "language": language,
                    "translation": chosen,
                    "subject": email.subject,
                    "headerOverrides": dict(email.header_overrides or {}),
                    "placeholderToken": PLACEHOLDER_TOKEN if self.plan.email.with_token else None,
                }
                path = self.bundle.write_email(
                    self.ctx.instance_id, self.plan.message_type, language, email.content, meta
                )
                self.emails[language] = (path, "")
            except Exception as exc:
                self.emails[language] = ("", f"{type(exc).__name__}: {exc}")
        path, error = self.emails[language]
        return path, error, chosen

    def _leave_studies(self, user: User) -> list[str]:
        return self._studies_of([profile.id for profile in user.profiles])

    def _studies_of(self, profile_ids: list[str]) -> list[str]:
        if self.studies is None:
            self.studies = self.load_studies()
        keys: list[str] = []
        for profile_id in profile_ids:
            for study in self.studies:
                ids = compute_participant_ids(study.identity, profile_id, self.ctx.global_secret)
                if self.ctx.studies.participant(study.key, ids.participant_id) is not None:
                    keys.append(study.key)
        return sorted(keys)

    def finish(self) -> ReviewReport:
        """Write this task's rows; what was listed (the task's result carries it)."""
        self.bundle.write_rows(self.ctx.instance_id, self.task, self.rows)
        return ReviewReport(len(self.rows), self.excluded, self.bundle.root)


def review_users(
    ctx: ReviewSource,
    task: str,
    plan: ReviewPlan,
    *,
    earlier: frozenset[str] = frozenset(),
    studies: Callable[[], Sequence[Study]] = tuple,
) -> TaskReview | None:
    """A collector for this task's dry-run walk, or None when no review was asked for.

    `earlier`: the tasks of the run before this one (users they delete are not listed again); `studies`:
    the instance's studies, loaded on first need (a deletion's LEAVE-rule column)."""
    bundle = bundle_for(ctx)
    return None if bundle is None else TaskReview(ctx, task, plan, bundle, earlier, studies)


def record_summaries(ctx: ReviewSource, summaries: Sequence[Mapping[str, Scalar]]) -> None:
    """After a task: its summaries (each with `instance_id` and `task`) into the bundle, then the shared
    files rebuilt. No-op without a review."""
    bundle = bundle_for(ctx)
    if bundle is None:
        return
    for summary in summaries:
        instance_id, task = str(summary["instance_id"]), str(summary["task"])
        bundle.write_summary(instance_id, task, {**summary, "run_id": ctx.options.run_id})
    bundle.rebuild()
