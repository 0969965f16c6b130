"""The whole job, as an operator runs it, on a generated deployment: does it complete, how long, how much memory.

    .venv/bin/python benchmarks/whole_job.py [--users 200000] [--reference GIT_REF] [--db-prefix P]

Starts its own FerretDB on a temp dir (or uses MONGODB_URI), writes the dataset of `dataset.py` under the
prefix `bench_job_`, enables every task of `run_tasks` (migration included) and runs the `user-management`
CLI once, in its own process, as a cron line starts it (no DAGSTER_HOME; `--recorded`: recording its runs
in a throwaway DAGSTER_HOME, the way through Dagster): every instance, every task, the mass-deletion guard
and the checks. Prints the CLI's exit code, its wall time, its own CPU time (per
user), the share of the wall time it waited for the server and its peak RSS (all measured inside the CLI's
process by `cli_probe.py`), and what the run left behind (users, emails, map entries, journal entries not
done).

A run with nothing to do (a fresh deployment without users: the fixed cost per instance) is measured both
ways an operator starts the CLI, as two rows, since what a run costs before any task starts depends on
whether it records into a Dagster instance: "no users (cron: no DAGSTER_HOME)", the CLI with DAGSTER_HOME
removed from its environment, as a plain cron line runs it, and "no users (recorded in DAGSTER_HOME)", the
CLI recording its runs in a throwaway Dagster instance.

`--reference REF` runs the package as it was at commit REF on an identical copy in the same script run, so
before and after are measured side by side on the same machine. `--db-prefix P` puts every database the
script writes under P (the tests' per-test prefix, dropped after them). There is no baseline here: `run.py`
compares the tasks one by one; this answers "does a whole run of this size finish, and with how much memory".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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
from server import ServerTarget, start_or_use  # noqa: E402

PREFIX = "bench_job_"
# The two rows of a run with nothing to do: the CLI as a cron line starts it, and recording into Dagster.
EMPTY_RUNS = (("no users (cron: no DAGSTER_HOME)", False), ("no users (recorded in DAGSTER_HOME)", True))


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


@dataclass
class JobRun:
    """One `user-management` run as `cli_probe.py` saw it from inside, plus its wall time from outside."""

    label: str
    users: int
    instances: int
    exit: int = -1
    elapsed_s: float = 0.0
    cpu_s: float = 0.0
    rss_mb: float = 0.0
    commands: int = 0
    waiting_s: float = 0.0
    stderr_tail: str = ""

    @property
    def cpu_ms_per_user(self) -> float:
        return 1000 * self.cpu_s / self.users if self.users else 0.0

    @property
    def wait_share(self) -> float:
        return self.waiting_s / self.elapsed_s if self.elapsed_s else 0.0

    def row(self, width: int) -> str:
        per_user = f"{self.cpu_ms_per_user:10.2f}" if self.users else f"{'-':>10}"
        per_instance = f"{self.elapsed_s / self.instances:8.2f}" if not self.users else f"{'-':>8}"
        return (
            f"{self.label:<{width}} {self.users:>8,} {self.exit:>4} {self.elapsed_s:>9.1f} {self.cpu_s:>8.1f} "
            f"{per_user} {self.wait_share:>5.0%} {self.commands:>9,} {per_instance} {self.rss_mb:>6.0f}"
        )


def header(width: int) -> str:
    return (
        f"{'run':<{width}} {'users':>8} {'exit':>4} {'wall s':>9} {'cpu s':>8} {'cpu ms/u':>10} {'wait':>5} "
        f"{'commands':>9} {'s/inst':>8} {'RSS MB':>6}"
    )


def run_cli(
    label: str, config: Path, tmp: Path, pythonpath: Path, users: int, *, dagster_home: bool = True
) -> JobRun:
    """The CLI in its own process, the code under `pythonpath`, measured from inside. `dagster_home`: record
    the runs in a throwaway DAGSTER_HOME; else DAGSTER_HOME is removed from the CLI's environment (cron)."""
    slug = re.sub(r"\W+", "_", label)
    probe_out = tmp / f"probe_{slug}.json"
    env = {key: value for key, value in os.environ.items() if key != "DAGSTER_HOME"}
    env.update(CONFIG_FILE_PATH=str(config), PYTHONPATH=str(pythonpath))
    if dagster_home:
        home = tmp / f"dagster_home_{slug}"
        home.mkdir()
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env["DAGSTER_HOME"] = str(home)
    started = time.monotonic()
    cli = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("cli_probe.py")),
            str(probe_out),
            "--allow-mass-deletion",
        ],
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
    )
    result = JobRun(label, users, len(dataset.INSTANCES), cli.returncode, time.monotonic() - started)
    if probe_out.exists():
        probe = json.loads(probe_out.read_text())
        result.cpu_s, result.rss_mb = probe["cpu_s"], probe["rss_mb"]
        result.commands, result.waiting_s = probe["commands"], probe["waiting_s"]
    result.stderr_tail = "\n".join(cli.stderr.strip().splitlines()[-30:])
    return result


