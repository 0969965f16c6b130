"""`user-management` as a subprocess, with a real config file, env overrides and the real test server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pymongo import MongoClient

from usermgmt_pipeline_tests.orchestration.bridge_server import running_bridge
from usermgmt_pipeline_tests.orchestration.helpers import (
    break_participants,
    config_document,
    dagster_home,
    id_map_count,
    outgoing_count,
    seed,
    user_count,
    write_config,
)

INSTANCES = ["alpha", "beta"]
CLI = [sys.executable, "-m", "usermgmt_pipeline.cli"]


def run_cli(
    args: list[str], config: Path | None, tmp_path: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("CONFIG_FILE_PATH", "DAGSTER_HOME")}
    environment.update(DAGSTER_DISABLE_TELEMETRY="1", **env)
    if config is not None:
        environment["CONFIG_FILE_PATH"] = str(config)
    return subprocess.run(
        CLI + args, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300, check=False
    )


def state(client: MongoClient, prefix: str) -> list[tuple[int, int, int]]:
    return [
        (user_count(client, prefix, i), outgoing_count(client, prefix, i), id_map_count(client, prefix, i))
        for i in INSTANCES
    ]


@pytest.fixture
def seeded(mongo_client: MongoClient, db_prefix: str) -> None:
    seed(mongo_client, db_prefix, INSTANCES)


def test_runs_every_enabled_task_for_every_instance_and_prints_a_summary(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    before = state(mongo_client, db_prefix)
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, INSTANCES))
    done = run_cli([], config, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "instance alpha: ok" in done.stderr and "instance beta: ok" in done.stderr
    assert "2 instance(s) ok, 0 failed" in done.stderr
    assert "clean_up_unverified_users[beta]: selected=1 done=1" in done.stderr
    after = state(mongo_client, db_prefix)
    for (users0, _, map0), (users1, mails1, map1) in zip(before, after, strict=True):
        assert users1 == users0 - 2 and mails1 > 0 and map0 == 0 and map1 > 0
    assert '"msg": "Starting user management job"' in done.stdout


def _timeless(state: dict[str, list[str]]) -> dict[str, list[str]]:
    """Normalised snapshots of two runs made seconds apart: every integer that is a time near now (seconds,
    milliseconds or nanoseconds; deadlines up to a year ahead) becomes "<t>"."""
    now = time.time()

    def clean(value: object) -> object:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, int) and not isinstance(value, bool):
            for scale in (1, 1_000, 1_000_000_000):
                if (now - 86_400) * scale <= value <= (now + 366 * 86_400) * scale:
                    return "<t>"
        return value

    return {
        name: sorted(json.dumps(clean(json.loads(doc)), sort_keys=True) for doc in docs)
        for name, docs in state.items()
    }


def _summary_without_run_ids(stderr: str) -> list[str]:
    summary = stderr[stderr.index("user-management summary") :]
    return [re.sub(r" \[run [^\]]+\]", "", line) for line in summary.splitlines()]


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_a_run_without_dagster_home_has_the_effects_summary_and_exit_of_a_run_recorded_in_dagster(
    dry_run: bool, tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    """Issue 21: without DAGSTER_HOME the CLI runs the tasks without Dagster (`tasks.instance_run`). On two
    identical copies of a deployment (a study whose participants do not decode, so users fail), the run
    recorded in a Dagster instance and the run without one leave the same documents in every collection and
    print the same summary, and exit alike (3: users failed)."""
    from usermgmt_pipeline_tests.reliability.harness import assert_same_state, clone_databases, snapshot

    plain, recorded = f"{db_prefix}a_", f"{db_prefix}b_"
    seed(mongo_client, plain, INSTANCES)
    break_participants(mongo_client, plain, "beta", "influenzanet")
    clone_databases(mongo_client, plain, mongo_client, recorded)
    home = dagster_home(tmp_path / "dagster_home")
    args = ["--dry-run"] if dry_run else []

    without = run_cli(
        args, write_config(tmp_path / "a.yaml", config_document(mongo_uri, plain, INSTANCES)), tmp_path
    )
    with_home = run_cli(
        args,
        write_config(tmp_path / "b.yaml", config_document(mongo_uri, recorded, INSTANCES)),
        tmp_path,
        DAGSTER_HOME=str(home),
    )

    assert (without.returncode, with_home.returncode) == (3, 3), without.stderr
    assert _summary_without_run_ids(without.stderr) == _summary_without_run_ids(with_home.stderr)
    assert_same_state(_timeless(snapshot(mongo_client, plain)), _timeless(snapshot(mongo_client, recorded)))
    assert any(path.name == "storage" for path in home.iterdir())  # the recorded run did go through Dagster


def test_dry_run_for_one_instance_writes_nothing(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    before = state(mongo_client, db_prefix)
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, INSTANCES))
    done = run_cli(["--dry-run", "--instance", "beta"], config, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "instance beta: ok" in done.stderr and "instance alpha" not in done.stderr
    assert "(dry run" in done.stderr
    assert state(mongo_client, db_prefix) == before


def test_bad_config_exits_non_zero_naming_the_key_and_touches_no_database(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    before = state(mongo_client, db_prefix)
    document = config_document(mongo_uri, db_prefix, INSTANCES)
    document["user_management_config"]["delete_unverified_users_after"] = 168
    done = run_cli([], write_config(tmp_path / "bad.yaml", document), tmp_path)
    assert done.returncode == 2
    assert "user_management_config.delete_unverified_users_after" in done.stderr
    assert state(mongo_client, db_prefix) == before
    assert f"{db_prefix}usermgmt-pipeline" not in mongo_client.list_database_names()


def test_missing_config_file_path_is_reported(tmp_path: Path) -> None:
    done = run_cli([], None, tmp_path)
    assert done.returncode == 2
    assert "CONFIG_FILE_PATH" in done.stderr


def test_unknown_instance_is_refused(tmp_path: Path, mongo_uri: str, db_prefix: str) -> None:
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, INSTANCES))
    done = run_cli(["--instance", "gamma"], config, tmp_path)
    assert done.returncode == 2 and "gamma" in done.stderr


def test_env_override_supplies_the_global_secret(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    document = config_document(
        mongo_uri, db_prefix, INSTANCES, tasks=["generate_profile_id_lookup"], global_secret=""
    )
    config = write_config(tmp_path / "config.yaml", document)
    done = run_cli(["--instance", "alpha"], config, tmp_path, STUDY_GLOBAL_SECRET="from-the-environment")
    assert done.returncode == 0, done.stdout + done.stderr
    assert id_map_count(mongo_client, db_prefix, "alpha") > 0
    assert "from-the-environment" not in done.stdout + done.stderr


def test_mass_deletion_guard_fails_the_instances_and_alerts_then_override_runs(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    before = state(mongo_client, db_prefix)
    with running_bridge() as bridge:
        document = config_document(
            mongo_uri,
            db_prefix,
            INSTANCES,
            orchestration={"max_deletion_share": 0.01, "operator_emails": ["ops@example.org"]},
            smtp_url=bridge.url,
        )
        document["messaging_configs"]["smtp_bridge_config"]["api_key"] = "file-key"
        config = write_config(tmp_path / "config.yaml", document)
        done = run_cli([], config, tmp_path, SMTP_BRIDGE_API_KEY="env-key")
        assert done.returncode == 1
        assert "instance alpha: FAILED (mass-deletion guard tripped)" in done.stderr
        # issue 19: the cause only, not `error: dagster._core.definitions.events.Failure: ...`
        assert (
            "    error: clean_up_unverified_users[alpha]: mass-deletion guard tripped: 2 of " in done.stderr
        )
        assert "dagster._core" not in done.stderr
        assert "0 instance(s) ok, 2 failed" in done.stderr
        assert [u for u, _, _ in state(mongo_client, db_prefix)] == [u for u, _, _ in before]
        assert sorted(r.body["subject"] for r in bridge.requests) == [
            "[user-management] mass-deletion guard tripped: instance alpha",
            "[user-management] mass-deletion guard tripped: instance beta",
        ]
        assert {r.headers["api-key"] for r in bridge.requests} == {"env-key"}
        override = run_cli(["--allow-mass-deletion", "--instance", "alpha"], config, tmp_path)
    assert override.returncode == 0, override.stdout
    assert user_count(mongo_client, db_prefix, "alpha") == before[0][0] - 2


def test_failed_users_exit_3_list_them_and_alert_under_their_own_subject(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    break_participants(mongo_client, db_prefix, "beta", "influenzanet")
    with running_bridge() as bridge:
        document = config_document(
            mongo_uri,
            db_prefix,
            INSTANCES,
            orchestration={"operator_emails": ["ops@example.org"]},
            smtp_url=bridge.url,
        )
        done = run_cli([], write_config(tmp_path / "config.yaml", document), tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "instance alpha: ok" in done.stderr and "instance beta: ok" in done.stderr
    # every participant migration of the broken study fails; the summary counts and lists them
    failed = sum(
        int(n)
        for n in re.findall(
            r"^    \w+\[beta\]: selected=\d+ done=\d+ skipped=\d+ failed=(\d+)$", done.stderr, re.M
        )
    )
    assert failed > 0 and f"{failed} user(s) failed (retried next run)" in done.stderr
    assert "migrate_account_info: user " in done.stderr and "studyStatus" in done.stderr
    assert [r.body["subject"] for r in bridge.requests] == [
        f"[user-management] {failed} user(s) failed: instance beta"
    ]


def test_an_instance_failure_exits_1_even_when_users_failed_elsewhere(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    break_participants(mongo_client, db_prefix, "beta", "influenzanet")
    mongo_client[f"{db_prefix}alpha_messageDB"]["email-templates"].delete_many(
        {"messageType": "account-deleted"}
    )
    document = config_document(mongo_uri, db_prefix, INSTANCES)
    done = run_cli([], write_config(tmp_path / "config.yaml", document), tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "instance alpha: FAILED" in done.stderr and "user(s) failed" in done.stderr


def test_console_script_runs_the_cli(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "user-management"
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    assert (
        "--dry-run" in done.stdout and "--instance" in done.stdout and "--allow-mass-deletion" in done.stdout
    )


def test_help_names_history_the_exit_codes_and_the_environment_variables(tmp_path: Path) -> None:
    done = run_cli(["--help"], None, tmp_path)
    assert done.returncode == 0, done.stderr
    usage = done.stdout[: done.stdout.index("\n\n")]
    assert "user-management history --instance ID (--user USER_ID | --email ADDRESS)" in usage
    exit_codes = done.stdout[done.stdout.index("exit codes:") :]
    for code in ("0 ", "1 ", "2 ", "3 ", "130, 143 "):
        assert f"\n  {code}" in exit_codes, code
    for variable in (
        "CONFIG_FILE_PATH",
        "DAGSTER_HOME",
        "PARTICIPANT_USER_DB_PASSWORD",
        "STUDY_DB_USERNAME",
        "SMTP_BRIDGE_API_KEY",
        "STUDY_GLOBAL_SECRET",
        "USERMGMT_ACCOUNT_HASH_KEY",
        "EXTERNAL_SERVICE_API_KEY_FOR_<NAME>",
    ):
        assert variable in done.stdout, variable


def test_version_prints_the_installed_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    done = run_cli(["--version"], None, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"user-management {version('usermgmt_pipeline')}"


def test_runs_are_recorded_in_the_dagster_home_instance_when_set(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None
) -> None:
    from dagster import DagsterInstance

    home = dagster_home(tmp_path / "dagster_home")
    document = config_document(mongo_uri, db_prefix, INSTANCES, tasks=["generate_profile_id_lookup"])
    config = write_config(tmp_path / "config.yaml", document)
    done = run_cli(["--dry-run"], config, tmp_path, DAGSTER_HOME=str(home))
    assert done.returncode == 0, done.stderr
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert sorted(run.tags["dagster/partition"] for run in runs) == INSTANCES
        assert all(run.tags["usermgmt/launched_by"] == "cli" for run in runs)
        assert all(run.run_config["resources"]["run_options"]["config"]["dry_run"] for run in runs)


def test_a_dry_run_records_nothing_in_the_asset_catalog_and_its_summary_names_samples_and_caveat(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    """Issue 22: a dry run leaves no materialization or check result; its summary lists the sample ids and
    says why its counts may exceed the real run's."""
    from dagster import AssetKey, DagsterEventType, DagsterInstance

    home = dagster_home(tmp_path / "dagster_home")
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, INSTANCES))
    unverified = mongo_client[f"{db_prefix}beta_users"][
        "users"
    ].find_one(  # the seed's first: due for deletion
        {"account.accountID": "beta.user0@example.org"}
    )

    done = run_cli(["--dry-run"], config, tmp_path, DAGSTER_HOME=str(home))

    assert done.returncode == 0, done.stderr
    assert "clean_up_unverified_users[beta] (dry run): selected=1" in done.stderr
    assert f"sample ids: {unverified['_id']}" in done.stderr
    assert "counts may exceed the real run's" in done.stderr
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert len(runs) == 2
        logged = {
            record.dagster_event.event_type
            for run in runs
            for record in instance.all_logs(run.run_id)
            if record.dagster_event
        }
        assert DagsterEventType.STEP_OUTPUT in logged  # the counts travel in the ops' output events
        assert not logged & {
            DagsterEventType.ASSET_MATERIALIZATION,
            DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
            DagsterEventType.ASSET_CHECK_EVALUATION,
        }
        assert instance.get_latest_materialization_event(AssetKey("generate_profile_id_lookup")) is None


