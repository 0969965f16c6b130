"""A sixth task, declared once in this test, is picked up by the config, the Dagster definitions, the CLI, the
dry-run review and the mass-deletion guard: nothing else is edited, and no module global is patched."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from dagster import AssetKey, DagsterInstance
from pymongo import MongoClient

from usermgmt_pipeline import cli
from usermgmt_pipeline.config import ConfigError, TaskFlag, Threshold, load_config
from usermgmt_pipeline.demo.documents import user_document
from usermgmt_pipeline.emails.task_email import TaskEmail
from usermgmt_pipeline.orchestration.build import USER_MANAGEMENT_JOB, build_definitions, run_config
from usermgmt_pipeline.orchestration.dry_run_job import OP_PREFIX
from usermgmt_pipeline.orchestration.task_assets import DRY_RUN_JOB
from usermgmt_pipeline.review.collect import ReviewPlan
from usermgmt_pipeline.tasks.checkpoints import Step
from usermgmt_pipeline.tasks.context import RunOptions, TaskContext
from usermgmt_pipeline.tasks.declaration import DeletingStep, TaskDeclaration, TaskSet
from usermgmt_pipeline.tasks.deletion_plan import guard_run_deletions
from usermgmt_pipeline.tasks.iteration import dry_run, run_in_batches
from usermgmt_pipeline.tasks.registry import DECLARATIONS, PACKAGE_TASKS, task_runners
from usermgmt_pipeline.tasks.results import Outcome, TaskResult
from usermgmt_pipeline_tests.orchestration.helpers import config_document, seed, write_config

TOY = "purge_test_accounts"
TOY_ACCOUNTS = [f"toy{i}@example.org" for i in range(3)]
SELECTION: dict[str, Any] = {"account.accountID": {"$in": TOY_ACCOUNTS}}
TOY_EMAIL = TaskEmail("account-deleted")


def toy_selection(ctx: TaskContext) -> dict[str, Any]:
    return SELECTION


TOY_DELETES = DeletingStep(TOY, accounts=toy_selection)


def purge_test_accounts(ctx: TaskContext) -> TaskResult:
    """Deletes the test accounts, under the run's mass-deletion guard (a toy: no journal, no email)."""
    result = TaskResult(TOY, ctx.instance_id)
    if ctx.options.dry_run:
        plan = ReviewPlan("delete", TOY_EMAIL, "test accounts", int(time.time()), ("created_at",))
        dry_run(ctx, TOY, SELECTION, result, plan)
        guard_run_deletions(ctx, TOY_DELETES, result)
        return result
    guard_run_deletions(ctx, TOY_DELETES, result)

    def delete(users: list[Any]) -> dict[str, Outcome]:
        ctx.lease.check(TOY)
        ctx.users.delete_many_if_selected([ObjectId(u.id) for u in users], SELECTION)
        return {}

    run_in_batches(ctx, TOY, SELECTION, result, delete)
    return result


TOY_DECLARATION = TaskDeclaration(
    flag=TaskFlag(TOY, (Threshold("delete_unverified_users_after", "a toy needs a threshold too"),)),
    run=purge_test_accounts,
    describe=lambda cfg: f"**Deletes** the accounts {', '.join(TOY_ACCOUNTS)}.",
    emails=(TOY_EMAIL,),
    deletes=(TOY_DELETES,),
    crash_points=(Step.DELETE_USER_DELETED,),
)
TOY_TASKS = TaskSet((*DECLARATIONS, TOY_DECLARATION))


def toy_config(tmp_path: Path, mongo_uri: str, db_prefix: str, **extra: Any) -> Path:
    document = config_document(mongo_uri, db_prefix, ["alpha"])
    document["run_tasks"][TOY] = True
    document.update(extra)
    return write_config(tmp_path / "config.yaml", document)


def seed_toy_users(mongo_client: MongoClient, db_prefix: str) -> None:
    seed(mongo_client, db_prefix, ["alpha"])
    users = mongo_client[f"{db_prefix}alpha_users"]["users"]
    now = int(time.time())
    users.insert_many(
        [user_document(account_id=a, created_at=now, confirmed_at=now, last_login=now) for a in TOY_ACCOUNTS]
    )


def toy_users_left(mongo_client: MongoClient, db_prefix: str) -> int:
    return mongo_client[f"{db_prefix}alpha_users"]["users"].count_documents(SELECTION)


