"""`user-management`: the original binary's behaviour (CONFIG_FILE_PATH, every enabled task for every
instance, in order), one run per instance.

Unlike the Go job it exits non-zero when an instance failed (1), or when every instance finished but some
users failed (3), and ends with a per-instance summary, so cron and CI wrappers notice.

With DAGSTER_HOME set, each instance's run is a Dagster run of the job's definitions, executed in-process and
recorded in that Dagster instance (its run id opens in the UI). Without it nothing is recorded, so the CLI
runs the same task runners and checks without Dagster (`tasks.instance_run`): a run with nothing to do then
costs a fraction of a second per instance instead of the seconds Dagster's start-up and run machinery took.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from usermgmt_pipeline.config import AppConfig, ConfigError, load_config_from_env
from usermgmt_pipeline.logging_setup import LoggingSetupError, configure_logging
from usermgmt_pipeline.orchestration.dagster_home import (
    DAGSTER_HOME_VAR,
    DagsterHomeError,
    open_dagster_instance,
)
from usermgmt_pipeline.orchestration.job_names import DRY_RUN_JOB, USER_MANAGEMENT_JOB
from usermgmt_pipeline.orchestration.stop_signals import run_in_worker_thread, stop_on_signals
from usermgmt_pipeline.tasks.stopping import stop_reason

if TYPE_CHECKING:
    from dagster import DagsterInstance, JobDefinition

    from usermgmt_pipeline.case.connections import CaseDatabases
    from usermgmt_pipeline.tasks.declaration import TaskSet
    from usermgmt_pipeline.tasks.instance_run import InstanceRun
    from usermgmt_pipeline.tasks.results import StepOutcome

EXIT_OK = 0
EXIT_INSTANCE_FAILED = 1
EXIT_BAD_CONFIG = 2
EXIT_USERS_FAILED = 3
EXIT_SIGNAL_BASE = 128  # + the signal's number, as shells report a process that a signal ended

log = logging.getLogger("usermgmt_pipeline.cli")


@dataclass
class InstanceOutcome:
    instance_id: str
    run_id: str = ""
    success: bool = False
    summaries: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    mass_deletion_guard: bool = False
    notes: list[str] = field(default_factory=list)  # the guard's verdicts, checks failed as warnings
    failed_users: list[dict[str, str]] = field(default_factory=list)
    failed_user_count: int = 0
    guard_would_trip: bool = False  # a dry run's verdict: the real run would stop at the guard

    def add_step(self, step: StepOutcome) -> None:
        """One task result's summary line, (dry run) sample ids and guard verdict."""
        self.summaries.append(step.summary)
        if step.dry_run and step.sample_user_ids:
            self.summaries.append(f"  sample ids: {', '.join(step.sample_user_ids)}")
        if step.guard_verdict:
            self.notes.append(step.guard_verdict)
        self.guard_would_trip |= step.guard_would_trip

    def add_check(self, name: str, description: str, warns: bool) -> None:
        failed_check = f"check {name} failed: {description}"
        (self.notes if warns else self.errors).append(("warning: " if warns else "") + failed_check)


USAGE = """user-management [-h] [--version] [--dry-run [--report DIR]] [--instance ID] [--allow-mass-deletion]
       user-management history --instance ID (--user USER_ID | --email ADDRESS) [--format {text,json}]"""


def environment_help() -> str:
    """The environment variables the command reads, named from the same constants the config loader uses."""
    from usermgmt_pipeline.config.env_overrides import (
        ACCOUNT_HASH_KEY,
        SMTP_BRIDGE_API_KEY,
        STUDY_GLOBAL_SECRET,
        db_credential_env_vars,
    )
    from usermgmt_pipeline.config.rules import DB_KEYS

    credentials = [", ".join(db_credential_env_vars(key)) for key in DB_KEYS]
    return "\n".join(
        [
            "environment:",
            "  CONFIG_FILE_PATH      the YAML configuration file (required)",
            "  DAGSTER_HOME          a Dagster instance folder to record the runs in (the run ids of the summary",
            "                        then open in the UI); unset: the tasks run without Dagster, nothing is kept",
            "  secrets, overriding the file when non-empty:",
            *[f"    {var}" for var in credentials],
            f"    {SMTP_BRIDGE_API_KEY}, {STUDY_GLOBAL_SECRET}, {ACCOUNT_HASH_KEY},",
            "    EXTERNAL_SERVICE_API_KEY_FOR_<NAME> (per external service)",
        ]
    )


