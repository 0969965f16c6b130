"""The five tasks as partitioned assets (one partition per instance), chained in the original's order.

Each asset is a thin call into `usermgmt_pipeline.tasks.registry.TASKS`; its materialization carries the
task's counts as numeric metadata so the UI plots them across runs. A task that cannot finish
(`TaskFailedError`, including the mass-deletion guard) fails the step with the partial counts; the later
tasks of that instance then do not run, and a rerun of the partition resumes.
"""

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    DagsterExecutionInterruptedError,
    Failure,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    PartitionsDefinition,
    TableColumn,
    TableConstraints,
    TableSchema,
    asset,
)

from usermgmt_pipeline.orchestration.failed_users import failed_users_check, failed_users_spec
from usermgmt_pipeline.orchestration.resources import CaseResource, RunOptionsResource
from usermgmt_pipeline.orchestration.stop_signals import interrupted_by_signal, stop_between_users
from usermgmt_pipeline.tasks.context import ids_only
from usermgmt_pipeline.tasks.registry import TASKS
from usermgmt_pipeline.tasks.results import MassDeletionGuardError, TaskFailedError, TaskResult
from usermgmt_pipeline.tasks.stopping import RunStoppedError

GROUP = "user_management"
MASS_DELETION_GUARD_TAG = "usermgmt/mass_deletion_guard"

ASSET_NAMES: dict[str, str] = {
    "clean_up_unverified_users": "clean_up_unverified_users",
    "send_reminder_to_confirm_accounts": "send_reminder_to_confirm_accounts",
    "handle_inactive_users": "handle_inactive_users",
    "generate_profile_id_lookup": "profile_id_lookup",
    "migrate_account_info": "migrate_account_info",
}
"""run_tasks flag -> asset name, in the original's execution order (docs/tasks.md §0.4)."""

ID_MAP_SCHEMA = TableSchema(
    columns=[
        TableColumn("_id", "ObjectId", "generated on insert"),
        TableColumn("confidentialID", "string", "the profile's confidential ID in the study"),
        TableColumn("profileID", "string", "the profile's hex id"),
        TableColumn("studyKey", "string", "the study's key"),
    ],
    constraints=TableConstraints(
        other=["unique (confidentialID, studyKey): CASE's confidentialID_1_studyKey_1"]
    ),
)
"""`<p><iid>_studyDB.confidential-id-map`, the table the lookup asset maintains (docs/case-data.md §3.9)."""


def run_task_flags(context: AssetExecutionContext) -> tuple[str, ...]:
    """The run_tasks flags of the assets this run executes (the whole job, or the subset an operator picked):
    the mass-deletion guard sums what all of them delete."""
    names = {key.to_user_string() for key in context.job_def.asset_layer.selected_asset_keys}
    return tuple(flag for flag, name in ASSET_NAMES.items() if name in names)


def result_metadata(results: list[TaskResult]) -> dict[str, Any]:
    """Numeric metadata per result (prefixed by task name when a task reports several), plus samples."""
    meta: dict[str, Any] = {}
    for result in results:
        prefix = "" if len(results) == 1 else f"{result.task}."
        for key in ("selected", "done", "skipped", "failed", "resumed"):
            meta[f"{prefix}{key}"] = MetadataValue.int(getattr(result, key))
        for key, value in result.extra.items():
            if isinstance(value, bool):
                meta[f"{prefix}{key}"] = MetadataValue.bool(value)
            elif isinstance(value, int):
                meta[f"{prefix}{key}"] = MetadataValue.int(value)
            elif isinstance(value, float):
                meta[f"{prefix}{key}"] = MetadataValue.float(value)
            elif key == "review_bundle":  # only the path: the bundle itself holds the personal data
                meta[f"{prefix}{key}"] = MetadataValue.path(str(value))
            elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                # e.g. study problems, LEAVE-rule failures; addresses a driver error might echo are redacted
                meta[f"{prefix}{key}"] = MetadataValue.json([ids_only(v) for v in value[:50]])
            elif key in ("guard_verdict", "id_map_table"):
                meta[f"{prefix}{key}"] = MetadataValue.text(str(value))
        for study, stats in (result.extra.get("studies") or {}).items():
            for key in ("created", "already_present"):
                meta[f"{prefix}studies.{study}.{key}"] = MetadataValue.int(int(stats.get(key, 0)))
        if result.sample_user_ids:
            meta[f"{prefix}sample_user_ids"] = MetadataValue.json(list(result.sample_user_ids))
        reasons: list[dict[str, Any]] = [{"id": i, "reason": r} for i, r in result.failure_reasons[:50]]
        reasons += [{"id": i, "reason": r, "skipped": True} for i, r in result.skip_reasons[:50]]
        if reasons:
            meta[f"{prefix}reasons"] = MetadataValue.json(reasons)
        if "id_map_table" in result.extra:  # the lookup: the table it maintains, as Dagster shows tables
            meta["dagster/table_name"] = MetadataValue.text(str(result.extra["id_map_table"]))
            meta["dagster/row_count"] = MetadataValue.int(int(result.extra["id_map_entries"]))
            meta["dagster/column_schema"] = MetadataValue.table_schema(ID_MAP_SCHEMA)
        meta[f"{prefix}summary"] = MetadataValue.text(result.summary())
    meta["dry_run"] = MetadataValue.bool(any(r.dry_run for r in results))
    return meta


