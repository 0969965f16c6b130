"""The declared tasks as partitioned assets (one partition per instance), chained in the original's order.

Each asset is a thin call into its task's runner (`tasks.registry.task_runner`); its materialization carries the
task's counts as numeric metadata so the UI plots them across runs. A task that cannot finish
(`TaskFailedError`, including the mass-deletion guard) fails the step with the partial counts; the later
tasks of that instance then do not run, and a rerun of the partition resumes.
"""

import dataclasses
import json
from collections.abc import Mapping
from pathlib import PurePath
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
from usermgmt_pipeline.orchestration.job_names import DRY_RUN_JOB
from usermgmt_pipeline.orchestration.resources import CaseResource, RunOptionsResource
from usermgmt_pipeline.orchestration.stop_signals import interrupted_by_signal, stop_between_users
from usermgmt_pipeline.tasks.context import ids_only
from usermgmt_pipeline.tasks.declaration import TableSpec, TaskDeclaration, TaskSet
from usermgmt_pipeline.tasks.registry import TaskRunner, task_runner
from usermgmt_pipeline.tasks.results import (
    OUTCOMES_METADATA,
    Entry,
    MassDeletionGuardError,
    StepOutcome,
    TaskFailedError,
    TaskResult,
)
from usermgmt_pipeline.tasks.stopping import RunStoppedError

GROUP = "user_management"
MASS_DELETION_GUARD_TAG = "usermgmt/mass_deletion_guard"
MASS_DELETION_GUARD_METADATA = "mass_deletion_guard"
"""Set (true) in the metadata of a step that the mass-deletion guard failed; the alert sensor reads it."""


def table_schema(spec: TableSpec) -> TableSchema:
    return TableSchema(
        columns=[TableColumn(c.name, c.type, c.description) for c in spec.columns],
        constraints=TableConstraints(other=list(spec.constraints)),
    )


def run_task_flags(context: AssetExecutionContext, tasks: TaskSet) -> tuple[str, ...]:
    """The run_tasks flags of the assets this run executes (the whole job, or the subset an operator picked):
    the mass-deletion guard sums what all of them delete."""
    names = {key.to_user_string() for key in context.job_def.asset_layer.selected_asset_keys}
    return tuple(d.name for d in tasks.declarations if d.asset_name in names)


def _metadata_value(value: Entry) -> MetadataValue[Any] | None:
    """A reported value as Dagster metadata, by its type (see `TaskResult.entries`)."""
    if isinstance(value, bool):
        return MetadataValue.bool(value)
    if isinstance(value, int):
        return MetadataValue.int(value)
    if isinstance(value, float):
        return MetadataValue.float(value)
    if isinstance(value, PurePath):  # e.g. the review bundle: only its path, the bundle holds personal data
        return MetadataValue.path(str(value))
    if isinstance(value, str):
        return MetadataValue.text(value)
    if value:  # ids or problem texts; addresses a driver error might echo are redacted
        return MetadataValue.json([ids_only(v) for v in value[:50]])
    return None


def result_metadata(results: list[TaskResult], table: TableSpec | None = None) -> dict[str, Any]:
    """The results as Dagster metadata, the one place they are converted: every reported value by its type
    (prefixed by task name when a task reports several), samples and reasons, the table a task maintains,
    and the outcomes the CLI reads."""
    meta: dict[str, Any] = {}
    for result in results:
        prefix = "" if len(results) == 1 else f"{result.task}."
        for key, value in result.entries().items():
            if (converted := _metadata_value(value)) is not None:
                meta[f"{prefix}{key}"] = converted
        if result.sample_user_ids:
            meta[f"{prefix}sample_user_ids"] = MetadataValue.json(list(result.sample_user_ids))
        reasons: list[dict[str, Any]] = [{"id": i, "reason": r} for i, r in result.failure_reasons[:50]]
        reasons += [{"id": i, "reason": r, "skipped": True} for i, r in result.skip_reasons[:50]]
        if reasons:
            meta[f"{prefix}reasons"] = MetadataValue.json(reasons)
        if result.table is not None:  # as Dagster shows tables
            meta["dagster/table_name"] = MetadataValue.text(result.table.name)
            meta["dagster/row_count"] = MetadataValue.int(result.table.rows)
            if table is not None:
                meta["dagster/column_schema"] = MetadataValue.table_schema(table_schema(table))
        meta[f"{prefix}summary"] = MetadataValue.text(result.summary())
    meta["dry_run"] = MetadataValue.bool(any(r.dry_run for r in results))
    meta[OUTCOMES_METADATA] = MetadataValue.json([dataclasses.asdict(StepOutcome.of(r)) for r in results])
    return meta