EXIT_CODES_HELP = f"""exit codes:
  {EXIT_OK}        every instance finished and no user failed
  {EXIT_INSTANCE_FAILED}        an instance failed (database unreachable, missing template, mass-deletion guard, ...);
           also a dry run whose mass-deletion guard would trip
  {EXIT_BAD_CONFIG}        bad configuration or arguments, before any database is touched
  {EXIT_USERS_FAILED}        every instance finished, but some users failed (retried next run)
  130, 143 stopped by SIGINT or SIGTERM between two batches of users; rerun to finish

The summary goes to stderr; stdout carries the JSON log lines."""


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("usermgmt_pipeline")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="user-management",
        usage=USAGE,
        description="Run every enabled CASE user-management task for every instance (config file named by\n"
        "CONFIG_FILE_PATH), or print one account's history (`user-management history --help`).",
        epilog=f"{EXIT_CODES_HELP}\n\n{environment_help()}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"user-management {package_version()}")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="report what each task would do (counts, sample ids, the mass-deletion guard's verdict); write nothing",
    )
    parser.add_argument(
        "--instance",
        action="append",
        metavar="ID",
        help="run only this instance (repeatable); default: every instance in instance_ids",
    )
    parser.add_argument(
        "--report",
        metavar="DIR",
        help="with --dry-run: write a review bundle (users.csv/jsonl, the emails, index.html) into DIR "
        "(created with mode 0700; it holds personal data)",
    )
    parser.add_argument(
        "--allow-mass-deletion",
        action="store_true",
        help="let a run delete more than orchestration.max_deletion_share of an instance's users",
    )
    return parser.parse_args(argv)


def read_step_metadata(outcome: InstanceOutcome, metadata: Mapping[str, Any]) -> None:
    """The summary lines, guard verdicts and (dry run) sample ids of one step's metadata: a materialization's,
    or a dry-run op's output. Read from the step's typed outcomes (`task_assets.StepOutcome`)."""
    from usermgmt_pipeline.tasks.results import StepOutcome

    for step in StepOutcome.read(metadata):
        outcome.add_step(step)


def run_instance(
    job: JobDefinition, instance: DagsterInstance, instance_id: str, run_config: dict[str, Any]
) -> InstanceOutcome:
    """One in-process run for one instance partition, reduced to what the summary and alerts need."""
    from dagster import AssetCheckSeverity

    from usermgmt_pipeline.orchestration.errors import error_cause
    from usermgmt_pipeline.orchestration.failed_users import NO_FAILED_USERS, failures_in_evaluations
    from usermgmt_pipeline.orchestration.task_assets import MASS_DELETION_GUARD_TAG

    result = job.execute_in_process(
        partition_key=instance_id,
        run_config=run_config,
        instance=instance,
        raise_on_error=False,
        tags={"usermgmt/launched_by": "cli"},
    )
    outcome = InstanceOutcome(instance_id, run_id=result.run_id, success=result.success)
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            read_step_metadata(outcome, event.step_materialization_data.materialization.metadata)
        elif (
            event.event_type_value == "STEP_OUTPUT"
            and "failed_users_total" in event.step_output_data.metadata
        ):
            # the dry-run job's ops (no materialization); an asset's output repeats its materialization's metadata
            metadata = event.step_output_data.metadata
            read_step_metadata(outcome, metadata)
            if isinstance(total := metadata["failed_users_total"].value, int):
                outcome.failed_user_count += total
            failed = metadata["failed_users"].value if "failed_users" in metadata else []
            if isinstance(failed, list):
                outcome.failed_users.extend(f for f in failed if isinstance(f, dict))
        elif event.is_step_failure:
            error = event.step_failure_data.error
            outcome.errors.append(error_cause(error) if error else event.message or "step failed")
        elif event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.asset_check_evaluation_data
            if not evaluation.passed and evaluation.check_name != NO_FAILED_USERS:
                warns = evaluation.severity == AssetCheckSeverity.WARN
                outcome.add_check(evaluation.check_name, evaluation.description or "", warns)
    evaluated, listed = failures_in_evaluations(
        [
            e.asset_check_evaluation_data
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        ]
    )
    outcome.failed_user_count += evaluated
    outcome.failed_users.extend(listed)
    run = instance.get_run_by_id(result.run_id)
    outcome.mass_deletion_guard = bool(run and MASS_DELETION_GUARD_TAG in run.tags)
    if not outcome.success and not outcome.errors:
        outcome.errors.append("the run failed (see the Dagster event log)")
    return outcome


