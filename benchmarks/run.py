"""`make bench`: each task of the job against a real server, our code side by side with the Go-style baseline.

    .venv/bin/python benchmarks/run.py [--users N] [--tasks a,b,...] [--cap-seconds S] [--db-prefix P]

It starts its own FerretDB on a temp dir (or uses MONGODB_URI), writes the dataset of `dataset.py` twice
(prefixes `bench_base_` and `bench_ours_`), so each side runs its task sequence on identical fresh data, and
runs every measurement in its own subprocess, so the peak RSS (`ru_maxrss`) is that task's alone. The tasks
run in the Go job's order on each side (deletions before the lookup, the account migration last), with the
lookup run once more, right after the first, with nothing new. `--db-prefix P` puts every database the
script writes under P (the tests' per-test prefix, dropped after them).

Two figures do not depend on the machine: every command each side sends is counted through pymongo command
monitoring and shown per selected user. The "raw" column is the server's own limit for the task, measured
in the same run: a third copy of the dataset (`bench_raw_`) receives exactly the documents our side wrote,
with `insert_many` / `update_many` / `delete_many` (see `raw_limit.py`).

A run that exceeds `--cap-seconds` is stopped there; its row then shows the users it finished in that time
and the extrapolated total (`~`), computed from its rate. For the per-entry baseline lookup on a server
without index use the rate falls as the map grows, so that extrapolation flatters the baseline.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
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
import raw_limit  # noqa: E402
from cli_probe import Waiting  # noqa: E402
from pymongo import monitoring  # noqa: E402
from server import ServerTarget, start_or_use  # noqa: E402

TASK_ORDER = (
    "clean_up_unverified_users",
    "send_reminder_to_confirm_accounts",
    "notify_inactive_users",
    "delete_marked_users",
    "generate_profile_id_lookup",
    "lookup_rerun",
    "migrate_account_info",
)
STATE_OF_TASK = {
    "clean_up_unverified_users": "unverified_old",
    "send_reminder_to_confirm_accounts": "reminder_due",
    "notify_inactive_users": "inactive",
    "delete_marked_users": "marked_due",
}
SIDES = {"baseline": "bench_base_", "ours": "bench_ours_"}
RAW_PREFIX = "bench_raw_"
EMPTY_PREFIX = (
    "bench_empty_"  # the same deployment without a single user: what a run with nothing to do costs
)

LEASE_S = 60
"""The job's default lease. Shorter leases are renewed more often (every quarter lease and before each step past
three quarters), which on a slow server added hundreds of lock updates to a task's commands; a capped worker
releases its leases itself (`_release_leases`) so the next measurement need not wait one out."""
CONFIG_TEMPLATE = """\
db_configs:
  participant_user_db: &db
    connection_str: {connection_str}
    username: {username}
    password: {password}
    connection_prefix: {connection_prefix}
    timeout: 3600
    idle_conn_timeout: 45
    max_pool_size: 8
    use_no_cursor_timeout: false
    db_name_prefix: "{prefix}"
  global_infos_db: *db
  messaging_db: *db
  study_db: *db
instance_ids: {instances}
user_management_config:
  delete_unverified_users_after: "{delete_h}h"
  send_reminder_to_confirm_account_after: "{remind_h}h"
  email_contact_verification_token_ttl: "48h"
  notify_after_inactive_for: "{inactive_h}h"
  mark_for_deletion_after_inactivity_notification: "{grace_h}h"
messaging_configs:
  global_email_template_constants:
    app_name: "Benchmark Platform"
    website_url: "https://participate.example.org"
study_configs:
  global_secret: "{secret}"
  external_services: []
orchestration:
  max_deletion_share: 1.0
  progress_log_every: 1
  instance_lease: "{lease_s}s"
"""


def write_config(directory: Path, target: ServerTarget, prefix: str) -> Path:
    """The job's config for one copy of the dataset (credentials, if any, in username/password)."""
    path = directory / f"{prefix}config.yaml"
    path.write_text(
        CONFIG_TEMPLATE.format(
            **{key: json.dumps(value) for key, value in target.config_keys().items()},
            prefix=prefix,
            instances=json.dumps(list(dataset.INSTANCES)),
            delete_h=dataset.DELETE_UNVERIFIED_AFTER_H,
            remind_h=dataset.REMIND_AFTER_H,
            inactive_h=dataset.INACTIVE_AFTER_H,
            grace_h=dataset.GRACE_H,
            secret=dataset.GLOBAL_SECRET,
            lease_s=LEASE_S,
        )
    )
    return path