def test_the_toy_tasks_flag_loads_and_validates_only_where_it_is_declared(
    tmp_path: Path, mongo_uri: str, db_prefix: str
) -> None:
    path = toy_config(tmp_path, mongo_uri, db_prefix)

    cfg = load_config(path, flags=TOY_TASKS.flags)

    assert cfg.run_tasks.enabled()[-2:] == ["migrate_account_info", TOY]
    with pytest.raises(ConfigError) as unknown:  # the package's own tasks do not know it
        load_config(path, flags=PACKAGE_TASKS.flags)
    assert f"run_tasks.{TOY}" in str(unknown.value)
    zero = config_document(mongo_uri, db_prefix, ["alpha"], tasks=())
    zero["run_tasks"][TOY] = True
    zero["user_management_config"]["delete_unverified_users_after"] = "0s"
    with pytest.raises(ConfigError) as threshold:  # its declared threshold is enforced
        load_config(write_config(tmp_path / "zero.yaml", zero), flags=TOY_TASKS.flags)
    assert f"because run_tasks.{TOY} is enabled" in str(threshold.value)


def test_the_dagster_definitions_have_an_asset_and_a_dry_run_op_that_run_it_after_the_others(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    seed_toy_users(mongo_client, db_prefix)
    path = toy_config(tmp_path, mongo_uri, db_prefix, orchestration={"max_deletion_share": 0.5})
    defs = build_definitions(load_config(path, flags=TOY_TASKS.flags), str(path), TOY_TASKS)

    spec = defs.resolve_assets_def(TOY).specs_by_key[AssetKey(TOY)]
    assert spec.description is not None and "toy0@example.org" in spec.description
    assert AssetKey("migrate_account_info") in {dep.asset_key for dep in spec.deps}
    dry_job = defs.resolve_job_def(DRY_RUN_JOB)
    assert OP_PREFIX + TOY in {node.name for node in dry_job.nodes}
    with DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(USER_MANAGEMENT_JOB).execute_in_process(
            partition_key="alpha", run_config=run_config(), instance=instance
        )
        assert result.success
        [materialization] = result.asset_materializations_for_node(TOY)
        assert materialization.metadata["selected"].value == len(TOY_ACCOUNTS)
        assert materialization.metadata["done"].value == len(TOY_ACCOUNTS)
    assert toy_users_left(mongo_client, db_prefix) == 0


@pytest.fixture
def cli_config(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Seeded users (the demo's and the toy's) and the config file the in-process CLI reads."""
    seed_toy_users(mongo_client, db_prefix)
    path = toy_config(tmp_path, mongo_uri, db_prefix, orchestration={"max_deletion_share": 0.5})
    monkeypatch.setenv("CONFIG_FILE_PATH", str(path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return path


def test_the_cli_runs_it_last_and_lists_it_in_the_summary(
    cli_config: Path, db_prefix: str, mongo_client: MongoClient, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main([], tasks=TOY_TASKS)

    summary = capsys.readouterr().err
    assert code == cli.EXIT_OK, summary
    lines = [line.strip() for line in summary.splitlines()]
    tasks = [line.split("[", 1)[0] for line in lines if "[alpha]" in line]
    assert tasks[-2:] == ["migrate_account_info", TOY]
    assert f"{TOY}[alpha]: selected=3 done=3 skipped=0 failed=0" in lines
    assert toy_users_left(mongo_client, db_prefix) == 0


def test_the_dry_run_review_lists_its_users_and_the_guard_counts_its_deletions(
    cli_config: Path,
    tmp_path: Path,
    db_prefix: str,
    mongo_client: MongoClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = tmp_path / "review"

    code = cli.main(["--dry-run", "--report", str(report)], tasks=TOY_TASKS)

    assert code == cli.EXIT_OK, capsys.readouterr().err
    rows = [json.loads(line) for line in (report / "users.jsonl").read_text().splitlines()]
    toy_rows = [row for row in rows if row["task"] == TOY]
    assert sorted(row["account_id"] for row in toy_rows) == TOY_ACCOUNTS
    assert {row["planned_action"] for row in toy_rows} == {"delete"}
    assert toy_users_left(mongo_client, db_prefix) == len(TOY_ACCOUNTS)  # a dry run deletes nothing

    cfg = load_config(cli_config, flags=TOY_TASKS.flags)
    flags = tuple(cfg.run_tasks.enabled())

    def first_verdict(tasks: TaskSet) -> Any:
        ctx = TaskContext(config=cfg, dbs=_databases(cfg), instance_id="alpha")
        ctx.options = RunOptions(dry_run=True, run_tasks=tasks.ordered(flags))
        try:
            [result] = task_runners(tasks)["clean_up_unverified_users"](ctx)
        finally:
            ctx.dbs.close()
        return result.guard

    with_toy, without = first_verdict(TOY_TASKS), first_verdict(PACKAGE_TASKS)
    assert with_toy.candidates == without.candidates + len(TOY_ACCOUNTS)
    assert (
        f"would be deleted by this run (clean_up_unverified_users, delete_marked_users, orphan_id_map_entries, {TOY})"
        in (with_toy.verdict)
    )


def _databases(cfg: Any) -> Any:
    from usermgmt_pipeline.case.connections import CaseDatabases

    return CaseDatabases.connect(cfg.db_configs)