def instance_outcome(run: InstanceRun) -> InstanceOutcome:
    """A run without Dagster (`tasks.instance_run`), reduced to what the summary and alerts need: the same
    lines a Dagster run's events give (`run_instance`)."""
    from usermgmt_pipeline.tasks.results import MAX_LISTED_FAILURES, StepOutcome, failed_users

    outcome = InstanceOutcome(
        run.instance_id, run_id=run.run_id, success=run.success, mass_deletion_guard=run.mass_deletion_guard
    )
    for result in run.results:
        outcome.add_step(StepOutcome.of(result))
        outcome.failed_user_count += result.failed
        outcome.failed_users.extend(failed_users([result])[:MAX_LISTED_FAILURES])
    for check in run.checks:
        if not check.passed:
            outcome.add_check(check.name, check.description, warns=check.severity == "WARN")
    if run.error:
        outcome.errors.append(run.error)
    return outcome


def send_alerts(cfg: AppConfig, outcomes: Sequence[InstanceOutcome], job_name: str) -> None:
    """Same alerts as the daemon's run-status sensors, for runs the CLI executed in-process."""
    recipients = cfg.orchestration.operator_emails
    failed = [o for o in outcomes if not o.success or o.failed_user_count]
    if not recipients or not failed:
        return
    from usermgmt_pipeline.orchestration.alerts import failed_users_email, failure_email
    from usermgmt_pipeline.smtp_bridge import SmtpBridgeClient, SmtpBridgeError

    bridge = cfg.messaging_configs.smtp_bridge_config
    client = SmtpBridgeClient(url=bridge.url, api_key=bridge.api_key, timeout_s=bridge.timeout_seconds)
    for outcome in failed:
        email = (
            failure_email(
                recipients,
                job_name=job_name,
                instance_id=outcome.instance_id,
                run_id=outcome.run_id,
                errors=outcome.errors,
                mass_deletion_guard=outcome.mass_deletion_guard,
            )
            if not outcome.success
            else failed_users_email(
                recipients,
                job_name=job_name,
                instance_id=outcome.instance_id,
                run_id=outcome.run_id,
                failures=outcome.failed_users,
                total=outcome.failed_user_count,
            )
        )
        try:
            client.send(email)
        except SmtpBridgeError as exc:
            log.error(
                "could not alert the operators", extra={"instanceID": outcome.instance_id, "error": str(exc)}
            )


DRY_RUN_CAVEAT = (
    "counts may exceed the real run's: a user whom an earlier task of the run deletes is not acted on "
    "by the later tasks (the review bundle lists each user once)"
)