# --- start-up problems: one clear line, exit 2, no database -------------------------------------------

UNWRITABLE_DIR = Path("/sys/kernel")  # read-only even for root, unlike a chmod-ed folder


def _is_unwritable(folder: Path) -> bool:
    try:
        (folder / "usermgmt-probe").open("w").close()
    except OSError:
        return True
    return False


def _log_to(filename: str) -> dict:
    return {"log_level": "info", "log_to_file": True, "filename": filename, "include_build_info": "never"}


def _broken_dagster_home(tmp_path: Path) -> str:
    home = tmp_path / "broken_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: [not, a, bool\n")
    return str(home)


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("x")
    return path


STARTUP_PROBLEMS = {
    # name: (logging section or None, extra env, files in the working directory, what the line must name)
    "log-file-in-an-unwritable-folder": (
        lambda tmp: (_log_to(str(UNWRITABLE_DIR / "usermgmt.log")), {}),
        "logging.filename",
    ),
    "log-file-is-a-folder": (lambda tmp: (_log_to(str(tmp)), {}), "logging.filename"),
    "log-file-under-a-file": (lambda tmp: (_log_to(str(_file(tmp) / "x.log")), {}), "logging.filename"),
    "dagster-home-missing": (lambda tmp: (None, {"DAGSTER_HOME": str(tmp / "nowhere")}), "DAGSTER_HOME"),
    "dagster-home-a-file": (lambda tmp: (None, {"DAGSTER_HOME": str(_file(tmp))}), "DAGSTER_HOME"),
    "dagster-home-relative": (lambda tmp: (None, {"DAGSTER_HOME": "relative/home"}), "DAGSTER_HOME"),
    "dagster-home-unwritable": (lambda tmp: (None, {"DAGSTER_HOME": str(UNWRITABLE_DIR)}), "DAGSTER_HOME"),
    "dagster-home-broken-dagster-yaml": (
        lambda tmp: (None, {"DAGSTER_HOME": _broken_dagster_home(tmp)}),
        "dagster.yaml",
    ),
    "build-info-not-utf8": (
        lambda tmp: (
            (tmp / "build-info.yaml").write_bytes(b"version: caf\xe9\n")
            and {"log_level": "info", "include_build_info": "once"},
            {},
        ),
        "logging.include_build_info",
    ),
}


