"""Blocking checks on `profile_id_lookup`: every profile x active study has exactly one entry, no orphans.

Blocking, so `migrate_account_info` (which relies on the map) does not run after a lookup that left gaps.
A dry run writes nothing, so the checks then report what they find without failing the run.
"""

import warnings
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    PartitionsDefinition,
    PreviewWarning,
    asset_check,
)

from usermgmt_pipeline.orchestration.resources import CaseResource, RunOptionsResource
from usermgmt_pipeline.tasks.generate_profile_id_lookup import lookup_consistency

LOOKUP_ASSET = AssetKey("profile_id_lookup")


def _consistency(
    context: AssetCheckExecutionContext, case: CaseResource, run_options: RunOptionsResource
) -> tuple[dict[str, object], bool]:
    options = run_options.options(context.run.run_id)
    ctx = case.task_context(context.partition_key, options, context.log)
    return lookup_consistency(ctx), options.dry_run


def _result(passed: bool, counts: dict[str, object], dry_run: bool, description: str) -> AssetCheckResult:
    metadata: dict[str, MetadataValue[Any]] = {
        key: MetadataValue.int(int(value))  # type: ignore[call-overload]
        for key, value in counts.items()
    }
    metadata["dry_run"] = MetadataValue.bool(dry_run)
    return AssetCheckResult(
        passed=passed or dry_run,
        severity=AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=description + (" (dry run: nothing was written, not enforced)" if dry_run else ""),
    )


def build_lookup_checks(partitions_def: PartitionsDefinition) -> list[AssetChecksDefinition]:
    with warnings.catch_warnings():
        # Partitioned asset checks are "preview" in Dagster 1.13; we pin Dagster, so the API is fixed for us.
        warnings.simplefilter("ignore", PreviewWarning)
        return _build_lookup_checks(partitions_def)


def _build_lookup_checks(partitions_def: PartitionsDefinition) -> list[AssetChecksDefinition]:
    @asset_check(
        asset=LOOKUP_ASSET,
        name="every_profile_has_one_entry_per_active_study",
        blocking=True,
        partitions_def=partitions_def,
    )
    def every_profile_has_one_entry(
        context: AssetCheckExecutionContext, case: CaseResource, run_options: RunOptionsResource
    ) -> AssetCheckResult:
        counts, dry_run = _consistency(context, case, run_options)
        passed = counts["missing"] == 0 and counts["duplicated"] == 0
        return _result(
            passed, counts, dry_run, f"{counts['missing']} missing, {counts['duplicated']} duplicated entries"
        )

    @asset_check(
        asset=LOOKUP_ASSET,
        name="no_entry_points_to_a_missing_profile",
        blocking=True,
        partitions_def=partitions_def,
    )
    def no_orphans(
        context: AssetCheckExecutionContext, case: CaseResource, run_options: RunOptionsResource
    ) -> AssetCheckResult:
        counts, dry_run = _consistency(context, case, run_options)
        return _result(counts["orphans"] == 0, counts, dry_run, f"{counts['orphans']} orphan entries")

    return [every_profile_has_one_entry, no_orphans]