DRY_RUN_JOB = "user_management_dry_run_job"
DRY_RUN_ON_ASSET_JOB = (
    "dry_run: true would record this run's counts as a materialization of the asset (and mark the partition "
    f"done) although nothing was written; launch {DRY_RUN_JOB} for this partition instead: it runs the same "
    "tasks without writing and records nothing in the asset catalog"
)


def execute_task(
    context: OpExecutionContext | AssetExecutionContext,
    case: CaseResource,
    run_options: RunOptionsResource,
    flag: str,
    run_tasks: tuple[str, ...],
    *,
    dry_run: bool,
) -> list[TaskResult]:
    """One task for the run's partition (= instance), its failures turned into Dagster's; the results."""
    instance_id = context.partition_key
    options = dataclasses.replace(
        run_options.options(context.run.run_id), run_tasks=run_tasks, dry_run=dry_run
    )
    ctx = case.task_context(instance_id, options, context.log)
    try:
        with stop_between_users():
            results = TASKS[flag](ctx)
    except RunStoppedError as exc:
        if interrupted_by_signal():  # the user in flight is complete; Dagster records the run as interrupted
            context.log.warning(str(exc))
            raise DagsterExecutionInterruptedError(str(exc)) from None
        raise Failure(description=str(exc), metadata=result_metadata([exc.result])) from None
    except MassDeletionGuardError as exc:
        context.instance.add_run_tags(context.run.run_id, {MASS_DELETION_GUARD_TAG: instance_id})
        raise Failure(
            description=str(exc),
            metadata={**result_metadata([exc.result]), "mass_deletion_guard": True},
            allow_retries=False,
        ) from None
    except TaskFailedError as exc:
        raise Failure(description=str(exc), metadata=result_metadata([exc.result])) from None
    for result in results:
        context.log.info(result.summary())
        if result.failed:
            context.log.warning(
                "%s: %d users failed: %s", result.task, result.failed, json.dumps(result.failure_reasons[:10])
            )
    return results


def run_task(
    context: AssetExecutionContext, case: CaseResource, run_options: RunOptionsResource, flag: str
) -> MaterializeResult:  # type: ignore[type-arg]  # Dagster reads the bare annotation
    if run_options.dry_run:
        raise Failure(description=DRY_RUN_ON_ASSET_JOB, allow_retries=False)
    results = execute_task(context, case, run_options, flag, run_task_flags(context), dry_run=False)
    return MaterializeResult(
        metadata=result_metadata(results), check_results=[failed_users_check(ASSET_NAMES[flag], results)]
    )


def _make_asset(
    flag: str, partitions_def: PartitionsDefinition, upstream: str | None, description: str | None = None
) -> AssetsDefinition:
    name = ASSET_NAMES[flag]

    @asset(
        name=name,
        group_name=GROUP,
        partitions_def=partitions_def,
        deps=[AssetKey(upstream)] if upstream else None,
        description=description or f"CASE user-management task `{flag}` for one instance.",
        kinds={"mongodb"},
        tags={"usermgmt/task": flag},
        check_specs=[failed_users_spec(name)],
        metadata={"dagster/column_schema": ID_MAP_SCHEMA} if name == "profile_id_lookup" else None,
    )
    def _task_asset(
        context: AssetExecutionContext, case: CaseResource, run_options: RunOptionsResource
    ) -> MaterializeResult:  # type: ignore[type-arg]  # Dagster reads the bare annotation
        return run_task(context, case, run_options, flag)

    return _task_asset


def build_task_assets(
    enabled: Mapping[str, bool],
    partitions_def: PartitionsDefinition,
    descriptions: Mapping[str, str] | None = None,
) -> tuple[list[AssetsDefinition], list[str]]:
    """All five task assets; each enabled one depends on the previous enabled one, so a job runs them in order.

    Returns the assets and the names of the enabled ones (the selection of `user_management_job`).
    """
    assets: list[AssetsDefinition] = []
    selected: list[str] = []
    previous: str | None = None
    for flag in TASKS:
        upstream = previous if enabled.get(flag) else None
        assets.append(_make_asset(flag, partitions_def, upstream, (descriptions or {}).get(flag)))
        if enabled.get(flag):
            selected.append(ASSET_NAMES[flag])
            previous = ASSET_NAMES[flag]
    return assets, selected
