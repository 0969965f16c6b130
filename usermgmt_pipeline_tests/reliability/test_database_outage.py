"""The database server dies (or turns slow) in the middle of a task.

Each scenario seeds a dedicated FerretDB, copies the same data to the session server for an
uninterrupted reference run, kills the dedicated server at a step boundary from the test's own hook,
and expects: the task fails loudly with the counts it completed, and after `restart` a rerun ends in the
reference state. The slow-server scenarios go through a delaying TCP proxy and expect each operation's
`timeout` to be honoured instead of a hang.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from devtools.local_mongo import LocalMongoServer, restart, start_ferretdb
from usermgmt_pipeline.case.connections import CaseDatabases
from usermgmt_pipeline.config import load_config
from usermgmt_pipeline.demo.documents import user_document
from usermgmt_pipeline.demo.seed import seed_instance
from usermgmt_pipeline.tasks.checkpoints import StepHooks, install_checkpoint_hook
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.registry import TASKS
from usermgmt_pipeline.tasks.results import TaskFailedError
from usermgmt_pipeline_tests.reliability.conftest import NOW_NS, NOW_S
from usermgmt_pipeline_tests.reliability.harness import (
    GLOBAL_SECRET,
    INSTANCE,
    assert_same_state,
    clone_databases,
    drop_prefix,
    host_port_of,
    new_prefix,
    run_task,
    snapshot,
    write_config,
)
from usermgmt_pipeline_tests.reliability.slow_proxy import SlowProxy

HOUR = 3600
OP_TIMEOUT_S = 1
PER_USER_BATCH = 1
"""The outage scenarios kill the server between two users' steps and count the users done before it; the
batched flows finish a user with their batch, so they run one user per batch here. Outages inside a batch
(after k of n users) are the crash matrix's `<checkpoint>@<k>` points."""


@pytest.fixture(scope="module")
def dedicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LocalMongoServer]]:
    """Our own FerretDB (never the session one), restartable on the same port and data."""
    holder = {"server": start_ferretdb(tmp_path_factory.mktemp("outage-ferretdb"))}
    yield holder
    holder["server"].stop()


def _seed_with_extra_users(client: MongoClient, prefix: str) -> None:
    """The template instance plus 8 users due a reminder and 3 more due for deletion."""
    seed_instance(client, INSTANCE, db_prefix=prefix, global_secret=GLOBAL_SECRET, now=NOW_S)
    users = client[f"{prefix}{INSTANCE}_users"]["users"]
    for i in range(8):
        users.insert_one(
            user_document(
                account_id=f"remind{i}@example.org",
                created_at=NOW_S - 60 * HOUR,
                profiles=[(ObjectId(), True)],
            )
        )
    for i in range(3):
        users.insert_one(
            user_document(
                account_id=f"gone{i}@example.org",
                created_at=NOW_S - 200 * HOUR,
                profiles=[(ObjectId(), True)],
            )
        )


@pytest.fixture
def outage_setup(
    dedicated: dict[str, LocalMongoServer], mongo_client: MongoClient, mongo_uri: str, tmp_path: Path
) -> Iterator[Callable[[str], tuple[Path, dict[str, list[str]]]]]:
    """`setup(task)` -> (config on the dedicated server, reference state of an uninterrupted run)."""
    made: list[tuple[MongoClient, str]] = []

    def setup(task: str) -> tuple[Path, dict[str, list[str]]]:
        server = dedicated["server"]
        client: MongoClient = MongoClient(server.uri, serverSelectionTimeoutMS=10_000)
        prefix, reference = new_prefix(), new_prefix()
        made.extend([(client, prefix), (mongo_client, reference)])
        _seed_with_extra_users(client, prefix)
        clone_databases(client, prefix, mongo_client, reference)
        kwargs = {"timeout": OP_TIMEOUT_S, "max_deletion_share": 0.5, "batch_size": PER_USER_BATCH}
        ref_config = write_config(tmp_path, host_port_of(mongo_uri), reference, **kwargs)
        ref_results = run_task(ref_config, task, NOW_NS)
        assert all(r.failed == 0 for r in ref_results)
        return write_config(tmp_path, server.host_port, prefix, **kwargs), snapshot(mongo_client, reference)

    yield setup
    for client, prefix in made:
        with contextlib.suppress(PyMongoError):
            drop_prefix(client, prefix)


def _at(name: str, nth: int, action: Callable[[], None]) -> Callable[[str], None]:
    """A checkpoint hook that runs `action` (kill, slow down) at the nth visit of checkpoint `name`."""
    seen = [0]

    def hook(point: str) -> None:
        if point == name:
            seen[0] += 1
            if seen[0] == nth:
                action()

    return hook


