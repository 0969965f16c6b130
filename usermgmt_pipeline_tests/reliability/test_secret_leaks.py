"""Known secret values in config and env; every task, a failing run and the CLI; zero hits anywhere.

Scanned: every log record at DEBUG (message, args and formatted exception), every exception text and
repr, the task results, and for the CLI its stdout, stderr and log file.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from urllib.parse import quote

import pytest
from pymongo import MongoClient

from devtools.local_mongo import LocalMongoServer
from usermgmt_pipeline.demo.seed import seed_instance
from usermgmt_pipeline.tasks.registry import TASKS
from usermgmt_pipeline_tests.reliability.conftest import NOW_NS, NOW_S
from usermgmt_pipeline_tests.reliability.harness import (
    INSTANCE,
    REPO_ROOT,
    drop_prefix,
    new_prefix,
    run_task,
    write_config,
)

GLOBAL_SECRET = "GLOBAL-secret-55c1e0"
SMTP_KEY = "smtp-KEY-7f3a91"
EXTERNAL_KEY = "ext-KEY-9d2b44"
EXTERNAL_KEY_FROM_ENV = "ext-ENV-KEY-31aa07"
SMTP_KEY_FROM_ENV = "smtp-ENV-KEY-0be2"
EXTERNAL_SERVICES = (
    '[{"name": "leave-handler", "url": "http://127.0.0.1:9/leave", "api_key": "%s", "timeout": 2}]'
)


def _secrets(server: LocalMongoServer) -> list[str]:
    return [
        server.password,
        _go_escaped(server.password),
        GLOBAL_SECRET,
        SMTP_KEY,
        EXTERNAL_KEY,
        EXTERNAL_KEY_FROM_ENV,
        SMTP_KEY_FROM_ENV,
    ]


def _go_escaped(password: str) -> str:
    """The config form of the password: ':' '@' '/' '%' percent-encoded, as the Go job requires."""
    return quote(password, safe="+")


@pytest.fixture
def auth_instance(
    auth_mongo_server: LocalMongoServer, tmp_path: Path
) -> Iterator[tuple[Path, dict[str, str]]]:
    """A seeded instance on the SCRAM server; the config's password is the real one, the env overrides
    the SMTP and external-service keys."""
    server = auth_mongo_server
    client: MongoClient = MongoClient(server.uri, username=server.username, password=server.password)
    prefix = new_prefix()
    seed_instance(client, INSTANCE, db_prefix=prefix, global_secret=GLOBAL_SECRET, now=NOW_S)
    config = write_config(
        tmp_path,
        server.host_port,
        prefix,
        username=server.username,
        password=_go_escaped(server.password),
        global_secret=GLOBAL_SECRET,
        smtp_api_key=SMTP_KEY,
        external_services=EXTERNAL_SERVICES % EXTERNAL_KEY,
        log_file=str(tmp_path / "user-management.log"),
    )
    env = {
        "SMTP_BRIDGE_API_KEY": SMTP_KEY_FROM_ENV,
        "EXTERNAL_SERVICE_API_KEY_FOR_LEAVE_HANDLER": EXTERNAL_KEY_FROM_ENV,
    }
    yield config, env
    drop_prefix(client, prefix)
    client.close()


def _assert_clean(texts: list[str], secrets: list[str]) -> None:
    hits = [(secret, text[:200]) for text in texts for secret in secrets if secret in text]
    assert not hits, f"secret found: {hits[:5]}"


def _log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = []
    for record in caplog.records:
        texts.append(record.getMessage())
        texts.append(repr(record.args))
        if record.exc_info:
            texts.append(logging.Formatter().formatException(record.exc_info))
    return texts


def test_every_task_and_a_failing_run_log_no_secret(
    auth_instance: tuple[Path, dict[str, str]],
    auth_mongo_server: LocalMongoServer,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    config, env = auth_instance
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    for task in TASKS:
        results = run_task(config, task, NOW_NS, env=env)
        assert all(r.failed == 0 for r in results), [r.failure_reasons for r in results]
        texts += [repr(asdict(r)) for r in results]
    # failing runs: a wrong password (the real one must not be echoed) and a bad config value
    wrong = config.read_text().replace(_go_escaped(auth_mongo_server.password), "wrong%2Bpass")
    wrong_config = tmp_path / "wrong.yaml"
    wrong_config.write_text(wrong)
    for failing in (wrong_config,):
        with pytest.raises(Exception) as failure:
            run_task(failing, "clean_up_unverified_users", NOW_NS, env=env)
        texts += [str(failure.value), repr(failure.value), "".join(failure.traceback.__str__())]
    from usermgmt_pipeline.config import load_config

    loaded = load_config(config, env=env)
    texts += [repr(loaded), str(loaded), repr(loaded.redacted_dict())]
    texts += _log_texts(caplog)
    assert caplog.records, "nothing was logged: the scan would prove nothing"
    _assert_clean(texts, _secrets(auth_mongo_server))


def test_the_cli_prints_and_logs_no_secret(
    auth_instance: tuple[Path, dict[str, str]], auth_mongo_server: LocalMongoServer, tmp_path: Path
) -> None:
    config, env = auth_instance
    proc = subprocess.run(
        [sys.executable, "-m", "usermgmt_pipeline.cli"],
        cwd=REPO_ROOT,
        env={**os.environ, **env, "CONFIG_FILE_PATH": str(config), "STUDY_GLOBAL_SECRET": GLOBAL_SECRET},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    log_file = tmp_path / "user-management.log"
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    logged = log_file.read_text() if log_file.exists() else ""
    assert proc.stdout + proc.stderr + logged, "the CLI printed nothing: the scan would prove nothing"
    _assert_clean([proc.stdout, proc.stderr, logged], _secrets(auth_mongo_server))
