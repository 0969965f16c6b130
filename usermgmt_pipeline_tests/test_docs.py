"""The code cites docs/ (in the repository), never the reference outside it; every cited section exists."""

from __future__ import annotations

import re
from pathlib import Path

from usermgmt_pipeline_tests.conftest import REPO_ROOT
from usermgmt_pipeline_tests.orchestration.helpers import dagster_home

SOURCES = [
    *sorted((REPO_ROOT / "usermgmt_pipeline").rglob("*.py")),
    *sorted((REPO_ROOT / "usermgmt_pipeline_tests").rglob("*.py")),
    *sorted((REPO_ROOT / "benchmarks").rglob("*.py")),
    REPO_ROOT / "README.md",
]
CITATION = re.compile(r"docs/([\w-]+\.md) ((?:§[\d.]+(?:-[\d.]+)?(?:, )?)+)")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path != Path(__file__) else ""


def test_no_source_cites_the_reference_outside_the_repository() -> None:
    outside = re.compile(r"reference/|(?<![\w.-])0[0-3] §|00-decisions")
    assert not [str(p.relative_to(REPO_ROOT)) for p in SOURCES if outside.search(_text(p))]


def test_every_cited_docs_section_exists() -> None:
    missing = []
    for path in SOURCES:
        for doc, sections in CITATION.findall(_text(path)):
            headings = (REPO_ROOT / "docs" / doc).read_text(encoding="utf-8")
            for section in (s.rstrip(".") for s in re.findall(r"§([\d.]+)", sections)):
                if not re.search(rf"^#+ {re.escape(section)}\.? ", headings, re.M):
                    missing.append(f"{path.relative_to(REPO_ROOT)}: docs/{doc} §{section}")
    assert not missing


# --- issue 22: what an operator needs before the first real run -----------------------------------------

README = REPO_ROOT / "README.md"
EXAMPLE_CONFIG = REPO_ROOT / "config.example.yaml"


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def _code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^ *```{language}\n(.*?)^ *```", text, re.M | re.S)


def _example_env() -> dict[str, str]:
    from usermgmt_pipeline.config.env_overrides import (
        ACCOUNT_HASH_KEY,
        SMTP_BRIDGE_API_KEY,
        STUDY_GLOBAL_SECRET,
        db_credential_env_vars,
    )
    from usermgmt_pipeline.config.rules import DB_KEYS

    env = {
        SMTP_BRIDGE_API_KEY: "k",
        STUDY_GLOBAL_SECRET: "s",
        ACCOUNT_HASH_KEY: "an-account-hash-key-of-32-chars!",
    }
    for key in DB_KEYS:
        username, password = db_credential_env_vars(key)
        env.update({username: "usermgmt", password: "p%40ss"})
    return env


def test_the_example_config_ships_in_the_repository_and_loads_with_secrets_from_the_environment() -> None:
    from usermgmt_pipeline.config import ConfigError, load_config

    assert "(config.example.yaml)" in _readme() and "../shared/seed" not in _readme()
    cfg = load_config(EXAMPLE_CONFIG, _example_env())
    assert (
        cfg.orchestration.account_hash_key.get_secret_value() == _example_env()["USERMGMT_ACCOUNT_HASH_KEY"]
    )
    assert cfg.db_configs.study_db.username.get_secret_value() == "usermgmt"
    # the first real run: the non-destructive tasks only
    assert not cfg.run_tasks.clean_up_unverified_users and not cfg.run_tasks.handle_inactive_users
    assert cfg.run_tasks.generate_profile_id_lookup and cfg.orchestration.report_dir
    try:
        load_config(EXAMPLE_CONFIG, {})
    except ConfigError as exc:  # its placeholders are empty: the secrets must come from the environment
        assert "study_configs.global_secret" in str(exc)
    else:
        raise AssertionError("the example loaded without its secrets")


def test_the_readme_has_the_first_real_run_and_deployment_sections() -> None:
    text = _readme()
    for heading in ("## Installing without make or Go", "### The first real run"):
        assert re.search(rf"^{re.escape(heading)}$", text, re.M), heading
    first_run = text[text.index("### The first real run") :]
    first_run = first_run[: first_run.index("\n## ")]
    for database in ("P<I>_users", "P<I>_studyDB", "P<I>_messageDB", "Pglobal-infos"):
        assert re.search(rf"mongodump .*--db \"{re.escape(database)}\"", first_run), database
    for topic in ("cannot be undone", "--dry-run --report", "outgoing-emails", "emailID", "run_tasks"):
        assert topic in first_run, topic
    for topic in (
        "authSource=admin",
        "tls=true",
        "replicaSet=rs0",
        "readWrite",
        "usermgmt-pipeline",
        "pip install",
    ):
        assert topic in text, topic
    assert "ship stopped" in text and "DAGSTER_HOME" in text


def test_the_readmes_commands_start_the_schedule_and_every_sensor(tmp_path: Path) -> None:
    """The commands of the README, run as written against a fresh Dagster instance: all four start."""
    import os
    import shlex
    import subprocess
    import sys

    from dagster import DagsterInstance
    from dagster._core.scheduler.instigation import InstigatorStatus

    home = dagster_home(tmp_path / "dagster_home")
    commands = [
        line
        for block in _code_blocks(_readme(), "bash")
        for line in block.splitlines()
        if re.match(r"dagster (schedule|sensor) start ", line)
    ]
    assert len(commands) == 4
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "CONFIG_FILE_PATH": str(REPO_ROOT / "usermgmt_pipeline" / "demo" / "demo_config.yaml"),
        "PYTHONPATH": str(REPO_ROOT),
    }
    dagster = str(Path(sys.executable).parent / "dagster")
    for command in commands:
        argv = shlex.split(command)
        done = subprocess.run(
            [dagster, *argv[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, command + "\n" + done.stderr[-2000:]
    with DagsterInstance.from_config(str(home)) as instance:
        states = {s.name: s.status for s in instance.all_instigator_state()}
    assert states == {
        name: InstigatorStatus.RUNNING
        for name in (
            "user_management_schedule",
            "new_active_study_sensor",
            "operator_alert_sensor",
            "failed_users_alert_sensor",
        )
    }


def test_the_compose_example_sets_every_database_username_with_its_password() -> None:
    """Our own rule: a password without its username is a configuration error."""
    [block] = [b for b in _code_blocks(_readme(), "bash") if "docker compose up" in b]
    set_vars = set(re.findall(r"\b([A-Z_]+)=", block))
    passwords = {v for v in set_vars if v.endswith("_DB_PASSWORD")}
    assert len(passwords) == 4
    assert {p.replace("_PASSWORD", "_USERNAME") for p in passwords} <= set_vars
    assert "USERMGMT_ACCOUNT_HASH_KEY" in set_vars


def test_review_bundles_get_a_volume_in_compose_and_helm_where_the_example_config_writes_them() -> None:
    import yaml

    from usermgmt_pipeline.config import load_config

    report_dir = load_config(EXAMPLE_CONFIG, _example_env()).orchestration.report_dir
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text())
    mounts = compose["services"]["code-location"]["volumes"]
    assert f"usermgmt-reports:{report_dir}" in mounts and "usermgmt-reports" in compose["volumes"]
    [helm] = [yaml.safe_load(b) for b in _code_blocks(_readme(), "yaml") if "dagster-user-deployments" in b]
    [deployment] = helm["dagster-user-deployments"]["deployments"]
    assert report_dir in [m["mountPath"] for m in deployment["volumeMounts"]]
    assert "/var/lib/usermgmt/reports" in (REPO_ROOT / "Dockerfile").read_text()
