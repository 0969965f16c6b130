"""Checks run before a task touches any user of an instance: refuse to start rather than half-work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from usermgmt_pipeline.case.journal import UNFINISHED_DELETION
from usermgmt_pipeline.case.temp_tokens import new_token
from usermgmt_pipeline.emails.task_email import TaskEmail
from usermgmt_pipeline.emails.template_check import check_template
from usermgmt_pipeline.emails.templates import EmailTemplateError
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.results import TaskFailedError, TaskResult


def require_template(ctx: TaskContext, email: TaskEmail, result: TaskResult) -> Mapping[str, Any]:
    """The global email template must exist and render for every user the task can reach.

    Go silently deleted users without notice when it did not; see `_require_renderable` for the check.
    """
    message_type = email.message_type
    template = ctx.messaging.find_global_template(message_type)
    if template is None:
        raise TaskFailedError(
            f"{result.task}[{ctx.instance_id}]: email template {message_type!r} (global, no studyKey) is missing "
            f"in database {ctx.dbs.messaging_db(ctx.instance_id).name}; no user was touched",
            result,
        )
    _require_renderable(ctx, template, email, result)
    return template


def _require_renderable(
    ctx: TaskContext, template: Mapping[str, Any], email: TaskEmail, result: TaskResult
) -> None:
    """Decode the template as Go does and render every reachable translation under every language that
    selects it, with the task's data map, before anyone is touched (`emails.template_check` says how the
    open set of languages falling back to `defaultLanguage` is covered).

    A template that cannot render (a shape or `headerOverrides` type Go cannot decode, bad base64, a missing
    default translation, a construct refused in some branch, a render that grows without bound) would
    otherwise fail each user *after* the token was issued or the account deleted, leaving the notice
    pending forever. The stand-in token is a real one (same length and alphabet), never stored.
    """
    payload = email.payload(new_token())  # the data map the task gives QueueEmailByTemplate
    try:
        check_template(
            template,
            instance_id=ctx.instance_id,
            payload=payload,
            constants=ctx.config.messaging_configs.global_email_template_constants,
            instance_languages=lambda: _languages_in_use(ctx, result.task),
        )
    except EmailTemplateError as exc:
        raise TaskFailedError(
            f"{result.task}[{ctx.instance_id}]: {exc}; no user was touched", result
        ) from None


def _languages_in_use(ctx: TaskContext, task: str) -> set[str]:
    """The users' languages, and those snapshotted by deletions in progress (their users are gone)."""
    journaled = {
        entry.language for entry in ctx.pipeline.unfinished(task, ctx.instance_id, UNFINISHED_DELETION)
    }
    return ctx.users.preferred_languages() | journaled


def require_global_secret(ctx: TaskContext, result: TaskResult) -> None:
    if not ctx.global_secret:
        raise TaskFailedError(
            f"{result.task}[{ctx.instance_id}]: study_configs.global_secret is empty", result
        )