def print_summary(
    outcomes: Sequence[InstanceOutcome],
    dry_run: bool,
    allow_mass_deletion: bool = False,
    file: IO[str] | None = None,
) -> None:
    """The operator's summary, on stderr: stdout carries the JSON log lines the CASE log pipelines parse."""
    out = file or sys.stderr
    mode = " (dry run: nothing was written)" if dry_run else ""
    print(f"user-management summary{mode}:", file=out)
    if dry_run:
        print(f"  {DRY_RUN_CAVEAT}", file=out)
    for outcome in outcomes:
        status = "ok" if outcome.success else "FAILED"
        guard = " (mass-deletion guard tripped)" if outcome.mass_deletion_guard else ""
        print(f"  instance {outcome.instance_id}: {status}{guard} [run {outcome.run_id}]", file=out)
        for line in outcome.summaries:
            print(f"    {line}", file=out)
        for note in outcome.notes:
            print(f"    {note}", file=out)
        if dry_run and outcome.guard_would_trip and not allow_mass_deletion:
            print(
                f"    the real run would stop at the mass-deletion guard (exit {EXIT_INSTANCE_FAILED}); "
                "add --allow-mass-deletion if these deletions are intended",
                file=out,
            )
        for error in outcome.errors:
            first_line = error.splitlines()[0] if error else ""
            print(f"    error: {first_line}", file=out)
        if outcome.failed_user_count:
            print(f"    {outcome.failed_user_count} user(s) failed (retried next run):", file=out)
            for failure in outcome.failed_users[:20]:
                reason = (failure.get("reason") or "").splitlines()[0:1]
                print(f"      {failure.get('task')}: user {failure.get('id')}: {''.join(reason)}", file=out)
    failed = sum(not o.success for o in outcomes)
    print(f"{len(outcomes) - failed} instance(s) ok, {failed} failed", file=out)


