"""Assembles the Dagster `Definitions` for one loaded config. The executor is chosen here and nowhere else."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import AssetSelection, Definitions, JobDefinition, define_asset_job, in_process_executor

from usermgmt_pipeline.config import AppConfig, ConfigError, load_config
from usermgmt_pipeline.logging_setup import configure_logging
from usermgmt_pipeline.orchestration.checks import LOOKUP_ASSET, build_lookup_checks
from usermgmt_pipeline.orchestration.dry_run_job import build_dry_run_job
from usermgmt_pipeline.orchestration.job_names import LOOKUP_JOB, USER_MANAGEMENT_JOB
from usermgmt_pipeline.orchestration.loggers import build_case_logger
from usermgmt_pipeline.orchestration.partitions import instance_partitions
from usermgmt_pipeline.orchestration.resources import build_resources
from usermgmt_pipeline.orchestration.schedules import build_schedule
from usermgmt_pipeline.orchestration.sensors import (
    build_failed_users_alert_sensor,
    build_failure_alert_sensor,
    build_new_study_sensor,
)
from usermgmt_pipeline.orchestration.task_assets import build_task_assets
from usermgmt_pipeline.tasks.declaration import TaskSet
from usermgmt_pipeline.tasks.registry import PACKAGE_TASKS

__all__ = ["LOOKUP_JOB", "USER_MANAGEMENT_JOB", "build_definitions", "load_definitions", "run_config"]

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

CONFIG_FILE_PATH_VAR = "CONFIG_FILE_PATH"
DEMO_CONFIG = Path(__file__).resolve().parents[1] / "demo" / "demo_config.yaml"
MISSING_CONFIG_FILE_PATH = (
    "is not set; it must name the job's YAML configuration file. The code location has no default "
    f"configuration (for the local demo, set it to {DEMO_CONFIG} as `make ui` does)"
)

# One run = one instance; its tasks run one after the other in a single process, sharing the four clients.
# For scale-out, change this one line (e.g. to `multiprocess_executor`) and use a run launcher (README).
EXECUTOR = in_process_executor

# Dagster only uses a job's loggers when the run config names them; this is every job's default run config.
DEFAULT_RUN_CONFIG: dict[str, Any] = {"loggers": {"console": {}}}


def run_config(
    *, dry_run: bool = False, allow_mass_deletion: bool = False, report: bool = False, report_dir: str = ""
) -> dict[str, Any]:
    """Run config for a launch with the per-run switches (secrets never go here)."""
    options: dict[str, Any] = {"dry_run": dry_run, "allow_mass_deletion": allow_mass_deletion}
    if report or report_dir:
        options.update(report=report, report_dir=report_dir)
    return {**DEFAULT_RUN_CONFIG, "resources": {"run_options": {"config": options}}}


def config_file_path(env: Mapping[str, str] | None = None) -> str:
    """CONFIG_FILE_PATH as the Go job reads it. Required: there is deliberately no default, because a
    webserver or daemon that silently fell back to the bundled demo config would run every task against
    whatever listens on the demo's address. The demo and `make ui` set it explicitly."""
    env = os.environ if env is None else env
    path = env.get(CONFIG_FILE_PATH_VAR, "")
    if not path:
        raise ConfigError([(CONFIG_FILE_PATH_VAR, MISSING_CONFIG_FILE_PATH)])
    return path


def build_definitions(cfg: AppConfig, config_path: str, tasks: TaskSet = PACKAGE_TASKS) -> Definitions:
    """The definitions for `cfg` (partitions, enabled tasks, schedule). Runs read the file at
    `config_path` again when they start: they always use the current file, and a file changed since the
    code location loaded is used as a whole (reload the code location for new instances or tasks).

    `tasks`: the declared tasks (the package's; a test builds the job for a set of its own, with `cfg`
    loaded for the same flags, `tasks.flags`)."""
    partitions = instance_partitions(cfg.instance_ids)
    enabled = cfg.run_tasks.flags()
    task_assets, selected = build_task_assets(tasks, enabled, partitions, tasks.descriptions(cfg))
    checks = build_lookup_checks(partitions)
    jobs: list[UnresolvedAssetJobDefinition | JobDefinition] = []  # the asset jobs, the dry-run op job
    schedules = []
    if selected:  # with no task enabled there is nothing to run or schedule
        user_management_job = define_asset_job(
            USER_MANAGEMENT_JOB,
            selection=AssetSelection.assets(*selected),
            config=DEFAULT_RUN_CONFIG,
            description="Every enabled task (run_tasks) for one instance, in the original's order.",
        )
        jobs.append(user_management_job)
        jobs.append(
            build_dry_run_job(tasks, [f for f, on in enabled.items() if on], partitions, DEFAULT_RUN_CONFIG)
        )
        schedules.append(
            build_schedule(
                user_management_job,
                cfg.instance_ids,
                cfg.orchestration.schedule_cron,
                cfg.orchestration.schedule_timezone,
            )
        )
    lookup_job = define_asset_job(
        LOOKUP_JOB,
        selection=AssetSelection.assets(LOOKUP_ASSET),
        config=DEFAULT_RUN_CONFIG,
        description="Only the profile-ID lookup (and its checks) for one instance.",
    )
    jobs.append(lookup_job)
    return Definitions(
        assets=task_assets,
        asset_checks=checks,
        jobs=jobs,
        schedules=schedules,
        sensors=[
            build_new_study_sensor(lookup_job, cfg.instance_ids),
            build_failure_alert_sensor(jobs, cfg.orchestration.operator_emails),
            build_failed_users_alert_sensor(jobs, cfg.orchestration.operator_emails),
        ],
        resources=build_resources(config_path, tasks.flags),
        loggers={"console": build_case_logger(cfg.logging)},
        executor=EXECUTOR,
    )


def load_definitions(env: Mapping[str, str] | None = None) -> Definitions:
    """What `usermgmt_pipeline.definitions` exposes: the config named by CONFIG_FILE_PATH (required)."""
    path = config_file_path(env)
    cfg = load_config(path, env)
    configure_logging(cfg.logging)
    return build_definitions(cfg, path)
