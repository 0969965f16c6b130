"""Operator alerts (run failed, mass-deletion guard tripped, users failed), sent through the SMTP bridge.

Shared by the run-status sensors (daemon) and the CLI (in-process), so both say the same thing. The text
carries ids, counts and error messages only: the domain core never puts personal data in them.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

from usermgmt_pipeline.smtp_bridge import BridgeEmail


def failure_email(
    recipients: Sequence[str],
    *,
    job_name: str,
    instance_id: str,
    run_id: str,
    errors: Sequence[str],
    mass_deletion_guard: bool,
) -> BridgeEmail:
    what = "mass-deletion guard tripped" if mass_deletion_guard else "run failed"
    subject = f"[user-management] {what}: instance {instance_id or '(none)'}"
    items = (
        "".join(f"<li><pre>{html.escape(error)}</pre></li>" for error in errors)
        or "<li>no error message</li>"
    )
    guard_note = (
        "<p>Nothing was deleted. Check the thresholds; if the deletions are intended, rerun the partition "
        "with <code>allow_mass_deletion: true</code> (CLI: <code>--allow-mass-deletion</code>).</p>"
        if mass_deletion_guard
        else ""
    )
    content = (
        f"<p>The user-management {html.escape(job_name)} run <code>{html.escape(run_id)}</code> for instance "
        f"<b>{html.escape(instance_id)}</b> failed.</p><ul>{items}</ul>{guard_note}"
    )
    return BridgeEmail(to=list(recipients), subject=subject, content=content, high_prio=True)


def failed_users_email(
    recipients: Sequence[str],
    *,
    job_name: str,
    instance_id: str,
    run_id: str,
    failures: Sequence[Mapping[str, str]],
    total: int,
) -> BridgeEmail:
    """The run finished, but some users failed: a subject of its own, so it is not mistaken for a failed run."""
    subject = f"[user-management] {total} user(s) failed: instance {instance_id or '(none)'}"
    items = "".join(
        f"<li>{html.escape(f.get('task', ''))}: user <code>{html.escape(f.get('id', ''))}</code>: "
        f"<pre>{html.escape(f.get('reason', ''))}</pre></li>"
        for f in failures
    )
    more = f"<p>… and {total - len(failures)} more (see the run).</p>" if total > len(failures) else ""
    content = (
        f"<p>The user-management {html.escape(job_name)} run <code>{html.escape(run_id)}</code> for instance "
        f"<b>{html.escape(instance_id)}</b> finished, but {total} user(s) failed. They are retried on the "
        f"next run; the <code>no_failed_users</code> checks list them.</p><ul>{items}</ul>{more}"
    )
    return BridgeEmail(to=list(recipients), subject=subject, content=content, high_prio=True)