def main(argv: Sequence[str] | None = None, tasks: TaskSet | None = None) -> int:
    """The command; `tasks` are the declared tasks it runs (None: the package's, `tasks.registry`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["history"]:  # `user-management history --instance ID --user USER_ID`
        from usermgmt_pipeline.history_cli import main as history_main

        return history_main(argv[1:])
    args = parse_args(argv)
    if tasks is None:
        from usermgmt_pipeline.tasks.registry import PACKAGE_TASKS

        tasks = PACKAGE_TASKS
    try:
        cfg = load_config_from_env(flags=tasks.flags)
    except ConfigError as exc:
        print(f"user-management: invalid configuration:\n{exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    instance_ids = list(cfg.instance_ids)
    if args.instance:
        unknown = [i for i in args.instance if i not in instance_ids]
        if unknown:
            print(f"user-management: --instance {', '.join(unknown)} is not in instance_ids", file=sys.stderr)
            return EXIT_BAD_CONFIG
        instance_ids = [i for i in instance_ids if i in args.instance]
    report_dir = ""
    if args.report:
        from usermgmt_pipeline.review import ReviewDirError, open_bundle

        if not args.dry_run:
            print("user-management: --report needs --dry-run", file=sys.stderr)
            return EXIT_BAD_CONFIG
        try:
            report_dir = str(open_bundle(os.path.abspath(args.report)).clear().root)
        except (ReviewDirError, OSError) as exc:
            print(f"user-management: --report: {exc}", file=sys.stderr)
            return EXIT_BAD_CONFIG
    try:
        configure_logging(cfg.logging)
        # Dagster only when the runs are to be recorded; otherwise its instance would be thrown away
        dagster_instance = open_dagster_instance() if os.environ.get(DAGSTER_HOME_VAR) else None
    except LoggingSetupError as exc:
        print(f"user-management: {exc.key}: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    except DagsterHomeError as exc:
        print(f"user-management: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    with dagster_instance or nullcontext(), stop_on_signals() as received:
        code = run_in_worker_thread(
            lambda: run_all(args, cfg, instance_ids, dagster_instance, report_dir, tasks)
        )
    return EXIT_SIGNAL_BASE + received[0] if received else code


def dagster_runs(
    args: argparse.Namespace, cfg: AppConfig, dagster_instance: Any, report_dir: str, tasks: TaskSet
) -> Callable[[str], InstanceOutcome]:
    """Each instance as an in-process Dagster run of the job, recorded in `dagster_instance`."""
    from usermgmt_pipeline.orchestration.build import build_definitions, config_file_path, run_config

    defs = build_definitions(cfg, config_file_path(), tasks)
    job = defs.resolve_job_def(DRY_RUN_JOB if args.dry_run else USER_MANAGEMENT_JOB)
    options = run_config(
        dry_run=args.dry_run, allow_mass_deletion=args.allow_mass_deletion, report_dir=report_dir
    )
    return lambda instance_id: run_instance(job, dagster_instance, instance_id, options)


def direct_runs(
    args: argparse.Namespace, cfg: AppConfig, databases: CaseDatabasesOnce, report_dir: str, tasks: TaskSet
) -> Callable[[str], InstanceOutcome]:
    """Each instance run by `tasks.instance_run` (no Dagster), the clients shared by all instances."""
    from usermgmt_pipeline.tasks.context import RunOptions
    from usermgmt_pipeline.tasks.instance_run import run_instance as run_tasks

    flags = tasks.ordered([flag for flag, on in cfg.run_tasks.flags().items() if on])
    logger = logging.getLogger("usermgmt_pipeline.run")

    def run(instance_id: str) -> InstanceOutcome:
        options = RunOptions(
            dry_run=args.dry_run,
            allow_mass_deletion=args.allow_mass_deletion,
            run_id=str(uuid.uuid4()),
            report_dir=report_dir,
            run_tasks=flags,
        )
        return instance_outcome(run_tasks(tasks, cfg, databases.get, instance_id, options, logger))

    return run


class CaseDatabasesOnce:
    """The four clients, opened on the first task that needs them (an unreachable database is that task's
    failure, and the next instance tries again), then shared by every instance of the run, closed at the end."""

    def __init__(self, cfg: AppConfig) -> None:
        self._cfg = cfg
        self._databases: CaseDatabases | None = None

    def get(self) -> CaseDatabases:
        if self._databases is None:
            from usermgmt_pipeline.case.connections import CaseDatabases

            self._databases = CaseDatabases.connect(self._cfg.db_configs)
        return self._databases

    def close(self) -> None:
        if self._databases is not None:
            self._databases.close()
            self._databases = None


def run_all(
    args: argparse.Namespace,
    cfg: AppConfig,
    instance_ids: list[str],
    dagster_instance: Any,
    report_dir: str,
    tasks: TaskSet,
) -> int:
    """One run per instance in order, then alerts and the summary; the exit code says whether all went well.
    `dagster_instance` None: the runs are not recorded, and execute without Dagster."""
    started = time.monotonic()
    log.info("Starting user management job")
    if not cfg.run_tasks.enabled():
        print("user-management: no task is enabled in run_tasks; nothing to do", file=sys.stderr)
        return EXIT_OK
    databases = CaseDatabasesOnce(cfg)
    run = (
        dagster_runs(args, cfg, dagster_instance, report_dir, tasks)
        if dagster_instance is not None
        else direct_runs(args, cfg, databases, report_dir, tasks)
    )
    outcomes: list[InstanceOutcome] = []
    try:
        for instance_id in instance_ids:
            if stop_reason() is not None:
                break
            outcomes.append(run(instance_id))
    finally:
        databases.close()
    if stop_reason() is not None:
        print_summary(outcomes, args.dry_run, args.allow_mass_deletion)
        not_started = ", ".join(instance_ids[len(outcomes) :]) or "none"
        print(
            f"user-management: stopped ({stop_reason()}): every user handled is complete; instances not "
            f"started: {not_started}; rerun to finish",
            file=sys.stderr,
        )
        return EXIT_INSTANCE_FAILED
    send_alerts(cfg, outcomes, USER_MANAGEMENT_JOB)
    log.info("User management jobs completed", extra={"duration": f"{time.monotonic() - started:.3f}s"})
    print_summary(outcomes, args.dry_run, args.allow_mass_deletion)
    if report_dir:
        print(f"review bundle: {os.path.join(report_dir, 'index.html')}", file=sys.stderr)
    return exit_code(outcomes, args.dry_run and not args.allow_mass_deletion)


def exit_code(outcomes: Sequence[InstanceOutcome], guard_would_stop: bool = False) -> int:
    """1 when an instance failed (or, in a dry run, would stop at the mass-deletion guard: the code the real
    run would give); 3 when all finished but some users failed; else 0."""
    if not all(o.success for o in outcomes):
        return EXIT_INSTANCE_FAILED
    if guard_would_stop and any(o.guard_would_trip for o in outcomes):
        return EXIT_INSTANCE_FAILED
    return EXIT_USERS_FAILED if any(o.failed_user_count for o in outcomes) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
