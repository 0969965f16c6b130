"""The mass-deletion guard over a whole run: everything the run deletes, summed, before the first deletion.

A run (one Dagster run of one instance partition; the CLI starts one per instance) deletes in up to three
steps, in this order: accounts never confirmed (`clean_up_unverified_users`), accounts whose inactivity grace
period is over (the deletion half of `handle_inactive_users`), and confidential-ID map entries left by deleted
accounts (removed by `generate_profile_id_lookup` before it adds entries). Guarding each step on its own let
two steps of 9% each delete 18% of an instance under a 10% limit.

So each deleting step, before it deletes anything, sums what the run deletes:
- accounts: those this run already deleted (its `guard:account-deleted` audit records, which the retention
  purge at each task's start never removes: it spares the running run's records) plus those still selected by
  this and every later account-deleting step of the run, counted by the server in one `$or` so that a user
  selected twice counts once, as a share of the instance's users at the run's start (now + already deleted);
- orphan map entries, when the run's orphan step is ahead and this is the run's first deleting step or the
  orphan step itself, as a share of the map's entries (they are not accounts, so they get their own share:
  an empty or mistyped users database would make every entry look like an orphan).
Either share above `orchestration.max_deletion_share` trips the guard: `MassDeletionGuardError` before the
step deletes anything, which fails the run, so no later step runs. `allow_mass_deletion` overrides it.

The entries' share applies only above `orchestration.min_guarded_orphan_entries` entries (default 10). A small
legacy instance whose only deletion is one orphan entry was at "1 of 1 entries (100 %)" on every run. Such
entries are no people (their accounts are gone), and a wrongly removed entry is not lost: the confidential ID
is derived from the profile id and the secrets, so the lookup writes it again once the users database is
found. The misconfiguration the share is for (every entry an orphan) still trips on any map larger than the
minimum. Accounts get no such minimum: every one is a person, and on a tiny instance a threshold typo that
deletes all of them is exactly what the guard must stop.

A dry run deletes nothing: its first deleting step computes the same verdict for the whole run and reports it
("would trip" / "would pass", with counts and shares) without failing.
"""

from __future__ import annotations

from dataclasses import dataclass

from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.declaration import DeletingStep
from usermgmt_pipeline.tasks.id_map_scan import scan_id_map
from usermgmt_pipeline.tasks.results import GuardReport, MassDeletionGuardError, TaskResult

AUDIT_ACCOUNT_DELETED = "account-deleted"
"""Audit action recorded when a run deletes a user document (a deletion's commit point): the guard counts
what the run already deleted from it, and the account's history shows when the account was deleted."""

MIN_GUARDED_ORPHAN_ENTRIES = 10
"""The default of `orchestration.min_guarded_orphan_entries` (see the module docstring)."""


def max_deletion_share(ctx: TaskContext) -> float:
    return ctx.config.orchestration.max_deletion_share


def min_guarded_orphan_entries(ctx: TaskContext) -> int:
    return ctx.config.orchestration.min_guarded_orphan_entries


