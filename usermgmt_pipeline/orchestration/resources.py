"""Dagster resources: the CASE deployment (config file + four databases), the SMTP bridge, run options.

One source of configuration: `CaseResource` loads the YAML file once when a run (or a sensor tick) starts,
with the Go env overrides applied by `load_config` exactly as for the CLI, and everything in that run reads
that one `AppConfig`: thresholds, connection settings and secrets. Editing the file therefore takes effect
at the next run as a whole, never half (old connection settings with new thresholds), and no resource
holds a copy of a setting made when the code location loaded.

Secrets never live in resource config, which Dagster shows in the UI and stores with the run: the only
configured value is the file's path. No client exists before a step needs one; the four clients are opened
together on first use (so a sensor that only sends an alert does not need the databases) and closed when
the run ends.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any, ClassVar

from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from usermgmt_pipeline.case.connections import CaseDatabases
from usermgmt_pipeline.config import TASK_FLAGS, AppConfig, TaskFlag, load_config
from usermgmt_pipeline.smtp_bridge import SmtpBridgeClient
from usermgmt_pipeline.tasks.context import RunOptions, TaskContext


class CaseResource(ConfigurableResource):  # type: ignore[type-arg]  # generic only for factories
    """The job's YAML file, loaded once per run, and the four CASE database clients it describes."""

    config_file_path: str
    task_flags: ClassVar[tuple[TaskFlag, ...]] = TASK_FLAGS
    """The `run_tasks` keys the file may set: the package's tasks (another set: `case_resource_class`)."""

    _config: AppConfig | None = PrivateAttr(default=None)
    _databases: CaseDatabases | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._config = load_config(self.config_file_path, flags=self.task_flags)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._databases is not None:
            self._databases.close()
            self._databases = None

    @property
    def config(self) -> AppConfig:
        """The run's configuration (secrets resolved from the file and the environment)."""
        if self._config is None:  # Dagster calls setup_for_execution before any step or tick uses us
            raise RuntimeError("CaseResource used before Dagster initialized it")
        return self._config

    def databases(self) -> CaseDatabases:
        """The four clients, opened (and pinged) on first use, closed at the end of the run."""
        if self._databases is None:
            self._databases = CaseDatabases.connect(self.config.db_configs)
        return self._databases

    def task_context(self, instance_id: str, options: RunOptions, logger: logging.Logger) -> TaskContext:
        """The domain core's context for one instance of this run."""
        return TaskContext(
            config=self.config,
            dbs=self.databases(),
            instance_id=instance_id,
            options=options,
            logger=logger,
        )


class SmtpBridgeResource(ConfigurableResource):  # type: ignore[type-arg]  # generic only for factories
    """The CASE SMTP bridge, used for operator alerts; URL, key and timeout come from the run's config."""

    case: CaseResource
    retries: int = 3
    backoff_seconds: float = 1.0

    def client(self) -> SmtpBridgeClient:
        bridge = self.case.config.messaging_configs.smtp_bridge_config
        return SmtpBridgeClient(
            url=bridge.url,
            api_key=bridge.api_key,
            timeout_s=bridge.timeout_seconds,
            retries=self.retries,
            backoff_s=self.backoff_seconds,
        )


class RunOptionsResource(ConfigurableResource):  # type: ignore[type-arg]  # generic only for factories
    """Per-run switches, set in the launchpad or a backfill's run config: `dry_run`, `allow_mass_deletion`,
    `report` (with `dry_run`: a review bundle under `orchestration.report_dir`; `report_dir`: the CLI's folder)."""

    dry_run: bool = False
    allow_mass_deletion: bool = False
    report: bool = False
    report_dir: str = ""

    def options(self, run_id: str) -> RunOptions:
        return RunOptions(
            dry_run=self.dry_run,
            allow_mass_deletion=self.allow_mass_deletion,
            run_id=run_id,
            report=self.report,
            report_dir=self.report_dir,
        )


@cache
def case_resource_class(flags: tuple[TaskFlag, ...]) -> type[CaseResource]:
    """`CaseResource` loading configs with these `run_tasks` flags. A class, not an instance attribute:
    Dagster rebuilds resources from their config fields, and the flags are no run config."""
    if flags == TASK_FLAGS:
        return CaseResource

    class TaskSetCaseResource(CaseResource):
        task_flags: ClassVar[tuple[TaskFlag, ...]] = flags

    return TaskSetCaseResource


def build_resources(config_file_path: str, flags: tuple[TaskFlag, ...] = TASK_FLAGS) -> dict[str, Any]:
    """The resources of the code location: everything is read from the file at run time."""
    case = case_resource_class(flags)(config_file_path=config_file_path)
    return {
        "case": case,
        "smtp_bridge": SmtpBridgeResource(case=case),
        "run_options": RunOptionsResource(),
    }
