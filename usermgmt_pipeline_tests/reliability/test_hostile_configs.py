"""Hostile configurations through the `user-management` CLI: non-zero exit, a message naming the key,
and zero writes - checked at the server: no database with the config's prefix exists afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pymongo import MongoClient

from usermgmt_pipeline_tests.reliability.harness import REPO_ROOT, config_yaml, host_port_of, new_prefix

Mutation = Callable[[str], str]


def replace(old: str, new: str) -> Mutation:
    def mutate(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return mutate


def append(extra: str) -> Mutation:
    return lambda text: text + extra


def merge_key_bomb(levels: int = 40) -> str:
    """Anchors that each merge the previous one four times, merged into `logging` (a 2 KB document)."""
    lines = ["bomb-0: &b0 {log_level: info}"]
    lines += [
        f"bomb-{i}: &b{i} {{<<: [*b{i - 1}, *b{i - 1}, *b{i - 1}, *b{i - 1}]}}" for i in range(1, levels)
    ]
    return "\n".join(lines) + f"\nlogging:\n  <<: *b{levels - 1}\n"


HOSTILE: list[tuple[str, Mutation, str]] = [
    ("bare-number-duration", replace('after: "168h"', "after: 168"), "delete_unverified_users_after"),
    ("quoted-bare-number", replace('after: "168h"', 'after: "168"'), "delete_unverified_users_after"),
    ("negative-duration", replace('after: "168h"', 'after: "-5h"'), "delete_unverified_users_after"),
    ("zero-threshold-enabled-task", replace('after: "168h"', 'after: "0s"'), "delete_unverified_users_after"),
    (
        "unit-in-words",
        replace('account_after: "48h"', 'account_after: "48 hours"'),
        "send_reminder_to_confirm_account_after",
    ),
    ("int-inactivity", replace('inactive_for: "8760h"', "inactive_for: 8760"), "notify_after_inactive_for"),
    (
        "zero-grace",
        replace('notification: "336h"', 'notification: "0"'),
        "mark_for_deletion_after_inactivity_notification",
    ),
    ("garbage-ttl", replace('token_ttl: "48h"', 'token_ttl: "abc"'), "email_contact_verification_token_ttl"),
    ("quoted-db-timeout", replace("timeout: 10\n", 'timeout: "10"\n'), "timeout"),
    ("zero-db-timeout", replace("timeout: 10\n", "timeout: 0\n"), "timeout"),
    ("word-pool-size", replace("max_pool_size: 4", 'max_pool_size: "four"'), "max_pool_size"),
    (
        "non-bool-cursor-flag",
        replace("use_no_cursor_timeout: false", 'use_no_cursor_timeout: "maybe"'),
        "use_no_cursor_timeout",
    ),
    ("slash-in-db-prefix", replace('db_name_prefix: "', 'db_name_prefix: "a/'), "db_name_prefix"),
    (
        "empty-connection-str",
        replace('connection_str: "127', 'connection_str: ""\n    x_old: "127'),
        "connection_str",
    ),
    ("username-without-password", replace('username: ""', 'username: "admin"'), "password"),
    ("unknown-top-level-key", append("delete_everything: true\n"), "delete_everything"),
    ("typo-in-db-key", replace("idle_conn_timeout", "idle_connection_timeout"), "idle_connection_timeout"),
    ("instance-id-with-slash", replace('  - "default"', '  - "bad/id"'), "instance_ids"),
    (
        "instance-ids-not-a-list",
        replace('instance_ids:\n  - "default"', 'instance_ids: "default"'),
        "instance_ids",
    ),
    ("empty-global-secret", replace('global_secret: "', 'global_secret: "" #'), "global_secret"),
    (
        "string-task-flag",
        replace("clean_up_unverified_users: true", 'clean_up_unverified_users: "yes"'),
        "clean_up_unverified_users",
    ),
    ("unknown-task", replace("run_tasks:\n", "run_tasks:\n  delete_everyone: true\n"), "delete_everyone"),
    (
        "deletion-share-above-1",
        replace("max_deletion_share: 0.1", "max_deletion_share: 1.5"),
        "max_deletion_share",
    ),
    (
        "negative-deletion-share",
        replace("max_deletion_share: 0.1", "max_deletion_share: -0.1"),
        "max_deletion_share",
    ),
    ("bad-cron", append('  schedule_cron: "61 * * * *"\n'), "schedule_cron"),
    ("bad-schedule-zone", append('  schedule_timezone: "Mars/Olympus"\n'), "schedule_timezone"),
    (
        "bad-operator-email",
        replace("operator_emails: []", 'operator_emails: ["not-an-email"]'),
        "operator_emails",
    ),
    (
        "external-service-without-url",
        replace("external_services: []", 'external_services: [{"name": "x", "timeout": 2}]'),
        "url",
    ),
    (
        "mtls-cert-without-key",
        replace(
            "external_services: []",
            'external_services: [{"name": "x", "url": "https://127.0.0.1:9", "mTLSConfig": {"certFile": "/nonexistent.pem"}}]',
        ),
        "external_services",
    ),
    (
        "both-smtp-timeouts",
        replace("timeout: 5\n", 'timeout: 5\n    request_timeout: "5s"\n'),
        "request_timeout",
    ),
    (
        "bad-study-time-zone",
        replace("study_configs:\n", 'study_configs:\n  time_zone: "Nowhere/Else"\n'),
        "time_zone",
    ),
    (
        "merge-key-bomb",
        replace("logging:\n", merge_key_bomb()),
        "excessive aliasing",
    ),
    ("yaml-syntax-error", replace('log_level: "debug"', 'log_level: "debug'), "yaml"),
    ("duplicate-yaml-key", append('instance_ids:\n  - "other"\n'), "instance_ids"),
    ("tab-indentation", replace("  log_to_file: false", "\tlog_to_file: false"), "yaml"),
    ("empty-document", lambda text: "", "empty"),
    ("list-document", lambda text: "- a\n- b\n", "mapping"),
    ("user-info-in-connection-str", replace('connection_str: "', 'connection_str: "u:p@'), "connection_str"),
    (
        "unescaped-at-in-username",
        replace('username: ""\n    password: ""', 'username: "a@b"\n    password: "x"'),
        "username",
    ),
]


def _run_cli(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "usermgmt_pipeline.cli"],
        cwd=REPO_ROOT,
        env={**os.environ, "CONFIG_FILE_PATH": str(config)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_hostile_config_is_refused_naming_the_key_without_a_database_write(
    mongo_client: MongoClient, mongo_uri: str, tmp_path: Path
) -> None:
    """One test over all cases, run two at a time (each is a separate CLI process)."""
    assert len(HOSTILE) >= 30
    prefix = new_prefix()
    base = config_yaml(host_port_of(mongo_uri), prefix)
    configs = []
    for name, mutate, _ in HOSTILE:
        path = tmp_path / f"{name}.yaml"
        path.write_text(mutate(base))
        configs.append(path)
    with ThreadPoolExecutor(max_workers=2) as pool:
        procs = list(pool.map(_run_cli, configs))

    problems = []
    for (name, _, key), proc in zip(HOSTILE, procs, strict=True):
        output = proc.stdout + proc.stderr
        if proc.returncode == 0:
            problems.append(f"{name}: accepted (exit 0)")
        elif key.lower() not in output.lower():
            problems.append(
                f"{name}: exit {proc.returncode} but the message does not name {key!r}: {output[-400:]!r}"
            )
        elif "Traceback" in output:
            problems.append(f"{name}: crashed with a traceback: {output[-400:]!r}")
    written = [name for name in mongo_client.list_database_names() if name.startswith(prefix)]
    assert not problems, "\n".join(problems)
    assert not written, f"databases written despite a refused config: {written}"


@pytest.mark.parametrize("value", ["", "/nonexistent/config.yaml"])
def test_a_missing_config_file_is_refused(value: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "usermgmt_pipeline.cli"],
        cwd=REPO_ROOT,
        env={**os.environ, "CONFIG_FILE_PATH": value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "CONFIG_FILE_PATH" in proc.stdout + proc.stderr


def test_a_merge_key_bomb_is_refused_by_the_cli_with_exit_2_at_once(mongo_uri: str, tmp_path: Path) -> None:
    """It used to take minutes to parse; now the whole CLI process (imports included) ends within seconds."""
    prefix = new_prefix()
    base = config_yaml(host_port_of(mongo_uri), prefix)
    config = tmp_path / "bomb.yaml"
    config.write_text(base.replace("logging:\n", merge_key_bomb(), 1))
    assert 2000 <= config.stat().st_size <= 4000

    started = time.monotonic()
    proc = _run_cli(config)
    elapsed = time.monotonic() - started

    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "excessive aliasing" in proc.stderr and "Traceback" not in proc.stderr
    assert elapsed < 15, elapsed