@dataclass
class GuardVerdict:
    step: str
    run_steps: list[str]
    share: float
    dry_run: bool
    overridden: bool
    users_to_delete: int | None = None  # None: no account-deleting step ahead
    users_deleted_so_far: int = 0
    total_users: int = 0
    orphan_entries: int | None = None  # None: not counted at this step
    total_entries: int = 0
    min_entries: int = MIN_GUARDED_ORPHAN_ENTRIES  # the entries' share applies only above this many

    @property
    def users_share(self) -> float:
        return (self.users_to_delete or 0) / self.total_users if self.total_users else 0.0

    @property
    def entries_share(self) -> float:
        return (self.orphan_entries or 0) / self.total_entries if self.total_entries else 0.0

    @property
    def trips(self) -> bool:
        too_many_users = (self.users_to_delete or 0) > self.share * self.total_users
        entries = self.orphan_entries or 0
        too_many_entries = entries > self.min_entries and entries > self.share * self.total_entries
        return too_many_users or too_many_entries

    @property
    def entries_allowed(self) -> int:
        """How many orphan entries a step within the guard may remove (the share, or the minimum if larger)."""
        return max(int(self.share * self.total_entries), self.min_entries)

    @property
    def status(self) -> str:
        if self.dry_run:
            return "would trip" if self.trips else "would pass"
        if self.trips:
            return "tripped, overridden by allow_mass_deletion" if self.overridden else "tripped"
        return "passed"

    def counts(self) -> str:
        parts = []
        if self.users_to_delete is not None:
            so_far = (
                f", {self.users_deleted_so_far} of them already deleted in this run"
                if self.users_deleted_so_far
                else ""
            )
            parts.append(
                f"{self.users_to_delete} of {self.total_users} users ({self.users_share:.1%}){so_far}"
            )
        if self.orphan_entries is not None:
            parts.append(
                f"{self.orphan_entries} of {self.total_entries} confidential-ID map entries of deleted "
                f"accounts ({self.entries_share:.1%})"
            )
        return " and ".join(parts) or "nothing"

    def limit(self) -> str:
        entries = (
            f" (for map entries only above orchestration.min_guarded_orphan_entries={self.min_entries})"
            if self.orphan_entries is not None
            else ""
        )
        return f"orchestration.max_deletion_share={self.share:.0%}{entries}"

    def describe(self) -> str:
        return (
            f"mass-deletion guard at {self.step}: {self.status}: {self.counts()} would be deleted by this run "
            f"({', '.join(self.run_steps)}); limit {self.limit()}"
        )

    def report(self) -> GuardReport:
        users = self.users_to_delete is not None
        entries = self.orphan_entries is not None
        return GuardReport(
            verdict=self.describe(),
            would_trip=self.trips,
            candidates=self.users_to_delete,
            total_users=self.total_users if users else None,
            users_share=round(self.users_share, 6) if users else None,
            orphan_entries=self.orphan_entries,
            total_id_map_entries=self.total_entries if entries else None,
            id_map_share=round(self.entries_share, 6) if entries else None,
        )


def run_steps(ctx: TaskContext, step: DeletingStep) -> list[DeletingStep]:
    """The run's deleting steps in order (`ctx.plan`, from the declarations of the run's tasks); a task called
    on its own is a run of that step."""
    steps = list(ctx.plan.deleting_steps)
    return steps if step in steps else [step]


def guard_run_deletions(ctx: TaskContext, step: DeletingStep, result: TaskResult) -> GuardVerdict | None:
    """Check the run's summed deletions before `step` deletes; raise MassDeletionGuardError if they are too many.

    Returns the verdict (also recorded in `result.guard`), or None in a dry run past its first deleting step
    (the first one already reported the whole run).
    """
    steps = run_steps(ctx, step)
    names = [s.name for s in steps]
    ahead = steps[steps.index(step) :]
    first = steps[0] == step
    if ctx.options.dry_run and not first:
        result.guard = GuardReport(
            f"mass-deletion guard: the run's deletions are summed before its first deleting step ({names[0]})"
        )
        return None
    verdict = GuardVerdict(
        step=step.name,
        run_steps=names,
        share=max_deletion_share(ctx),
        dry_run=ctx.options.dry_run,
        overridden=ctx.options.allow_mass_deletion,
    )
    selections = [s.accounts(ctx) for s in ahead if s.accounts is not None]
    if selections:
        if not first:
            ctx.flush_audit()
            verdict.users_deleted_so_far = ctx.pipeline.count_audit(
                ctx.options.run_id, ctx.instance_id, AUDIT_ACCOUNT_DELETED
            )
        still_selected = ctx.users.count(selections[0] if len(selections) == 1 else {"$or": selections})
        verdict.users_to_delete = verdict.users_deleted_so_far + still_selected
        verdict.total_users = ctx.users.estimated_count() + verdict.users_deleted_so_far
    if any(s.accounts is None for s in ahead) and (first or step.accounts is None):
        verdict.orphan_entries = scan_id_map(ctx, None).orphans
        verdict.total_entries = ctx.studies.id_map_size()
        verdict.min_entries = min_guarded_orphan_entries(ctx)
    result.guard = verdict.report()
    if verdict.trips and not verdict.dry_run and not verdict.overridden:
        done = (
            "nothing was deleted"
            if first
            else f"this step deleted nothing ({verdict.users_deleted_so_far} accounts were deleted earlier in this run)"
        )
        raise MassDeletionGuardError(
            f"{result.task}[{ctx.instance_id}]: mass-deletion guard tripped: {verdict.counts()} would be deleted "
            f"by this run ({', '.join(names)}), more than {verdict.limit()}; "
            f"{done}. Check the thresholds, then rerun with the explicit override (allow_mass_deletion) if this "
            "is intended",
            result,
        )
    ctx.logger.info("%s[%s]: %s", result.task, ctx.instance_id, verdict.describe())
    return verdict