@pytest.mark.parametrize("problem", sorted(STARTUP_PROBLEMS))
def test_a_start_up_problem_is_one_line_and_exit_2_before_any_database_is_created(
    problem: str, tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    assert _is_unwritable(UNWRITABLE_DIR)
    make, named = STARTUP_PROBLEMS[problem]
    logging_section, env = make(tmp_path)
    document = config_document(mongo_uri, db_prefix, INSTANCES, logging_section=logging_section)
    config = write_config(tmp_path / "config.yaml", document)

    done = run_cli([], config, tmp_path, **env)

    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("user-management: ") and named in lines[0], done.stderr
    assert not [name for name in mongo_client.list_database_names() if name.startswith(db_prefix)]


# --- connection failures: the summary states the cause ------------------------------------------------


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_a_wrong_database_password_is_stated_in_the_summary_without_the_secret(
    dry_run: bool,
    tmp_path: Path,
    auth_mongo_server,  # type: ignore[no-untyped-def]
) -> None:
    document = config_document(auth_mongo_server.uri, "authfail_", ["alpha"])
    for db in document["db_configs"].values():
        db["username"], db["password"] = "case-admin", "Wr0ng-Secret-in-file"
    config = write_config(tmp_path / "config.yaml", document)

    done = run_cli(
        ["--dry-run"] if dry_run else [], config, tmp_path, STUDY_DB_PASSWORD="Wr0ng-Secret-in-env"
    )

    assert done.returncode == 1, done.stdout + done.stderr
    summary = done.stderr[done.stderr.index("user-management summary") :]
    assert "instance alpha: FAILED" in summary
    (error_line,) = [line.strip() for line in summary.splitlines() if line.strip().startswith("error: ")]
    assert (
        "DatabaseConnectionError: could not connect to participant_user_db: authentication failed"
        in error_line
    )
    assert "DagsterExecutionStepExecutionError" not in summary
    assert "Wr0ng-Secret" not in done.stdout + done.stderr


@pytest.mark.parametrize("recorded", [False, True], ids=["not-recorded", "recorded-in-dagster-home"])
def test_a_failed_login_is_one_line_with_its_cause_and_internals_only_at_debug_level(
    recorded: bool,
    tmp_path: Path,
    auth_mongo_server,  # type: ignore[no-untyped-def]
) -> None:
    """Issue 22: one wrong password printed 17 KB on stdout (log lines of up to 9.9 KB embedding serialized
    Dagster events with stack traces). The JSON log lines stay on stdout, short, each failure with its cause
    in one attribute; the summary is on stderr; stack traces (and, for a run recorded in DAGSTER_HOME,
    Dagster's events) only at debug level. Without DAGSTER_HOME the tasks run without Dagster (issue 21):
    the failed task's record names the task."""
    document = config_document(auth_mongo_server.uri, "authfail_", ["alpha"])
    for db in document["db_configs"].values():
        db["username"], db["password"] = "case-admin", "Wr0ng-Secret-in-file"
    config = write_config(tmp_path / "config.yaml", document)
    cause = "DatabaseConnectionError: could not connect to participant_user_db: authentication failed"
    env = {}
    if recorded:
        home = dagster_home(tmp_path / "dagster_home")
        env["DAGSTER_HOME"] = str(home)

    def failures(stdout: str) -> list[dict[str, str]]:
        records = [json.loads(line) for line in stdout.splitlines()]  # the CASE log format: JSON lines only
        if recorded:
            return [r for r in records if r.get("event") == "STEP_FAILURE"]
        return [r for r in records if r["level"] == "ERROR" and r.get("task") == "clean_up_unverified_users"]

    done = run_cli([], config, tmp_path, **env)

    assert done.returncode == 1, done.stdout + done.stderr
    assert len(done.stdout) < 4000, done.stdout
    assert all(len(line) < 600 for line in done.stdout.splitlines())
    [failed_step] = failures(done.stdout)
    assert failed_step["error"].startswith(cause)
    for internal in (
        "Traceback",
        'File "',
        "dagster._core",
        "DagsterEvent(",
        "dagster_event",
        "error_detail",
    ):
        assert internal not in done.stdout + done.stderr, internal
    assert "user-management summary" not in done.stdout
    errors = [line for line in done.stderr.splitlines() if line.strip().startswith("error:")]
    assert len(errors) == 1 and errors[0].strip().startswith(f"error: {cause}")

    document["logging"] = {"log_level": "debug", "include_build_info": "never"}
    debug = run_cli([], write_config(tmp_path / "debug.yaml", document), tmp_path, **env)

    assert debug.returncode == 1
    [failure] = failures(debug.stdout)
    assert failure["error"].startswith(cause) and "in make_client" in failure["error_detail"]  # the stack
    if recorded:
        assert failure["dagster_event"].startswith("DagsterEvent(")
    else:
        assert "DagsterEvent(" not in debug.stdout
    assert "Wr0ng-Secret" not in debug.stdout + debug.stderr


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_an_unreachable_database_is_stated_in_the_summary(dry_run: bool, tmp_path: Path) -> None:
    from devtools.local_mongo import free_port

    document = config_document(f"mongodb://127.0.0.1:{free_port()}", "unreachable_", ["alpha"])
    for db in document["db_configs"].values():
        db["timeout"] = 2
    config = write_config(tmp_path / "config.yaml", document)

    done = run_cli(["--dry-run"] if dry_run else [], config, tmp_path)

    assert done.returncode == 1, done.stdout + done.stderr
    summary = done.stderr[done.stderr.index("user-management summary") :]
    (error_line,) = [line.strip() for line in summary.splitlines() if line.strip().startswith("error: ")]
    assert (
        "DatabaseConnectionError: could not connect to participant_user_db: no server reachable: 127.0.0.1:"
        in error_line
    )
    assert "Connection refused" in summary


def test_a_cli_run_parses_the_config_once(
    tmp_path: Path,
    mongo_uri: str,
    db_prefix: str,
    seeded: None,
    mongo_client: MongoClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CLI, every resource and every step ask for the config; the document is composed once."""
    from usermgmt_pipeline import cli
    from usermgmt_pipeline.config import loader

    composed: list[int] = []
    compose = loader.compose_document
    monkeypatch.setattr(loader, "compose_document", lambda text: composed.append(1) or compose(text))
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, INSTANCES))
    monkeypatch.setenv("CONFIG_FILE_PATH", str(config))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    users_before = user_count(mongo_client, db_prefix, "alpha")

    assert cli.main(["--instance", "alpha"]) == 0

    assert user_count(mongo_client, db_prefix, "alpha") == users_before - 2
    assert len(composed) == 1


# --- SIGINT / SIGTERM: stop the whole job between two users ---------------------------------------------

SIGNAL_INSTANCES = ["alpha", "beta", "gamma"]
DUE_USERS = 40
SIGNAL_BATCH = 5


def _deletion_emails(client: MongoClient, prefix: str, instance_id: str) -> int:
    outgoing = client[f"{prefix}{instance_id}_messageDB"]["outgoing-emails"]
    return outgoing.count_documents({"messageType": "account-deleted"})


def _instance_state(client: MongoClient, prefix: str, instance_id: str) -> tuple[int, int, int, int]:
    journal = client[f"{prefix}usermgmt-pipeline"]["journal"]
    return (
        user_count(client, prefix, instance_id),
        outgoing_count(client, prefix, instance_id),
        id_map_count(client, prefix, instance_id),
        journal.count_documents({"instanceID": instance_id}),
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_whole_job_after_the_current_user_and_a_rerun_finishes(
    signum: int, tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    """Three instances; the first has many unverified accounts to delete (in batches of 5, each erased from
    every study). A signal mid-deletion: the batch in flight is finished, nobody after it is touched, the later
    instances are not started, the exit code says which signal. The rerun completes everything."""
    from bson import ObjectId

    from usermgmt_pipeline.demo.documents import user_document
    from usermgmt_pipeline.demo.seed import DELETE_UNVERIFIED_AFTER, HOUR

    now = seed(mongo_client, db_prefix, SIGNAL_INSTANCES)
    due = [
        user_document(
            account_id=f"due{i}@example.org",
            created_at=now - DELETE_UNVERIFIED_AFTER - HOUR,
            profiles=[(ObjectId(), True)],
        )
        for i in range(DUE_USERS)
    ]
    mongo_client[f"{db_prefix}alpha_users"]["users"].insert_many(due)
    later = {i: _instance_state(mongo_client, db_prefix, i) for i in SIGNAL_INSTANCES[1:]}
    document = config_document(
        mongo_uri, db_prefix, SIGNAL_INSTANCES, orchestration={"batch_size": SIGNAL_BATCH}
    )
    config = write_config(tmp_path / "config.yaml", document)
    environment = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME",)}
    environment.update(DAGSTER_DISABLE_TELEMETRY="1", CONFIG_FILE_PATH=str(config))
    proc = subprocess.Popen(
        [*CLI, "--allow-mass-deletion"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while _deletion_emails(mongo_client, db_prefix, "alpha") < 3:
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before the signal"
        time.sleep(0.02)

    proc.send_signal(signum)
    at_signal = _deletion_emails(mongo_client, db_prefix, "alpha")
    stdout, stderr = proc.communicate(timeout=120)

    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, stdout + stderr
    assert f"user-management: {name} received: finishing the users in flight (the current batch)" in stderr
    assert "instances not started: beta, gamma" in stderr and "Traceback" not in stderr
    assert "instance alpha: FAILED" in stderr and "instance beta" not in stderr
    sent = _deletion_emails(mongo_client, db_prefix, "alpha")
    assert at_signal <= sent <= at_signal + SIGNAL_BATCH, (
        "only the batch in flight may get emails after the signal"
    )
    assert sent < DUE_USERS
    assert user_count(mongo_client, db_prefix, "alpha") > 0
    journal = mongo_client[f"{db_prefix}usermgmt-pipeline"]["journal"]
    assert journal.count_documents({"state": {"$ne": "done"}}) == 0, "the user in flight was left half done"
    assert {i: _instance_state(mongo_client, db_prefix, i) for i in SIGNAL_INSTANCES[1:]} == later

    rerun = run_cli(["--allow-mass-deletion"], config, tmp_path)

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    outgoing = mongo_client[f"{db_prefix}alpha_messageDB"]["outgoing-emails"]
    users = mongo_client[f"{db_prefix}alpha_users"]["users"]
    for user in due:
        assert users.count_documents({"_id": user["_id"]}) == 0
        assert outgoing.count_documents({"userId": str(user["_id"]), "messageType": "account-deleted"}) == 1
    for instance_id, (users_before, _, _, _) in later.items():  # the later instances ran in full this time
        assert user_count(mongo_client, db_prefix, instance_id) < users_before
        assert id_map_count(mongo_client, db_prefix, instance_id) > 0


def test_a_template_that_fails_some_language_fails_the_instance_before_anyone_is_deleted(
    tmp_path: Path, mongo_uri: str, db_prefix: str, seeded: None, mongo_client: MongoClient
) -> None:
    """A `defaultLanguage` without a translation used to let the clean-up delete users whose language has
    none, without their email, and exit 0; now the pre-flight fails the instance, names the problem, exits 1."""
    alpha_users = mongo_client[f"{db_prefix}alpha_users"]["users"]
    mongo_client[f"{db_prefix}alpha_messageDB"]["email-templates"].update_one(
        {"messageType": "account-deleted"}, {"$set": {"defaultLanguage": "xx"}}
    )
    alpha_users.update_many({}, {"$set": {"account.preferredLanguage": "it"}})
    unverified_before = alpha_users.count_documents({"account.accountConfirmedAt": 0})
    document = config_document(mongo_uri, db_prefix, INSTANCES, tasks=["clean_up_unverified_users"])

    done = run_cli([], write_config(tmp_path / "config.yaml", document), tmp_path)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "instance alpha: FAILED" in done.stderr and "instance beta: ok" in done.stderr
    assert "defaultLanguage 'xx' names no translation" in done.stderr
    assert alpha_users.count_documents({"account.accountConfirmedAt": 0}) == unverified_before
    assert outgoing_count(mongo_client, db_prefix, "alpha") == 0
