"""`benchmarks/whole_job.py` at 40 users against the test server: it runs, and prints the client's figures."""

from __future__ import annotations

import re
from pathlib import Path

from pymongo import MongoClient

from usermgmt_pipeline_tests.benchmarks.scripts import run_script
from usermgmt_pipeline_tests.orchestration.helpers import dagster_home

HEADER = re.compile(r"^run +users +exit +wall s +cpu s +cpu ms/u +wait +commands +s/inst +RSS MB$", re.M)
ROW = re.compile(
    r"^(?P<label>\S.*?) +(?P<users>[\d,]+) +(?P<exit>-?\d+) +(?P<wall>[\d.]+) +(?P<cpu>[\d.]+) "
    r"+(?P<cpu_ms_per_user>[\d.]+|-) +(?P<wait>\d+)% +(?P<commands>[\d,]+) +(?P<per_instance>[\d.]+|-) "
    r"+(?P<rss>\d+)$"
)
LEFT = re.compile(
    r"^  this code left: users (?P<users>\d+), outgoing emails (?P<emails>\d+), map entries (?P<map>\d+), "
    r"journal entries not done (?P<open>\d+)$",
    re.M,
)
NO_USERS_CRON = "this code, no users (cron: no DAGSTER_HOME)"
NO_USERS_RECORDED = "this code, no users (recorded in DAGSTER_HOME)"
WITH_USERS = "this code, 40 users (cron)"


def test_whole_job_at_40_users_prints_every_run_with_the_client_columns_and_what_the_run_left(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    # A Dagster instance in the caller's environment: the cron row must not record into it.
    outer_home = dagster_home(tmp_path / "outer_dagster_home")

    done = run_script(
        "whole_job.py",
        ["--users", "40", "--db-prefix", db_prefix],
        tmp_path,
        timeout=240,
        MONGODB_URI=mongo_uri,
        DAGSTER_HOME=str(outer_home),
    )

    assert done.returncode == 0, done.stdout + done.stderr
    table = done.stdout[done.stdout.index("\nwhole job, 40 users") :]
    assert HEADER.search(table), table
    rows = {m["label"]: m for m in map(ROW.match, table.splitlines()) if m}
    assert list(rows) == [NO_USERS_CRON, NO_USERS_RECORDED, WITH_USERS], table
    for label in (NO_USERS_CRON, NO_USERS_RECORDED):
        empty = rows[label]
        assert (empty["users"], empty["exit"], empty["cpu_ms_per_user"]) == ("0", "0", "-")
        assert float(empty["per_instance"]) > 0 and int(empty["commands"]) > 0
    job = rows[WITH_USERS]
    assert (job["users"], job["exit"], job["per_instance"]) == ("40", "0", "-")
    assert float(job["cpu_ms_per_user"]) > 0 and int(job["commands"]) > 0 and int(job["rss"]) > 0
    assert sorted(path.name for path in outer_home.iterdir()) == ["dagster.yaml"]

    left = LEFT.search(table)
    assert left, table
    users_left = sum(
        mongo_client[f"{db_prefix}bench_job_0_{i}_users"]["users"].count_documents({})
        for i in ("alpha", "beta")
    )
    assert int(left["users"]) == users_left < 40  # users were deleted
    assert int(left["emails"]) > 0 and int(left["map"]) > 0 and left["open"] == "0"
