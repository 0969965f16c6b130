"""The lookup's two checks: every profile x active study has exactly one entry, and no entry is an orphan.

Judged here, from one sorted pass over the map and the users' profiles (`lookup_consistency`), so that the
Dagster layer (blocking asset checks, `orchestration.checks`) and the CLI's run without Dagster
(`tasks.instance_run`) give the same verdicts. An orphan of a deleted account fails the second check with
severity ERROR: the lookup step removes them, so one that remains is new or could not be removed, and the
next run clears it. Entries that no run can fix (those of undecodable users, who still exist, or with no
usable `profileID`) fail it with severity WARN and are named: reported on every run, never blocking the
instance forever. A dry run writes nothing, so the checks then report what they find and pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from usermgmt_pipeline.tasks.id_map_scan import IdMapScan

ONE_ENTRY_CHECK = "every_profile_has_one_entry_per_active_study"
NO_ORPHANS_CHECK = "no_entry_points_to_a_missing_profile"
LOOKUP_CHECKS = (ONE_ENTRY_CHECK, NO_ORPHANS_CHECK)

Severity = Literal["ERROR", "WARN"]
"""ERROR: a failed check stops the instance's later tasks (the migration relies on the map). WARN: reported."""


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    passed: bool
    description: str
    severity: Severity = "ERROR"
    counts: dict[str, int] = field(default_factory=dict)
    named: dict[str, list[Any]] = field(default_factory=dict)
    """Samples of what failed, by kind (profile ids, entry ids); only the non-empty ones."""
    dry_run: bool = False

    @property
    def blocks(self) -> bool:
        return not self.passed and self.severity == "ERROR"


def _outcome(
    name: str,
    passed: bool,
    scan: IdMapScan,
    dry_run: bool,
    description: str,
    severity: Severity = "ERROR",
    named: dict[str, list[Any]] | None = None,
) -> CheckOutcome:
    return CheckOutcome(
        name=name,
        passed=passed or dry_run,
        description=description + (" (dry run: nothing was written, not enforced)" if dry_run else ""),
        severity=severity,
        counts=scan.counts(),
        named={key: items for key, items in (named or {}).items() if items},
        dry_run=dry_run,
    )


def evaluate_lookup_checks(scan: IdMapScan, dry_run: bool) -> list[CheckOutcome]:
    """Both checks' outcomes from one scan."""
    one_entry = _outcome(
        ONE_ENTRY_CHECK,
        scan.missing == 0 and scan.duplicated == 0,
        scan,
        dry_run,
        f"{scan.missing} missing, {scan.duplicated} duplicated entries",
    )
    kept = scan.undecodable_user_entries + scan.unattributable_entries
    description = f"{scan.orphans} orphan entries"
    if kept:
        description += (
            f"; kept and not fixable by a run: {scan.undecodable_user_entries} entries of undecodable users, "
            f"{scan.unattributable_entries} entries without a string profileID (named in the metadata)"
        )
    no_orphans = _outcome(
        NO_ORPHANS_CHECK,
        scan.orphans == 0 and kept == 0,
        scan,
        dry_run,
        description,
        severity="ERROR" if scan.orphans else "WARN",
        named={
            "orphan_profile_ids": scan.orphan_sample,
            "undecodable_user_entries_sample": scan.undecodable_user_sample,
            "unattributable_entry_ids": scan.unattributable_sample,
        },
    )
    return [one_entry, no_orphans]