@pytest.mark.parametrize(
    ("task", "checkpoint_name", "nth", "done_before_outage"),
    [
        ("send_reminder_to_confirm_accounts", "notify:user-updated", 3, 2),
        ("send_reminder_to_confirm_accounts", "notify:token-inserted", 5, 4),
        ("clean_up_unverified_users", "delete:study-rules-evaluated", 3, 0),
        ("clean_up_unverified_users", "delete:tokens-deleted", 2, 1),
    ],
)
def test_a_server_killed_mid_task_fails_the_run_loudly_and_a_rerun_after_restart_completes(
    task: str,
    checkpoint_name: str,
    nth: int,
    done_before_outage: int,
    dedicated: dict[str, LocalMongoServer],
    outage_setup: Callable[[str], tuple[Path, dict[str, list[str]]]],
) -> None:
    config, expected = outage_setup(task)
    # run_task builds its contexts itself: the hook goes to the process's default hooks
    remove = install_checkpoint_hook(_at(checkpoint_name, nth, dedicated["server"].kill))

    started = time.monotonic()
    try:
        with pytest.raises(TaskFailedError) as failure:
            run_task(config, task, NOW_NS)
    finally:
        remove()
    elapsed = time.monotonic() - started
    partial = failure.value.result
    assert f"done={partial.done} " in str(failure.value), str(failure.value)
    assert (partial.done, partial.failed) == (done_before_outage, 1), partial.summary()
    assert elapsed < 6 * OP_TIMEOUT_S + 10, f"the run ground on for {elapsed:.0f}s against a dead server"

    dedicated["server"] = restart(dedicated["server"])
    results = run_task(config, task, NOW_NS)
    assert all(r.failed == 0 for r in results), [r.failure_reasons for r in results]
    client: MongoClient = MongoClient(dedicated["server"].uri)
    prefix = load_config(config).db_configs.participant_user_db.db_name_prefix
    assert_same_state(snapshot(client, prefix), expected)
    client.close()


def test_a_server_that_stops_answering_mid_task_hits_the_operation_timeout_instead_of_hanging(
    dedicated: dict[str, LocalMongoServer],
    outage_setup: Callable[[str], tuple[Path, dict[str, list[str]]]],
    tmp_path: Path,
) -> None:
    task = "send_reminder_to_confirm_accounts"
    direct_config, expected = outage_setup(task)
    prefix = load_config(direct_config).db_configs.participant_user_db.db_name_prefix
    host, port = dedicated["server"].host_port.split(":")
    with SlowProxy(host, int(port)) as proxy:
        config = write_config(
            tmp_path, proxy.host_port, prefix, timeout=1, max_deletion_share=0.5, batch_size=PER_USER_BATCH
        )

        def slow_down() -> None:
            proxy.delay_s = 8.0

        hooks = StepHooks()  # this context's own: nothing else in the process sees them
        hooks.add(_at("notify:user-updated", 2, slow_down))
        app_config = load_config(config)
        dbs = CaseDatabases.connect(app_config.db_configs)
        try:
            ctx = TaskContext(app_config, dbs, INSTANCE, now_ns=lambda: NOW_NS, hooks=hooks)
            started = time.monotonic()
            with pytest.raises(TaskFailedError) as failure:
                TASKS[task](ctx)
            elapsed = time.monotonic() - started
        finally:
            proxy.delay_s = 0.0
            dbs.close()
        assert failure.value.result.done == 1, failure.value.result.summary()
        # Each operation the failing run still owes times out after 1 s: the write, closing the unexhausted
        # user cursor (batched walks fetch one batch per getMore), the audit flush and the lease release:
        # about 4 x 1 s. Any one of them waiting for the 8 s reply would exceed the bound.
        assert elapsed < 6, f"1 s operation timeout not honoured: the task took {elapsed:.1f}s"

        results = run_task(config, task, NOW_NS)
    assert all(r.failed == 0 for r in results), [r.failure_reasons for r in results]
    client: MongoClient = MongoClient(dedicated["server"].uri)
    assert_same_state(snapshot(client, prefix), expected)
    client.close()


def test_a_slow_get_more_of_the_user_walk_is_bounded_by_the_operation_timeout(
    dedicated: dict[str, LocalMongoServer],
    tmp_path: Path,
) -> None:
    """The walk has no overall deadline (it may last hours), but each batch fetch has one."""
    client: MongoClient = MongoClient(dedicated["server"].uri)
    prefix = new_prefix()
    users = client[f"{prefix}{INSTANCE}_users"]["users"]
    users.insert_many(
        [
            user_document(account_id=f"u{i}@example.org", created_at=NOW_S, profiles=[(ObjectId(), True)])
            for i in range(40)
        ]
    )
    host, port = dedicated["server"].host_port.split(":")
    try:
        with SlowProxy(host, int(port)) as proxy:
            config = load_config(write_config(tmp_path, proxy.host_port, prefix, timeout=1, batch_size=32))
            dbs = CaseDatabases.connect(config.db_configs)
            proxy.only_after, proxy.delay_s = (
                b"getMore",
                8.0,
            )  # the first batch of 32 is quick, the rest is not
            try:
                started = time.monotonic()
                with pytest.raises(TaskFailedError) as failure:
                    TASKS["generate_profile_id_lookup"](
                        TaskContext(config, dbs, INSTANCE, now_ns=lambda: NOW_NS)
                    )
                elapsed = time.monotonic() - started
            finally:
                proxy.delay_s = 0.0
                dbs.close()
    finally:
        drop_prefix(client, prefix)
        client.close()
    assert failure.value.result.selected == 32
    assert "reading users failed after 32 users" in str(failure.value)
    assert elapsed < 4, f"the getMore waited {elapsed:.1f}s for an 8 s reply despite timeout: 1"
