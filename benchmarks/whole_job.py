"""The whole job, as an operator runs it, on a generated deployment: does it complete, how long, how much memory.

    .venv/bin/python benchmarks/whole_job.py [--users 200000]

Starts its own FerretDB on a temp dir (or uses MONGODB_URI), writes the dataset of `dataset.py` under the
prefix `bench_job_`, enables every task of `run_tasks` (migration included) and runs the `user-management`
CLI once, in its own process with a throwaway DAGSTER_HOME: every instance, every task, the mass-deletion
guard and the checks, exactly as cron would. Prints the CLI's exit code, its wall time, its peak RSS
(`ru_maxrss` of the child) and what the run left behind (users, emails, map entries, journal entries not
done). There is no baseline here: `run.py` compares the tasks one by one; this answers "does a whole run of
this size finish, and with how much memory".
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

import dataset  # noqa: E402  (benchmarks/ is not a package)
import run  # noqa: E402
from pymongo import MongoClient  # noqa: E402

PREFIX = "bench_job_"


def run_every_task() -> str:
    """The `run_tasks` section with every task the config knows enabled (so a new task is not left out)."""
    from usermgmt_pipeline.config.task_flags import TASK_FLAGS

    return "run_tasks:\n" + "".join(f"  {flag.name}: true\n" for flag in TASK_FLAGS)


def left_behind(client: MongoClient[Any], prefix: str) -> dict[str, int]:
    """Counts across the instances that show what the run did (and that it finished its journal)."""
    counts = {"users": 0, "outgoing emails": 0, "map entries": 0, "journal entries not done": 0}
    for instance_id in dataset.INSTANCES:
        counts["users"] += client[f"{prefix}{instance_id}_users"]["users"].count_documents({})
        messages = client[f"{prefix}{instance_id}_messageDB"]["outgoing-emails"]
        counts["outgoing emails"] += messages.count_documents({})
        id_map = client[f"{prefix}{instance_id}_studyDB"]["confidential-id-map"]
        counts["map entries"] += id_map.count_documents({})
    for name in client.list_database_names():
        if name.startswith(prefix) and "journal" in client[name].list_collection_names():
            counts["journal entries not done"] += client[name]["journal"].count_documents(
                {"state": {"$nin": ["done", "abandoned", "selection-changed"]}}
            )
    return counts


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200_000)
    args = parser.parse_args(argv)

    from devtools.local_mongo import start_ferretdb

    with tempfile.TemporaryDirectory(prefix="usermgmt-job-") as tmp_dir:
        tmp = Path(tmp_dir)
        server = None
        uri = os.environ.get("MONGODB_URI")
        if not uri:
            server = start_ferretdb(tmp / "ferretdb")
            uri = server.uri
        try:
            client: MongoClient[Any] = MongoClient(uri)
            summary = dataset.generate(client, PREFIX, args.users, now=int(time.time()))
            print(f"dataset: {summary}", flush=True)
            config = run.write_config(tmp, uri.removeprefix("mongodb://").rstrip("/"), PREFIX)
            # A progress line per 10 000 users, not per user (the benchmark reads those to extrapolate).
            text = config.read_text().replace("progress_log_every: 1\n", "progress_log_every: 10000\n")
            config.write_text(text + run_every_task())
            dagster_home = tmp / "dagster_home"
            dagster_home.mkdir()
            (dagster_home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
            env = {**os.environ, "CONFIG_FILE_PATH": str(config), "DAGSTER_HOME": str(dagster_home)}
            started = time.monotonic()
            cli = subprocess.run(
                [sys.executable, "-m", "usermgmt_pipeline.cli", "--allow-mass-deletion"],
                env=env,
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
            )
            elapsed = time.monotonic() - started
            rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            lines = cli.stdout.strip().splitlines()  # the JSON log lines; the summary is on stderr
            print("\n".join(line for line in lines if "selected=" in line and '"time"' in line))
            print("\n".join(cli.stderr.strip().splitlines()[-30:]))
            print(
                f"\nwhole job, {args.users:,} users over {len(dataset.INSTANCES)} instances, every task: "
                f"exit {cli.returncode}, {elapsed:,.1f} s, peak RSS {rss_mb:,.0f} MB"
            )
            for what, count in left_behind(client, PREFIX).items():
                print(f"  {what}: {count:,}")
            client.close()
            return cli.returncode
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