# ---------------------------------------------------------------- worker side (one measurement per process)


class _ProgressHandler(logging.Handler):
    """Reads our tasks' own progress lines ("<task>[<instance>]: N users processed") to know how far a run got."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.by_instance: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if "users processed" in str(record.msg) and isinstance(record.args, tuple) and len(record.args) >= 3:
            self.by_instance[str(record.args[1])] = int(record.args[2])


def cpu_seconds() -> float:
    """User + system CPU of this process so far (its own resource usage, all threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _CommandTimes(Waiting):
    """pymongo command monitoring: every command sent (`commands`), the wall time with a command in flight
    (`waiting_s`, see `cli_probe.Waiting`) and, for `--profile`, the server round-trip time per (command,
    collection). `reset()` at the start of the measured part."""

    def __init__(self) -> None:
        super().__init__()
        self.totals: dict[str, list[float]] = {}
        self._pending: dict[int, str] = {}

    @property
    def count(self) -> int:
        return self.commands

    def reset(self) -> None:
        with self._lock:
            self.totals.clear()
            self._pending.clear()
            self.commands = 0
            self.waiting_s = 0.0
            self._in_flight = 0

    def started(self, event: Any) -> None:
        super().started(event)
        target = event.command.get(event.command_name)
        name = f"{event.command_name} {target if isinstance(target, str) else ''}".strip()
        self._pending[event.request_id] = name

    def _done(self, event: Any) -> None:
        super()._done(event)
        name = self._pending.pop(event.request_id, event.command_name)
        entry = self.totals.setdefault(name, [0, 0.0])
        entry[0] += 1
        entry[1] += event.duration_micros / 1e6

    succeeded = _done
    failed = _done

    def top(self, n: int = 8) -> list[tuple[str, int, float]]:
        rows = sorted(self.totals.items(), key=lambda kv: -kv[1][1])[:n]
        return [(name, int(count), round(total, 3)) for name, (count, total) in rows]


def expected_users(task: str, ctx: Any) -> int:
    """How many users the task will select on this instance now (for extrapolating capped runs)."""
    from usermgmt_pipeline.tasks import selection

    umc = ctx.config.user_management_config
    chosen = {
        "clean_up_unverified_users": lambda: selection.unverified_to_delete(
            ctx.before(int(umc.delete_unverified_users_after))
        ),
        "send_reminder_to_confirm_accounts": lambda: selection.unverified_to_remind(
            ctx.before(int(umc.send_reminder_to_confirm_account_after))
        ),
        "notify_inactive_users": lambda: selection.inactive_to_notify(
            ctx.before(int(umc.notify_after_inactive_for))
        ),
        "delete_marked_users": lambda: selection.marked_to_delete(ctx.now_s()),
    }.get(task, lambda: selection.ALL_USERS)()
    return int(ctx.dbs.users_db(ctx.instance_id)["users"].count_documents(chosen))


def _our_task(name: str) -> Any:
    if name in ("generate_profile_id_lookup", "lookup_rerun"):
        from usermgmt_pipeline.tasks.generate_profile_id_lookup import generate_profile_id_lookup

        return generate_profile_id_lookup
    if name == "migrate_account_info":
        from usermgmt_pipeline.tasks.migrate_account_info import migrate_account_info

        return migrate_account_info
    if name == "clean_up_unverified_users":
        from usermgmt_pipeline.tasks.clean_up_unverified_users import clean_up_unverified_users

        return clean_up_unverified_users
    if name == "send_reminder_to_confirm_accounts":
        from usermgmt_pipeline.tasks.send_reminder_to_confirm_accounts import (
            send_reminder_to_confirm_accounts,
        )

        return send_reminder_to_confirm_accounts
    from usermgmt_pipeline.tasks import handle_inactive_users

    return getattr(handle_inactive_users, name)


def _insert_first_lookup(spec: dict[str, Any], state: dict[str, Any]) -> None:
    """Completes a capped lookup map before the rerun: insert every wanted entry, unordered, 1000 per batch,
    and count duplicate-key errors (code 11000) from the unique `confidentialID_1_studyKey_1` index as
    "already present". Used to complete a capped first lookup before the rerun, and measured as the
    proposal for servers where `$in` on the map is a full scan (FerretDB/SQLite).
    """
    from pymongo.errors import BulkWriteError

    from usermgmt_pipeline.case.connections import CaseDatabases
    from usermgmt_pipeline.case.id_mapping import compute_participant_ids
    from usermgmt_pipeline.case.studies import decode_study
    from usermgmt_pipeline.config import load_config

    config = load_config(spec["config"])
    dbs = CaseDatabases.connect(config.db_configs)
    secret = config.study_configs.global_secret.get_secret_value()
    for instance_id in config.instance_ids:  # for extrapolating a capped run
        state["expected"] += dbs.users_db(instance_id)["users"].count_documents({})
    _mark_started(state)
    created = present = 0

    def flush(batch: list[dict[str, str]], id_map: Any) -> None:
        nonlocal created, present
        if not batch:
            return
        try:
            created += id_map.insert_many(batch, ordered=False).inserted_ids.__len__()
        except BulkWriteError as exc:
            duplicates = sum(1 for e in exc.details.get("writeErrors", []) if e.get("code") == 11000)
            if duplicates != len(exc.details.get("writeErrors", [])):
                raise
            created += int(exc.details.get("nInserted", 0))
            present += duplicates
        batch.clear()

    try:
        for instance_id in config.instance_ids:
            study_db = dbs.study_db(instance_id)
            studies = [decode_study(d) for d in study_db["study-infos"].find({"status": "active"})]
            id_map = study_db["confidential-id-map"]
            batch: list[dict[str, str]] = []
            users = dbs.users_db(instance_id)["users"].find(
                {}, projection={"profiles._id": 1}, batch_size=1000
            )
            for user in users:
                for profile in user.get("profiles") or []:
                    pid = str(profile["_id"])
                    for study in studies:
                        cid = compute_participant_ids(study.identity, pid, secret).confidential_id
                        batch.append({"confidentialID": cid, "profileID": pid, "studyKey": study.key})
                state["users"] += 1
                if len(batch) >= 1000:
                    flush(batch, id_map)
            flush(batch, id_map)
    finally:
        dbs.close()
    state["note"] = f"created {created}, already present {present}"


def _mark_started(state: dict[str, Any]) -> None:
    """The measured part starts: commands, waiting time, CPU and wall clock from here."""
    state["counter"].reset()
    state["cpu_started"] = cpu_seconds()
    state["started"] = time.monotonic()


def _run_side(spec: dict[str, Any], state: dict[str, Any], handler: _ProgressHandler) -> None:
    from usermgmt_pipeline.case.connections import CaseDatabases
    from usermgmt_pipeline.config import load_config
    from usermgmt_pipeline.tasks.context import RunOptions, TaskContext

    config = load_config(spec["config"])
    dbs = CaseDatabases.connect(config.db_configs)
    try:
        for instance_id in config.instance_ids:
            state["expected"] += expected_users(spec["task"], TaskContext(config, dbs, instance_id))
        if spec["side"] == "baseline":
            import baseline

            fn = baseline.TASKS[
                "generate_profile_id_lookup" if spec["task"] == "lookup_rerun" else spec["task"]
            ]
            progress = baseline.Progress()
            state["progress"] = progress
            _mark_started(state)
            for instance_id in config.instance_ids:
                fn(baseline.BaselineInstance(TaskContext(config, dbs, instance_id)), progress)
            state["users"] = progress.users
            return
        task = _our_task(spec["task"])
        options = RunOptions(allow_mass_deletion=True)
        _mark_started(state)
        for instance_id in config.instance_ids:
            result = task(TaskContext(config, dbs, instance_id, options=options))
            state["finished_users"] += result.selected
            state["failed"] += result.failed
            handler.by_instance.pop(instance_id, None)
        state["users"] = state["finished_users"]
    finally:
        dbs.close()


def worker(spec: dict[str, Any]) -> None:
    """Run one measurement in a thread; stop reporting at the cap; print one JSON line and exit hard."""
    handler = _ProgressHandler()
    tasks_logger = logging.getLogger("usermgmt_pipeline.tasks")
    tasks_logger.setLevel(logging.INFO)
    tasks_logger.addHandler(handler)
    tasks_logger.propagate = False
    times = _CommandTimes()
    monitoring.register(times)  # before any client exists: listeners are fixed when a client is created
    state: dict[str, Any] = {
        "users": 0,
        "expected": 0,
        "finished_users": 0,
        "failed": 0,
        "error": "",
        "counter": times,
    }

    def target() -> None:
        try:
            if spec["side"] == "insert_first":
                _insert_first_lookup(spec, state)
            else:
                _run_side(spec, state, handler)
        except BaseException as exc:  # reported, not raised: the parent prints it in the table
            state["error"] = f"{type(exc).__name__}: {exc}"[:300]

    thread = threading.Thread(target=target, daemon=True)
    started = time.monotonic()
    thread.start()
    while "started" not in state and thread.is_alive():  # counting the selection is not part of the run
        time.sleep(0.01)
    thread.join(spec["cap"] or None)
    ended = time.monotonic()
    cpu = cpu_seconds() - state.get("cpu_started", 0.0)
    capped = thread.is_alive()
    users = state["users"]
    if capped:
        if "progress" in state:
            users = state["progress"].users
        elif spec["side"] == "ours":
            users = state["finished_users"] + sum(handler.by_instance.values())
    print(
        json.dumps(
            {
                "seconds": ended - state.get("started", started),
                "users": users,
                "expected": state["expected"] or spec.get("entries", 0),
                "capped": capped,
                "commands": times.top() if spec.get("profile") else [],
                "command_count": times.count,
                "cpu_s": cpu,
                "waiting_s": times.waiting_s,
                "failed": state["failed"],
                "error": state["error"],
                "note": state.get("note", ""),
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        ),
        flush=True,
    )
    if capped:
        _release_leases(spec["config"])
    os._exit(0)


def _release_leases(config_path: str) -> None:
    """Drop the instance leases of the deployment a capped worker leaves (its task thread still holds them and
    dies with the process); the benchmark owns that deployment, and nothing else runs on it."""
    from usermgmt_pipeline.case.connections import CaseDatabases
    from usermgmt_pipeline.config import load_config

    dbs = CaseDatabases.connect(load_config(config_path).db_configs)
    try:
        dbs.pipeline_db()["locks"].delete_many({})
    finally:
        dbs.close()


# ---------------------------------------------------------------- parent side


@dataclass
class Measurement:
    seconds: float
    users: int
    capped: bool
    rss_mb: float
    error: str
    failed: int
    expected: int
    commands: list[Any]
    note: str = ""
    command_count: int = 0
    cpu_s: float = 0.0
    waiting_s: float = 0.0
    raw: raw_limit.RawWrites | None = None
    fixed: Measurement | None = None  # the same task on a dataset with no user (`--fixed-cost`)

    @property
    def cpu_ms_per_user(self) -> float:
        """This process's own CPU (user + system) over the measured part, per selected user."""
        return 1000 * self.cpu_s / max(self.users, 1)

    @property
    def wait_share(self) -> float:
        """Share of the wall time with a command in flight (waiting for the server)."""
        return self.waiting_s / self.seconds if self.seconds else 0.0

    @property
    def net_commands_per_user(self) -> float:
        """Commands per selected user without the fixed commands a run with no user sends."""
        fixed = self.fixed.command_count if self.fixed is not None else 0
        return max(self.command_count - fixed, 0) / max(self.users, 1)

    @property
    def commands_per_user(self) -> float:
        return self.command_count / max(self.users, 1)

    @property
    def total_seconds(self) -> float:
        """Measured time, or for a capped run the time all expected users would take at the measured rate."""
        if not self.capped:
            return self.seconds
        return self.seconds * self.expected / max(self.users, 1)

    def shown_time(self) -> str:
        if self.error:
            return "error"
        return f"~{self.total_seconds:,.1f}" if self.capped else f"{self.seconds:,.1f}"


def measure(spec: dict[str, Any]) -> Measurement:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return Measurement(0, 0, False, 0, f"worker died: {out.stderr[-500:]}", 0, 0, [])
    data = json.loads(lines[-1])
    return Measurement(
        data["seconds"],
        data["users"],
        data["capped"],
        data["rss_mb"],
        data["error"],
        data["failed"],
        data["expected"] or data["users"],
        data["commands"],
        data.get("note", ""),
        data.get("command_count", 0),
        data.get("cpu_s", 0.0),
        data.get("waiting_s", 0.0),
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Benchmark of issue 8: our tasks vs the Go-style baseline.")
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument(
        "--tasks", default=",".join(TASK_ORDER), help="comma-separated subset of " + ", ".join(TASK_ORDER)
    )
    parser.add_argument(
        "--cap-seconds", type=float, default=0, help="stop a measurement after this long (0: never)"
    )
    parser.add_argument("--profile", action="store_true", help="print the slowest server commands per run")
    parser.add_argument(
        "--skip-baseline", action="store_true", help="only our side and the raw limit (quick iterations)"
    )
    parser.add_argument(
        "--db-prefix", default="", help="put every database the script writes under this prefix (tests)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = set(tasks) - set(TASK_ORDER)
    if unknown:
        parser.error(f"unknown tasks: {', '.join(sorted(unknown))}")
    tasks = [t for t in TASK_ORDER if t in tasks]

    sides = {
        side: args.db_prefix + prefix
        for side, prefix in SIDES.items()
        if not (args.skip_baseline and side == "baseline")
    }
    raw_prefix, empty_prefix = args.db_prefix + RAW_PREFIX, args.db_prefix + EMPTY_PREFIX
    with tempfile.TemporaryDirectory(prefix="usermgmt-bench-") as tmp_name:
        tmp = Path(tmp_name)
        target, server = start_or_use(tmp)
        try:
            now = int(time.time())
            with target.client() as client:
                for prefix in [*sides.values(), raw_prefix, empty_prefix]:
                    summary = dataset.generate(
                        client, prefix, 0 if prefix == empty_prefix else args.users, now=now
                    )
                    print(
                        f"dataset {prefix}: {summary.users:,} users, {summary.profiles:,} profiles, "
                        f"{summary.docs:,} documents in {summary.seconds:.1f}s ({summary.docs_per_s:,.0f} docs/s)",
                        flush=True,
                    )
                configs = {side: str(write_config(tmp, target, prefix)) for side, prefix in sides.items()}
                configs["empty"] = str(write_config(tmp, target, empty_prefix))
                rows = [_measure_task(task, sides, raw_prefix, configs, args, client) for task in tasks]
            print()
            print(render_table(args.users, rows))
        finally:
            if server is not None:
                server.stop()
    return 0


def _measure_task(
    task: str,
    sides: dict[str, str],
    raw_prefix: str,
    configs: dict[str, str],
    args: argparse.Namespace,
    client: Any,
) -> tuple[str, Measurement | None, Measurement]:
    """One task on each side, then the raw copy brought to our side's state (the timed raw limit)."""
    results: dict[str, Measurement] = {}
    for side in sides:
        spec = {
            "side": side,
            "task": task,
            "config": configs[side],
            "cap": args.cap_seconds,
            "profile": args.profile,
        }
        results[side] = m = measure(spec)
        print(
            f"  {task:<34} {side:<8} {m.shown_time():>10}s users={m.users:,} commands={m.command_count:,} "
            f"rss={m.rss_mb:.0f}MB"
            + (" capped" if m.capped else "")
            + (f" failed={m.failed}" if m.failed else "")
            + (f" ERROR {m.error}" if m.error else ""),
            flush=True,
        )
        for name, count, total in m.commands:
            print(f"      {total:9.3f}s {count:8,}x {name}", flush=True)
    ours = results["ours"]
    ours.fixed = fixed = measure({"side": "ours", "task": task, "config": configs["empty"], "cap": 0})
    print(
        f"  {task:<34} {'no users':<8} {fixed.seconds:>10.2f}s commands={fixed.command_count:,} "
        f"cpu={fixed.cpu_s:.2f}s" + (f" ERROR {fixed.error}" if fixed.error else ""),
        flush=True,
    )
    ours.raw = raw_limit.replay(client, sides["ours"], raw_prefix)
    print(f"  {task:<34} {'raw':<8} {ours.raw.seconds:>10.1f}s {ours.raw.describe()}", flush=True)
    if task == "generate_profile_id_lookup":
        for side, m in results.items():
            if m.capped or m.error:  # the rerun must find a complete map: fill it, untimed
                fill = measure({"side": "insert_first", "config": configs[side], "cap": 0})
                print(f"  (completed the {side} map for the rerun in {fill.seconds:.1f}s: {fill.note})")
        raw_limit.replay(client, sides["ours"], raw_prefix, timed=False)
    return task, results.get("baseline"), ours


def _baseline_seconds_for(base: Measurement, ours: Measurement) -> float:
    """The baseline's time for as many users as ours had: a capped earlier task (the baseline's clean-up,
    say) leaves the baseline copy with more users selected by the next task than ours."""
    if not base.expected or base.expected == ours.expected:
        return base.total_seconds
    return base.total_seconds * ours.expected / base.expected


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.1f}x" if numerator and denominator else "-"


def render_table(users: int, rows: list[tuple[str, Measurement | None, Measurement]]) -> str:
    header = (
        f"{'task':<34} {'users':>7} {'cmd/user':>8} {'cmd/user':>8} {'baseline s':>11} {'ours s':>9} "
        f"{'raw s':>7} {'vs base':>8} {'vs raw':>7} {'RSS':>4} {'RSS':>4} {'cmd/user':>8} {'cpu ms':>7} "
        f"{'wait':>5} {'fixed s':>7}"
    )
    sub = (
        f"{'':<34} {'':>7} {'base':>8} {'ours':>8} {'':>11} {'':>9} {'':>7} {'':>8} {'':>7} {'base':>4} "
        f"{'ours':>4} {'net':>8} {'/user':>7} {'':>5} {'/inst':>7}"
    )
    lines = [
        f"{users:,} users, 2 instances; times in seconds; cmd/user = commands sent per selected user;",
        "raw = the server writing exactly our documents in bulk; vs base = baseline s / ours s;",
        "vs raw = ours s / raw s; RSS = peak MB of the task's process; our side only from here:",
        "cmd/user net = without the commands of the same run with no user; cpu ms/user = our process's own",
        "CPU (user+system); wait = share of the wall time with a command in flight (server + network);",
        "fixed s/inst = the same task on the same deployment without users, per instance",
        header,
        sub,
        "-" * len(header),
    ]
    for task, base, ours in rows:
        raw_s = ours.raw.seconds if ours.raw is not None else 0.0
        if ours.capped and raw_s:  # our side did part of the work: scale its raw time the same way
            raw_s *= ours.expected / max(ours.users, 1)
        base_time = base.shown_time() if base else "-"
        base_cmds = f"{base.commands_per_user:.3f}" if base and base.users else "-"
        vs_base = (
            _ratio(_baseline_seconds_for(base, ours), ours.total_seconds)
            if base and not (base.error or ours.error)
            else "-"
        )
        lines.append(
            f"{task:<34} {ours.expected:>7,} {base_cmds:>8} {ours.commands_per_user:>8.3f} {base_time:>11} "
            f"{ours.shown_time():>9} {(f'{raw_s:.1f}' if raw_s else '-'):>7} {vs_base:>8} "
            f"{_ratio(ours.total_seconds, raw_s) if raw_s >= 0.05 else '-':>7} "
            f"{(f'{base.rss_mb:.0f}' if base else '-'):>4} {ours.rss_mb:>4.0f} "
            f"{ours.net_commands_per_user:>8.3f} {ours.cpu_ms_per_user:>7.2f} {ours.wait_share:>5.0%} "
            f"{(f'{ours.fixed.seconds / len(dataset.INSTANCES):.2f}' if ours.fixed else '-'):>7}"
        )
    for task, _base, ours in rows:
        if ours.raw is not None and ours.raw.documents:
            lines.append(f"  raw {task}: {ours.raw.describe()}")
    if any(m is not None and m.capped for _t, b, o in rows for m in (b, o)):
        lines.append("  ~ = stopped at --cap-seconds; total extrapolated from the measured rate")
    for task, base, ours in rows:
        if base is not None and not base.error and base.expected != ours.expected:
            lines.append(
                f"  {task}: the baseline had {base.expected:,} users to do, ours {ours.expected:,} (an earlier "
                "capped task left the copies apart); vs base compares the time for ours' users at the "
                "baseline's rate"
            )
    errors = [
        f"  {t} {side}: {m.error}"
        for t, b, o in rows
        for side, m in (("baseline", b), ("ours", o))
        if m is not None and m.error
    ]
    return "\n".join(lines + errors)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
