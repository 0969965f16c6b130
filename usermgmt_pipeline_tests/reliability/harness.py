"""Shared machinery of the reliability tests: configs, cloned seed data, task runs and state snapshots.

Why clone instead of seeding twice: the seed draws fresh ObjectIds, and participant IDs are hashes of
profile ids, so two seeds are never comparable. Every scenario instead copies one seeded template
database set, byte for byte, under a fresh `db_name_prefix` (possibly on another server), and runs with
a fixed clock, so an interrupted run and an uninterrupted one start from identical data.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import MongoClient

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTANCE = "default"
GLOBAL_SECRET = "reliability-global-secret"
HOUR_NS = 3600 * 1_000_000_000
INSTANCE_LEASE_S = 2  # short, so a SIGKILLed worker's instance lease blocks the rerun only this long

# The `timestamps`-like fields the pipeline writes from the wall clock (not from the task's fixed clock).
WALL_CLOCK_FIELDS = frozenset(
    # `generation` and `fence` are lease generations, which start above the clock in milliseconds
    {"modifiedAt", "openedAt", "at", "timestamp", "expiration", "sentAt", "deletedAt", "generation", "fence"}
)
TOKEN_PATTERN = re.compile(r"\b[a-z2-7]{39}\b")
# per-run records: run ids differ by design; `fences` counts the lease generations handed out, one per task run
EXCLUDED_COLLECTIONS = frozenset({"audit", "fences"})


def new_prefix() -> str:
    return f"r{uuid.uuid4().hex[:10]}_"


def config_yaml(
    host_port: str,
    prefix: str,
    *,
    timeout: int = 10,
    username: str = "",
    password: str = "",
    global_secret: str = GLOBAL_SECRET,
    smtp_api_key: str = "",
    external_services: str = "[]",
    delete_unverified_after: str = "168h",
    log_file: str = "",
    max_deletion_share: float = 0.10,
    smtp_url: str = "http://127.0.0.1:9",
    operator_emails: str = "[]",
    batch_size: int = 500,
) -> str:
    """A complete, valid config document for one local server and prefix (every task enabled)."""
    logging_block = (
        f'  log_to_file: true\n  filename: "{log_file}"\n' if log_file else "  log_to_file: false\n"
    )
    db = textwrap.dedent(
        f"""\
            connection_str: "{host_port}"
            username: "{username}"
            password: "{password}"
            connection_prefix: ""
            timeout: {timeout}
            idle_conn_timeout: 45
            max_pool_size: 4
            use_no_cursor_timeout: false
            db_name_prefix: "{prefix}"
        """
    )
    db_block = "".join(
        f"  {key}:\n" + textwrap.indent(db, "    ")
        for key in ("participant_user_db", "global_infos_db", "messaging_db", "study_db")
    )
    return (
        'logging:\n  log_level: "debug"\n'
        + logging_block
        + "db_configs:\n"
        + db_block
        + f'instance_ids:\n  - "{INSTANCE}"\n'
        + textwrap.dedent(
            f"""\
            user_management_config:
              delete_unverified_users_after: "{delete_unverified_after}"
              send_reminder_to_confirm_account_after: "48h"
              email_contact_verification_token_ttl: "48h"
              notify_after_inactive_for: "8760h"
              mark_for_deletion_after_inactivity_notification: "336h"
            messaging_configs:
              smtp_bridge_config:
                url: "{smtp_url}"
                api_key: "{smtp_api_key}"
                timeout: 5
              global_email_template_constants:
                "app_name": "Reliability Test Platform"
                "website_url": "https://participate.example.org"
            study_configs:
              global_secret: "{global_secret}"
              external_services: {external_services}
            run_tasks:
              clean_up_unverified_users: true
              send_reminder_to_confirm_accounts: true
              handle_inactive_users: true
              generate_profile_id_lookup: true
              migrate_account_info: true
            orchestration:
              max_deletion_share: {max_deletion_share}
              operator_emails: {operator_emails}
              batch_size: {batch_size}
              instance_lease: "{INSTANCE_LEASE_S}s"
            """
        )
    )


def write_config(directory: Path, host_port: str, prefix: str, **kwargs: Any) -> Path:
    path = directory / f"config-{prefix.rstrip('_')}.yaml"
    path.write_text(config_yaml(host_port, prefix, **kwargs))
    return path


def host_port_of(uri: str) -> str:
    return uri.removeprefix("mongodb://").rstrip("/")


# ---------------------------------------------------------------------------------------------- data


def databases_with_prefix(client: MongoClient, prefix: str) -> list[str]:
    return sorted(name for name in client.list_database_names() if name.startswith(prefix))


def clone_databases(src: MongoClient, src_prefix: str, dst: MongoClient, dst_prefix: str) -> None:
    """Copy every collection of every `src_prefix*` database to `dst_prefix*` (documents and ids as they are,
    and the indexes: the seed has CASE's default ones, whose unique keys the tasks must cope with)."""
    for db_name in databases_with_prefix(src, src_prefix):
        target = dst[dst_prefix + db_name[len(src_prefix) :]]
        for coll_name in src[db_name].list_collection_names():
            for index in src[db_name][coll_name].list_indexes():
                if index["name"] != "_id_":
                    target[coll_name].create_index(
                        list(index["key"].items()), name=index["name"], unique=bool(index.get("unique"))
                    )
            docs = list(src[db_name][coll_name].find({}))
            if docs:
                target[coll_name].insert_many(docs, ordered=True)


def drop_prefix(client: MongoClient, prefix: str) -> None:
    for name in databases_with_prefix(client, prefix):
        client.drop_database(name)


def normalise(value: Any, key: str = "") -> Any:
    """Replace what legitimately differs between two equivalent runs: ObjectIds, wall-clock times, tokens."""
    if key in WALL_CLOCK_FIELDS:
        return "<time>"
    if key == "accountID" and isinstance(value, bytes):
        return "<sealed>"  # AES-GCM with a random nonce (see case/journal.AccountSealer)
    if isinstance(value, ObjectId):
        return "<oid>"
    if isinstance(value, datetime):
        return "<time>"
    if isinstance(value, str):
        return TOKEN_PATTERN.sub("<token>", value)
    if isinstance(value, Mapping):
        return {k: normalise(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    return value


def snapshot(client: MongoClient, prefix: str) -> dict[str, list[str]]:
    """Every collection under `prefix` as a sorted list of normalised documents (canonical JSON)."""
    state: dict[str, list[str]] = {}
    for db_name in databases_with_prefix(client, prefix):
        for coll_name in client[db_name].list_collection_names():
            if coll_name in EXCLUDED_COLLECTIONS:
                continue
            docs = [
                json.dumps(normalise(doc), sort_keys=True, default=repr)
                for doc in client[db_name][coll_name].find({})
            ]
            if docs:
                state[f"{db_name[len(prefix) :]}.{coll_name}"] = sorted(docs)
    return state


def assert_same_state(actual: dict[str, list[str]], expected: dict[str, list[str]]) -> None:
    """Collection by collection, so a failure names the collection and the differing documents."""
    assert sorted(actual) == sorted(expected), "different collections"
    for name in expected:
        missing = _multiset_minus(expected[name], actual[name])
        extra = _multiset_minus(actual[name], expected[name])
        assert not missing and not extra, (
            f"{name}: {len(missing)} document(s) missing and {len(extra)} extra vs the uninterrupted run\n"
            f"missing: {missing[:3]}\nextra: {extra[:3]}"
        )


def _multiset_minus(a: list[str], b: list[str]) -> list[str]:
    rest = list(b)
    out = []
    for item in a:
        if item in rest:
            rest.remove(item)
        else:
            out.append(item)
    return out


# ---------------------------------------------------------------------------------------------- runs


def run_task(config_path: Path, task: str, now_ns: int, **options: Any) -> list[Any]:
    """Run one task (registry name) in this process for INSTANCE, with a fixed clock."""
    from usermgmt_pipeline.case.connections import CaseDatabases
    from usermgmt_pipeline.config import load_config
    from usermgmt_pipeline.tasks.context import RunOptions, TaskContext
    from usermgmt_pipeline.tasks.registry import TASKS

    config = load_config(config_path, env=options.pop("env", {}))
    dbs = CaseDatabases.connect(config.db_configs)
    try:
        ctx = TaskContext(config, dbs, INSTANCE, options=RunOptions(**options), now_ns=lambda: now_ns)
        return TASKS[task](ctx)
    finally:
        dbs.close()


def run_worker(
    config_path: Path, task: str, now_ns: int, *, crash_at: str = "", timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run one task in a fresh Python process; with `crash_at` the crash hook SIGKILLs it there."""
    env = {k: v for k, v in os.environ.items() if k != "USERMGMT_TEST_CRASH_AT"}
    if crash_at:
        env["USERMGMT_TEST_CRASH_AT"] = crash_at
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "usermgmt_pipeline_tests.reliability.worker",
            str(config_path),
            task,
            str(now_ns),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode < 0:  # killed: its instance lease (renewed until the kill) expires this much later
        time.sleep(INSTANCE_LEASE_S + 0.2)
    return done


@contextmanager
def timed() -> Iterator[Callable[[], float]]:
    started = time.monotonic()
    yield lambda: time.monotonic() - started
