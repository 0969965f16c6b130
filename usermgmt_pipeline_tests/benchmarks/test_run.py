"""`benchmarks/run.py` (`make bench`) at 40 users, our side only: every task's row with the client columns."""

from __future__ import annotations

import re
from pathlib import Path

from pymongo import MongoClient

from usermgmt_pipeline_tests.benchmarks.scripts import run_script

TASKS = (
    "clean_up_unverified_users",
    "send_reminder_to_confirm_accounts",
    "notify_inactive_users",
    "delete_marked_users",
    "generate_profile_id_lookup",
    "lookup_rerun",
    "migrate_account_info",
)
# The client columns of issue 21, last in the table: (header line, sub-header line) of each.
CLIENT_COLUMNS = (("cmd/user", "net"), ("cpu ms", "/user"), ("wait", ""), ("fixed s", "/inst"))


def client_column_ends(header: str, sub: str) -> list[int]:
    """Where each client column ends: a cell of the header with its sub-header cell right under it (the
    table's cells are right-aligned, each column one width for both lines)."""
    ends = []
    for top, bottom in CLIENT_COLUMNS:
        under = [
            m.end() for m in re.finditer(re.escape(top), header) if sub[m.start() : m.end()].strip() == bottom
        ]
        assert under, f"no column {top!r} over {bottom!r}:\n{header}\n{sub}"
        ends.append(under[-1])
    return ends


def test_run_at_40_users_without_the_baseline_prints_every_task_with_the_client_columns(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    done = run_script(
        "run.py",
        ["--users", "40", "--skip-baseline", "--db-prefix", db_prefix],
        tmp_path,
        timeout=300,
        MONGODB_URI=mongo_uri,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "ERROR" not in done.stdout, done.stdout
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("task "))
    header, sub = lines[at], lines[at + 1]
    ends = client_column_ends(header, sub)
    first = ends[0] - len(CLIENT_COLUMNS[0][0])
    assert header[first:].split() == [
        "cmd/user",
        "cpu",
        "ms",
        "wait",
        "fixed",
        "s",
    ]  # the last four, in order
    table = [line.split() for line in lines[at + 3 :]]
    rows = {cells[0]: cells for cells in table if cells and cells[0] in TASKS}
    assert list(rows) == list(TASKS), done.stdout
    for task, cells in rows.items():
        net, cpu_ms, wait, fixed = cells[-4:]
        assert float(net) >= 0 and float(cpu_ms) > 0 and float(fixed) >= 0, (task, cells)
        assert re.fullmatch(r"\d+%", wait) and 0 < int(wait[:-1]) <= 100, (task, cells)
    deleted = int(rows["clean_up_unverified_users"][1]) + int(rows["delete_marked_users"][1])
    assert deleted > 0
    assert int(rows["generate_profile_id_lookup"][1]) == 40 - deleted  # the lookup reads every user left

    def users(prefix: str) -> int:
        return sum(mongo_client[f"{prefix}{i}_users"]["users"].count_documents({}) for i in ("alpha", "beta"))

    # Our copy lost the deleted users; the raw copy was brought to the same state; the empty one has none.
    assert users(f"{db_prefix}bench_ours_") == users(f"{db_prefix}bench_raw_") == 40 - deleted
    assert users(f"{db_prefix}bench_empty_") == 0
    assert f"{db_prefix}bench_base_alpha_users" not in mongo_client.list_database_names()
