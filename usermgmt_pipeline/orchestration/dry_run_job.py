"""`user_management_dry_run_job`: the enabled tasks of one instance, in order, as ops that write nothing.

A dry run must leave no trace in the asset catalog: a materialization would mark the partition done and make
the lookup table look fresh when nothing was written, and an asset check cannot judge a table that was not
written. Assets that yield no output would skip every downstream asset, so the dry run is a plain op job
over the same task functions, partitioned like the assets (the `dagster/partition` limit still keeps one
run per instance). Each op's output event carries what the review needs: the counts, the sample ids, the
mass-deletion guard's verdict and the review bundle's path.
"""

from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import Any

from dagster import (
    DependencyDefinition,
    GraphDefinition,
    In,
    JobDefinition,
    MetadataValue,
    Nothing,
    OpDefinition,
    OpExecutionContext,
    Out,
    Output,
    PartitionsDefinition,
    op,
)

from usermgmt_pipeline.orchestration.failed_users import MAX_LISTED, failed_users
from usermgmt_pipeline.orchestration.job_names import DRY_RUN_JOB
from usermgmt_pipeline.orchestration.task_assets import execute_task, result_metadata
from usermgmt_pipeline.tasks.declaration import TaskDeclaration, TaskSet
from usermgmt_pipeline.tasks.registry import task_runner

AFTER = "after"
OP_PREFIX = "dry_run_"
"""Op names must be unique in a code location, and the assets' ops already carry the asset names."""


def _dry_run_op(
    tasks: TaskSet, declaration: TaskDeclaration, run_tasks: tuple[str, ...], first: bool
) -> OpDefinition:
    flag = declaration.name
    runner = task_runner(tasks, declaration)

    @op(
        name=OP_PREFIX + declaration.asset_name,
        ins={} if first else {AFTER: In(Nothing)},
        out=Out(Nothing),
        required_resource_keys={"case", "run_options"},
        tags={"usermgmt/task": flag},
        description=f"Dry run of `{flag}`: what it would do for one instance; writes nothing.",
    )
    def _op(context: OpExecutionContext) -> Iterator[Output[None]]:
        resources = context.resources
        results = execute_task(
            context, resources.case, resources.run_options, runner, run_tasks, dry_run=True
        )
        metadata: dict[str, Any] = result_metadata(results, declaration.table)
        failures = failed_users(results)
        metadata["failed_users_total"] = MetadataValue.int(sum(r.failed for r in results))
        if failures:
            metadata["failed_users"] = MetadataValue.json(failures[:MAX_LISTED])
        yield Output(None, metadata=metadata)

    return _op


def build_dry_run_job(
    tasks: TaskSet, enabled_flags: Sequence[str], partitions_def: PartitionsDefinition, config: dict[str, Any]
) -> JobDefinition:
    """The op job for the enabled `run_tasks` flags (in the original's order), one partition per instance."""
    run_tasks = tasks.ordered(enabled_flags)
    ops = [
        _dry_run_op(tasks, tasks.by_flag[flag], run_tasks, first=i == 0) for i, flag in enumerate(run_tasks)
    ]
    dependencies = {
        later.name: {AFTER: DependencyDefinition(earlier.name)} for earlier, later in pairwise(ops)
    }
    graph = GraphDefinition(
        name=DRY_RUN_JOB,
        node_defs=ops,
        dependencies=dependencies,
        description="Dry run of every enabled task (run_tasks) for one instance: counts, samples, the "
        "mass-deletion guard's verdict and, with run_options.report, a review bundle. Writes nothing to "
        "the CASE databases and records no asset materialization or check result.",
    )
    return graph.to_job(partitions_def=partitions_def, config=config)
