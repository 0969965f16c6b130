"""Blocking checks on `generate_profile_id_lookup`: every profile x active study has exactly one entry, no orphans.

Both come from one sorted pass over the map and the users' profiles (`lookup_consistency`), evaluated by one
multi-asset check step. Blocking, so `migrate_account_info` (which relies on the map) does not run after a
lookup that left gaps. An orphan of a deleted account fails the second check with severity ERROR: the lookup
step removes them, so one that remains is new or could not be removed, and the next run clears it. Entries
that no run can fix (those of undecodable users, who still exist, or with no usable `profileID`) fail it with
severity WARN and are named in its metadata: reported on every run, never blocking the instance forever.
A dry run writes nothing, so the checks then report what they find without failing the run.
"""

import warnings
from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    PartitionsDefinition,
    PreviewWarning,
    multi_asset_check,
)

from usermgmt_pipeline.config.task_flags import GENERATE_PROFILE_ID_LOOKUP
from usermgmt_pipeline.orchestration.resources import CaseResource, RunOptionsResource
from usermgmt_pipeline.tasks.generate_profile_id_lookup import lookup_consistency
from usermgmt_pipeline.tasks.id_map_scan import IdMapScan

LOOKUP_ASSET = AssetKey(GENERATE_PROFILE_ID_LOOKUP.name)
ONE_ENTRY_CHECK = "every_profile_has_one_entry_per_active_study"
NO_ORPHANS_CHECK = "no_entry_points_to_a_missing_profile"


def _result(
    name: str,
    passed: bool,
    scan: IdMapScan,
    dry_run: bool,
    description: str,
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR,
    named: dict[str, list[Any]] | None = None,
) -> AssetCheckResult:
    metadata: dict[str, MetadataValue[Any]] = {
        key: MetadataValue.int(value) for key, value in scan.counts().items()
    }
    metadata["dry_run"] = MetadataValue.bool(dry_run)
    for key, items in (named or {}).items():
        if items:
            metadata[key] = MetadataValue.json(items)
    return AssetCheckResult(
        check_name=name,
        asset_key=LOOKUP_ASSET,
        passed=passed or dry_run,
        severity=severity,
        metadata=metadata,
        description=description + (" (dry run: nothing was written, not enforced)" if dry_run else ""),
    )


def evaluate_lookup_checks(scan: IdMapScan, dry_run: bool) -> list[AssetCheckResult]:
    """Both checks' results from one scan."""
    one_entry = _result(
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
    no_orphans = _result(
        NO_ORPHANS_CHECK,
        scan.orphans == 0 and kept == 0,
        scan,
        dry_run,
        description,
        severity=AssetCheckSeverity.ERROR if scan.orphans else AssetCheckSeverity.WARN,
        named={
            "orphan_profile_ids": scan.orphan_sample,
            "undecodable_user_entries_sample": scan.undecodable_user_sample,
            "unattributable_entry_ids": scan.unattributable_sample,
        },
    )
    return [one_entry, no_orphans]


def build_lookup_checks(partitions_def: PartitionsDefinition) -> list[AssetChecksDefinition]:
    with warnings.catch_warnings():
        # Partitioned asset checks are "preview" in Dagster 1.13; we pin Dagster, so the API is fixed for us.
        warnings.simplefilter("ignore", PreviewWarning)
        return _build_lookup_checks(partitions_def)


def _build_lookup_checks(partitions_def: PartitionsDefinition) -> list[AssetChecksDefinition]:
    @multi_asset_check(
        name="generate_profile_id_lookup_checks",
        specs=[
            AssetCheckSpec(name, asset=LOOKUP_ASSET, blocking=True, partitions_def=partitions_def)
            for name in (ONE_ENTRY_CHECK, NO_ORPHANS_CHECK)
        ],
    )
    def generate_profile_id_lookup_checks(
        context: AssetCheckExecutionContext, case: CaseResource, run_options: RunOptionsResource
    ) -> Iterator[AssetCheckResult]:
        options = run_options.options(context.run.run_id)
        ctx = case.task_context(context.partition_key, options, context.log)
        yield from evaluate_lookup_checks(lookup_consistency(ctx), options.dry_run)

    return [generate_profile_id_lookup_checks]
