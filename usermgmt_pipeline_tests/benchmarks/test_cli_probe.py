"""`benchmarks/cli_probe.py`: the real CLI on a seeded deployment, measured from inside its own process."""

from __future__ import annotations

import json
from pathlib import Path

from pymongo import MongoClient

from usermgmt_pipeline_tests.benchmarks.scripts import run_script
from usermgmt_pipeline_tests.orchestration.helpers import config_document, seed, user_count, write_config

INSTANCES = ["alpha", "beta"]


def test_cli_probe_writes_the_cli_runs_exit_wall_cpu_rss_commands_and_wait(
    tmp_path: Path, mongo_uri: str, db_prefix: str, mongo_client: MongoClient
) -> None:
    seed(mongo_client, db_prefix, INSTANCES)
    before = [user_count(mongo_client, db_prefix, i) for i in INSTANCES]
    config = write_config(tmp_path / "config.yaml", config_document(mongo_uri, db_prefix, INSTANCES))
    out = tmp_path / "probe.json"

    done = run_script("cli_probe.py", [str(out)], tmp_path, timeout=300, CONFIG_FILE_PATH=str(config))

    assert done.returncode == 0, done.stderr
    assert "2 instance(s) ok, 0 failed" in done.stderr  # the CLI's own summary: it really ran
    assert [user_count(mongo_client, db_prefix, i) for i in INSTANCES] == [n - 2 for n in before]
    probe = json.loads(out.read_text())
    assert set(probe) == {"exit", "wall_s", "cpu_s", "rss_mb", "commands", "waiting_s"}
    assert probe["exit"] == 0
    assert probe["wall_s"] > 0 and probe["cpu_s"] > 0 and probe["rss_mb"] > 0 and probe["commands"] > 0
    assert 0 < probe["waiting_s"] <= probe["wall_s"]