def job_config(tmp: Path, target: ServerTarget, prefix: str) -> Path:
    config = run.write_config(tmp, target, prefix)
    # A progress line per 10 000 users, not per user (the benchmark reads those to extrapolate).
    text = config.read_text().replace("progress_log_every: 1\n", "progress_log_every: 10000\n")
    config.write_text(text + run_every_task())
    return config


def checkout(ref: str, into: Path) -> Path:
    """The package as it was at `ref` (`git archive`, no change to the repository's worktrees)."""
    into.mkdir()
    archive = subprocess.run(
        ["git", "archive", ref, "usermgmt_pipeline"], cwd=REPO_ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument(
        "--reference",
        metavar="GIT_REF",
        help="also run the package as it was at this commit, on an identical copy (before/after side by side)",
    )
    parser.add_argument(
        "--skip-empty", action="store_true", help="do not measure the runs with nothing to do"
    )
    parser.add_argument(
        "--recorded",
        action="store_true",
        help="run the job with users recording into a throwaway DAGSTER_HOME (default: as cron runs it, "
        "without DAGSTER_HOME)",
    )
    parser.add_argument(
        "--db-prefix", default="", help="put every database the script writes under this prefix (tests)"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="usermgmt-job-") as tmp_dir:
        tmp = Path(tmp_dir)
        target, server = start_or_use(tmp)
        try:
            client: MongoClient[Any] = target.client()
            now = int(time.time())
            codes = {"this code": REPO_ROOT}
            if args.reference:
                codes[args.reference] = checkout(args.reference, tmp / "reference")
            base = args.db_prefix + PREFIX
            width = max(len(f"{label}, {row}") for label in codes for row, _home in EMPTY_RUNS)
            runs: list[JobRun] = []
            left: dict[str, dict[str, int]] = {}

            def measured(job: JobRun) -> None:
                runs.append(job)
                print(job.row(width), flush=True)
                if job.exit != 0:
                    print(job.stderr_tail, flush=True)

            for n, (label, code) in enumerate(codes.items()):
                if not args.skip_empty:
                    for m, (empty_label, recorded) in enumerate(EMPTY_RUNS):
                        empty = f"{base}e{n}{m}_"  # a fresh deployment each: both are a first run
                        dataset.generate(client, empty, 0, now=now)
                        config = job_config(tmp, target, empty)
                        measured(
                            run_cli(f"{label}, {empty_label}", config, tmp, code, 0, dagster_home=recorded)
                        )
                prefix = f"{base}{n}_"
                summary = dataset.generate(client, prefix, args.users, now=now)
                print(f"dataset {prefix}: {summary}", flush=True)
                config = job_config(tmp, target, prefix)
                measured(
                    run_cli(
                        f"{label}, {args.users:,} users ({'recorded' if args.recorded else 'cron'})",
                        config,
                        tmp,
                        code,
                        summary.users,
                        dagster_home=args.recorded,
                    )
                )
                left[label] = left_behind(client, prefix)
            print(
                f"\nwhole job, {args.users:,} users over {len(dataset.INSTANCES)} instances, every task; "
                "cpu = the CLI process's own CPU (user+system, start-up included); cpu ms/u = per user of "
                "the dataset (each is selected by the lookup and the migration); wait = share of the wall "
                "time with a database command in flight; s/inst = wall time per instance of a run with "
                "no users, without DAGSTER_HOME (cron) and recording into one"
            )
            print(header(width))
            print("-" * len(header(width)))
            for job in runs:
                print(job.row(width))
            for label, counts in left.items():
                print(f"  {label} left: " + ", ".join(f"{what} {count:,}" for what, count in counts.items()))
            client.close()
            return max(job.exit for job in runs)
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