DRY_RUN_ON_ASSET_JOB = (
    "dry_run: true would record this run's counts as a materialization of the asset (and mark the partition "
    f"done) although nothing was written; launch {DRY_RUN_JOB} for this partition instead: it runs the same "
    "tasks without writing and records nothing in the asset catalog"
)


def execute_task(
    context: OpExecutionContext | AssetExecutionContext,
    case: CaseResource,
    run_options: RunOptionsResource,
    runner: TaskRunner,
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
            results = runner(ctx)
    except RunStoppedError as exc:
        if interrupted_by_signal():  # the user in flight is complete; Dagster records the run as interrupted
            context.log.warning(str(exc))
            raise DagsterExecutionInterruptedError(str(exc)) from None
        raise Failure(description=str(exc), metadata=result_metadata([exc.result])) from None
    except MassDeletionGuardError as exc:
        context.instance.add_run_tags(context.run.run_id, {MASS_DELETION_GUARD_TAG: instance_id})
        raise Failure(
            description=str(exc),
            metadata={**result_metadata([exc.result]), MASS_DELETION_GUARD_METADATA: True},
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


def _make_asset(
    tasks: TaskSet,
    declaration: TaskDeclaration,
    partitions_def: PartitionsDefinition,
    upstream: str | None,
    description: str | None = None,
) -> AssetsDefinition:
    name = declaration.asset_name
    flag = declaration.name
    runner = task_runner(tasks, declaration)
    table = declaration.table

    @asset(
        name=name,
        group_name=GROUP,
        partitions_def=partitions_def,
        deps=[AssetKey(upstream)] if upstream else None,
        description=description or f"CASE user-management task `{flag}` for one instance.",
        kinds={"mongodb"},
        tags={"usermgmt/task": flag},
        check_specs=[failed_users_spec(name)],
        metadata={"dagster/column_schema": table_schema(table)} if table is not None else None,
    )
    def _task_asset(
        context: AssetExecutionContext, case: CaseResource, run_options: RunOptionsResource
    ) -> MaterializeResult:  # type: ignore[type-arg]  # Dagster reads the bare annotation
        if run_options.dry_run:
            raise Failure(description=DRY_RUN_ON_ASSET_JOB, allow_retries=False)
        flags = run_task_flags(context, tasks)
        results = execute_task(context, case, run_options, runner, flags, dry_run=False)
        return MaterializeResult(
            metadata=result_metadata(results, table), check_results=[failed_users_check(name, results)]
        )

    return _task_asset


def build_task_assets(
    tasks: TaskSet,
    enabled: Mapping[str, bool],
    partitions_def: PartitionsDefinition,
    descriptions: Mapping[str, str] | None = None,
) -> tuple[list[AssetsDefinition], list[str]]:
    """An asset per declared task; each enabled one depends on the previous enabled one, so a job runs them
    in order. Returns the assets and the names of the enabled ones (the selection of `user_management_job`).
    """
    assets: list[AssetsDefinition] = []
    selected: list[str] = []
    previous: str | None = None
    for declaration in tasks.declarations:
        on = bool(enabled.get(declaration.name))
        description = (descriptions or {}).get(declaration.name)
        assets.append(_make_asset(tasks, declaration, partitions_def, previous if on else None, description))
        if on:
            selected.append(declaration.asset_name)
            previous = declaration.asset_name
    return assets, selected
