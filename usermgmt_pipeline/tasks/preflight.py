"""Checks run before a task touches any user of an instance: refuse to start rather than half-work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from usermgmt_pipeline.emails.templates import EmailTemplateError, render_email
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.results import MassDeletionGuardError, TaskFailedError, TaskResult


def require_template(ctx: TaskContext, message_type: str, result: TaskResult) -> Mapping[str, Any]:
    """The global email template must exist (Go silently deleted users without notice when it did not)."""
    template = ctx.messaging.find_global_template(message_type)
    if template is None:
        raise TaskFailedError(
            f"{result.task}[{ctx.instance_id}]: email template {message_type!r} (global, no studyKey) is missing "
            f"in database {ctx.dbs.messaging_db(ctx.instance_id).name}; no user was touched",
            result,
        )
    _require_renderable(ctx, template, result)
    return template


def _require_renderable(ctx: TaskContext, template: Mapping[str, Any], result: TaskResult) -> None:
    """Render every translation once with a stand-in token before anyone is touched.

    A template that cannot render (bad base64, a construct the renderer rejects) would otherwise fail
    each user *after* the token was issued or the account deleted, leaving the notice pending forever.
    """
    translations = template.get("translations")
    languages = {
        str(t.get("languageCode") or "")
        for t in (translations if isinstance(translations, list) else [])
        if isinstance(t, Mapping)
    }
    for language in sorted(languages):
        try:
            render_email(
                template,
                instance_id=ctx.instance_id,
                language=language,
                payload={"token": "preflight-token"},
                constants=ctx.config.messaging_configs.global_email_template_constants,
            )
        except EmailTemplateError as exc:
            raise TaskFailedError(
                f"{result.task}[{ctx.instance_id}]: {exc}; no user was touched", result
            ) from None


def require_global_secret(ctx: TaskContext, result: TaskResult) -> None:
    if not ctx.global_secret:
        raise TaskFailedError(
            f"{result.task}[{ctx.instance_id}]: study_configs.global_secret is empty", result
        )


def guard_mass_deletion(ctx: TaskContext, selection: Mapping[str, Any], result: TaskResult) -> None:
    """Stop before deleting anyone when more than `max_deletion_share` of the instance would go."""
    share = float(getattr(getattr(ctx.config, "orchestration", None), "max_deletion_share", 0.10))
    to_delete = ctx.users.count(selection)
    total = ctx.users.estimated_count()
    result.extra["guard_candidates"] = to_delete
    result.extra["guard_total_users"] = total
    if total == 0 or to_delete <= share * total or ctx.options.allow_mass_deletion:
        return
    raise MassDeletionGuardError(
        f"{result.task}[{ctx.instance_id}]: mass-deletion guard tripped: {to_delete} of {total} users "
        f"({to_delete / total:.1%}) would be deleted, more than orchestration.max_deletion_share={share:.0%}; "
        "nothing was deleted. Check the thresholds, then rerun with the explicit override "
        "(allow_mass_deletion) if this is intended",
        result,
    )
