"""A read error mid-iteration (a cursor's getMore, or the query of a batch's page) fails the instance's task loudly with the counts so far (Go ended silently
as "finished"), and a rerun finishes the work."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from bson import ObjectId
from pymongo import MongoClient

from usermgmt_pipeline.tasks.clean_up_unverified_users import clean_up_unverified_users
from usermgmt_pipeline.tasks.generate_profile_id_lookup import add_missing_entries
from usermgmt_pipeline.tasks.handle_inactive_users import delete_marked_users, notify_inactive_users
from usermgmt_pipeline.tasks.migrate_account_info import migrate_account_info
from usermgmt_pipeline.tasks.results import TaskFailedError
from usermgmt_pipeline.tasks.send_reminder_to_confirm_accounts import send_reminder_to_confirm_accounts
from usermgmt_pipeline_tests.tasks.getmore_cutting_proxy import GET_MORE, NEXT_PAGE, GetMoreCuttingProxy
from usermgmt_pipeline_tests.tasks.helpers import (
    DELETE_UNVERIFIED_AFTER,
    INACTIVE_AFTER,
    REMIND_AFTER,
    CaseEnv,
    make_env,
)

USERS = 40  # more than one batch of 32
FIRST_BATCH = 32  # Go's cursor batch, and the batch size the proxied runs are configured with


CutEnv = Callable[[bytes], tuple[CaseEnv, CaseEnv]]


@pytest.fixture
def cut_env(tmp_path: Path, mongo_uri: str, mongo_client: MongoClient, db_prefix: str) -> Iterator[CutEnv]:
    """Opens (env through a proxy cutting at the marker, env direct) over the same databases."""
    host, port = mongo_uri.removeprefix("mongodb://").rstrip("/").rsplit(":", 1)
    with ExitStack() as stack:

        def open_envs(marker: bytes) -> tuple[CaseEnv, CaseEnv]:
            proxy = GetMoreCuttingProxy(host, int(port), marker)
            stack.enter_context(proxy.running())
            (tmp_path / "proxy").mkdir()
            through_proxy = make_env(
                tmp_path / "proxy",
                f"mongodb://127.0.0.1:{proxy.port}",
                mongo_client,
                db_prefix,
                batch_size=FIRST_BATCH,  # the batched tasks read this many users per page or getMore
            )
            direct = make_env(tmp_path, mongo_uri, mongo_client, db_prefix)
            through_proxy.t0 = direct.t0
            stack.callback(direct.close)
            stack.callback(through_proxy.close)
            return through_proxy, direct

        yield open_envs


def seed(env: CaseEnv, **user_fields: object) -> None:
    env.add_templates()
    study = env.add_study("tracked", track_account=True)
    for _ in range(USERS):
        profile = ObjectId()
        env.add_user(profiles=[(profile, True)], **user_fields)
        env.add_participant(study, profile)


# The batched tasks read each batch by its own query, the per-user ones hold one cursor.
CASES: list[tuple[str, bytes, Callable, Callable[[int], dict], Callable[[CaseEnv], int]]] = [
    (
        "clean_up",
        NEXT_PAGE,
        clean_up_unverified_users,
        lambda t0: {"created_at": t0 - DELETE_UNVERIFIED_AFTER - 10},
        lambda env: USERS - env.users.count_documents({}),
    ),
    (
        "reminder",
        NEXT_PAGE,
        send_reminder_to_confirm_accounts,
        lambda t0: {"created_at": t0 - REMIND_AFTER - 10},
        lambda env: env.outgoing.count_documents({}),
    ),
    (
        "notify_inactive",
        NEXT_PAGE,
        notify_inactive_users,
        lambda t0: {"last_login": t0 - INACTIVE_AFTER - 10, "last_token_refresh": t0 - INACTIVE_AFTER - 10},
        lambda env: env.outgoing.count_documents({}),
    ),
    (
        "delete_marked",
        NEXT_PAGE,
        delete_marked_users,
        lambda t0: {"marked_for_deletion": t0 - 10},
        lambda env: USERS - env.users.count_documents({}),
    ),
    (
        "migrate",
        GET_MORE,
        migrate_account_info,
        lambda t0: {},
        lambda env: env.study_db["tracked_participants"].count_documents(
            {"hashedAccountID": {"$exists": True}}
        ),
    ),
]


@pytest.mark.parametrize(("name", "marker", "task", "fields", "progress"), CASES, ids=[c[0] for c in CASES])
def test_cursor_error_fails_the_task_with_the_counts_and_a_rerun_finishes(
    cut_env: CutEnv, name: str, marker: bytes, task: Callable, fields: Callable, progress: Callable
) -> None:
    through_proxy, direct = cut_env(marker)
    seed(direct, **fields(direct.t0))

    with pytest.raises(TaskFailedError, match="reading users failed after 32 users") as caught:
        task(through_proxy.context())

    assert caught.value.result.selected == FIRST_BATCH
    assert caught.value.result.done == FIRST_BATCH
    assert progress(direct) == FIRST_BATCH

    task(direct.context())

    assert progress(direct) == USERS


def test_cursor_error_fails_the_lookup_task(cut_env: CutEnv) -> None:
    through_proxy, direct = cut_env(GET_MORE)
    seed(direct)

    with pytest.raises(TaskFailedError, match="after 32 users"):
        add_missing_entries(through_proxy.context())

    assert add_missing_entries(direct.context()).extra["created"] == USERS
