"""Removing the confidential-ID map entries that deleted accounts left behind.

Decision (issue 11): such entries are removed, not merely reported. The original job deleted accounts without
removing their map entries whenever a study's rules failed or had no rules document, so long-running
instances carry entries that point at profiles no user holds any more. They are personal data that erasure
should have removed, and while they exist the blocking check `no_entry_points_to_a_missing_profile` failed
on every run, which kept `migrate_account_info` from ever running. Nothing else clears them.

What counts as an orphan, and what is kept:
- an entry is removed only when no user document, decodable or not, holds its profile: the sorted merge
  (`id_map_scan`) finds candidates, and each batch is checked again against the users collection right
  before it is deleted, with a delete that also names the profile;
- entries of an **undecodable** user are kept: the account exists, so the entry is not an orphan; the check
  reports them as a warning naming them, because no run can fix the user's document;
- entries whose `profileID` is not a string are kept and reported in the same way.
Every removal is audited (profile id, study key, entry id; no personal data) and reported in the lookup's
metadata. The removal is a deletion under the mass-deletion rules: the run's guard counts the orphans before
the run's first deletion and again before removing them, as a share of the map's entries; a tripped guard
stops the run, and `allow_mass_deletion` overrides it; the share applies only above
`orchestration.min_guarded_orphan_entries` entries (`deletion_plan`). A dry run counts them and removes nothing.
"""

from __future__ import annotations

from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.declaration import DeletingStep
from usermgmt_pipeline.tasks.deletion_plan import guard_run_deletions
from usermgmt_pipeline.tasks.id_map_scan import Entry, scan_id_map
from usermgmt_pipeline.tasks.results import TaskResult

AUDIT_ACTION = "remove-orphan-id-map-entry"
ORPHAN_ENTRIES = DeletingStep("orphan_id_map_entries")
"""The lookup's deleting step: entries of deleted accounts (no account selection: counted by a map scan)."""


def remove_orphan_entries(ctx: TaskContext, result: TaskResult) -> None:
    """Guard, then remove every orphan entry; counts go to `result.extra` (`orphan_entries`, `..._removed`)."""
    verdict = guard_run_deletions(ctx, ORPHAN_ENTRIES, result)
    found = verdict.orphan_entries if verdict is not None else None
    result.extra["orphan_entries_removed"] = 0
    if ctx.options.dry_run or found == 0:
        if found is None:
            scan = scan_id_map(ctx, None)
            found = scan.orphans
            result.extra["orphan_profile_sample"] = scan.orphan_sample
        result.extra["orphan_entries"] = found
        return
    assert verdict is not None
    # Within the guard, up to its limit may go (new orphans may appear between the count and the removal);
    # overridden, whatever is found.
    budget = None if verdict.trips else verdict.entries_allowed

    def remove(batch: list[Entry]) -> int:
        if budget is not None:
            batch = batch[: max(0, budget - removed[0])]
        if not batch:
            return 0
        ctx.lease.check("removing orphan confidential-ID map entries")
        n = ctx.studies.remove_id_map_entries(
            [entry["_id"] for entry in batch], sorted({entry["profileID"] for entry in batch})
        )
        removed[0] += n
        for entry in batch:
            details = {
                "profileID": entry["profileID"],
                "studyKey": str(entry.get("studyKey")),
                "entryID": str(entry["_id"]),
            }
            ctx.audit(result.task, "", AUDIT_ACTION, "done", details)
        return n

    removed = [0]
    try:
        scan = scan_id_map(ctx, None, on_orphans=remove)
    finally:
        ctx.flush_audit()
    result.extra["orphan_entries"] = scan.orphans
    result.extra["orphan_entries_removed"] = scan.orphans_removed
    result.extra["orphan_profile_sample"] = scan.orphan_sample
    ctx.logger.info(
        "%s[%s]: removed %d confidential-ID map entries of deleted accounts",
        result.task,
        ctx.instance_id,
        scan.orphans_removed,
    )
