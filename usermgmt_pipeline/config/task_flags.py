"""The `run_tasks` flags, and what the configuration must hold for each enabled one: the config's share of a
task's declaration.

Why this lives here and not in `tasks.declarations`: the configuration is the lowest layer (it imports no
task, no database code), yet it must reject an unknown `run_tasks` key, a zero threshold of an enabled task
and an empty global secret that an enabled task needs, before any database is touched. So each task's
config-facing facts are a `TaskFlag`, a plain value without dependencies; `tasks.declarations` holds one per
task (`TaskDeclaration.flag`) and checks at import that its tuple names exactly `TASK_FLAGS`, in order. The
models and rules are built from a tuple of flags (`models.app_config_model`), so a test can load a config
for a set of tasks of its own without touching a module global.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Threshold:
    """A `user_management_config` duration an enabled task needs above zero, and what zero would do."""

    key: str
    why: str


@dataclass(frozen=True)
class TaskFlag:
    """One `run_tasks` key (the Go job's name; the task's asset and function carry it too)."""

    name: str
    thresholds: tuple[Threshold, ...] = ()
    needs_global_secret: bool = False
    """Participant IDs are derived from `study_configs.global_secret` (deleting users runs the study engine)."""


CLEAN_UP_UNVERIFIED_USERS = TaskFlag(
    "clean_up_unverified_users",
    (Threshold("delete_unverified_users_after", "zero would delete every unconfirmed account at once"),),
    needs_global_secret=True,
)
SEND_REMINDER_TO_CONFIRM_ACCOUNTS = TaskFlag(
    "send_reminder_to_confirm_accounts",
    (
        Threshold(
            "send_reminder_to_confirm_account_after", "zero would remind users the moment they sign up"
        ),
        Threshold(
            "email_contact_verification_token_ttl", "zero would send verification links that already expired"
        ),
    ),
)
HANDLE_INACTIVE_USERS = TaskFlag(
    "handle_inactive_users",
    (
        Threshold("notify_after_inactive_for", "zero would treat every user as inactive"),
        Threshold(
            "mark_for_deletion_after_inactivity_notification",
            "zero would delete users right after warning them",
        ),
    ),
    needs_global_secret=True,
)
GENERATE_PROFILE_ID_LOOKUP = TaskFlag("generate_profile_id_lookup", needs_global_secret=True)
MIGRATE_ACCOUNT_INFO = TaskFlag("migrate_account_info", needs_global_secret=True)

TASK_FLAGS: tuple[TaskFlag, ...] = (
    CLEAN_UP_UNVERIFIED_USERS,
    SEND_REMINDER_TO_CONFIRM_ACCOUNTS,
    HANDLE_INACTIVE_USERS,
    GENERATE_PROFILE_ID_LOOKUP,
    MIGRATE_ACCOUNT_INFO,
)
"""The Go job's tasks in its execution order (docs/tasks.md §0.4)."""
