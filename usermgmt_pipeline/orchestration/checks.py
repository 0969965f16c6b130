"""Blocking checks on `generate_profile_id_lookup`, as Dagster asset checks.

The verdicts are the domain's (`tasks.lookup_checks`); here they become one multi-asset check step.
Blocking, so `migrate_account_info` (which relies on the map) does not run after a lookup that left gaps.
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
from usermgmt_pipeline.tasks import lookup_checks
from usermgmt_pipeline.tasks.generate_profile_id_lookup import lookup_consistency
from usermgmt_pipeline.tasks.id_map_scan import IdMapScan
from usermgmt_pipeline.tasks.lookup_checks import (
    LOOKUP_CHECKS,
    NO_ORPHANS_CHECK,
    ONE_ENTRY_CHECK,
    CheckOutcome,
)

__all__ = [
    "LOOKUP_ASSET",
    "NO_ORPHANS_CHECK",
    "ONE_ENTRY_CHECK",
    "build_lookup_checks",
    "evaluate_lookup_checks",
]

LOOKUP_ASSET = AssetKey(GENERATE_PROFILE_ID_LOOKUP.name)
_SEVERITY = {"ERROR": AssetCheckSeverity.ERROR, "WARN": AssetCheckSeverity.WARN}


def check_result(outcome: CheckOutcome) -> AssetCheckResult:
    metadata: dict[str, MetadataValue[Any]] = {
        key: MetadataValue.int(value) for key, value in outcome.counts.items()
    }
    metadata["dry_run"] = MetadataValue.bool(outcome.dry_run)
    for key, items in outcome.named.items():
        metadata[key] = MetadataValue.json(items)
    return AssetCheckResult(
        check_name=outcome.name,
        asset_key=LOOKUP_ASSET,
        passed=outcome.passed,
        severity=_SEVERITY[outcome.severity],
        metadata=metadata,
        description=outcome.description,
    )


def evaluate_lookup_checks(scan: IdMapScan, dry_run: bool) -> list[AssetCheckResult]:
    """Both checks' results from one scan."""
    return [check_result(o) for o in lookup_checks.evaluate_lookup_checks(scan, dry_run)]


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
            for name in LOOKUP_CHECKS
        ],
    )
    def generate_profile_id_lookup_checks(
        context: AssetCheckExecutionContext, case: CaseResource, run_options: RunOptionsResource
    ) -> Iterator[AssetCheckResult]:
        options = run_options.options(context.run.run_id)
        ctx = case.task_context(context.partition_key, options, context.log)
        yield from evaluate_lookup_checks(lookup_consistency(ctx), options.dry_run)

    return [generate_profile_id_lookup_checks]
