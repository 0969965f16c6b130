"""`python -m devtools.demo [run [CLI ARGS...] | serve-db | serve-ui]` (from the repository root): the one-command
demo on a local FerretDB.

`run` starts FerretDB on 127.0.0.1:27018 (data under .cache/demo), seeds three instances and runs the
user-management CLI over them with the bundled demo config. `serve-db` only starts and seeds the server
and keeps it running. `serve-ui` (for `make ui`) also runs the job once per instance into $DAGSTER_HOME
first, so the UI opens on a populated instance.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from pymongo import MongoClient

from devtools.local_mongo import REPO_ROOT, LocalMongoServer, start_ferretdb
from usermgmt_pipeline.demo import DEMO_CONFIG

DEMO_PORT = 27018
DEMO_PREFIX = "demo_"
READY_FILE = REPO_ROOT / ".cache" / "demo-ui-ready"
DEMO_INSTANCES = ("default", "research_instance", "pilot_study")


def start_and_seed() -> LocalMongoServer:
    from usermgmt_pipeline.demo.seed import seed_instance

    data_dir = REPO_ROOT / ".cache" / "demo"
    data_dir.mkdir(parents=True, exist_ok=True)
    server = start_ferretdb(data_dir, port=DEMO_PORT)
    client: MongoClient[dict[str, Any]] = MongoClient(server.uri)
    client.drop_database(f"{DEMO_PREFIX}global-infos")
    client.drop_database(f"{DEMO_PREFIX}usermgmt-pipeline")
    for instance_id in DEMO_INSTANCES:
        summary = seed_instance(
            client, instance_id, db_prefix=DEMO_PREFIX, global_secret="demo-global-secret"
        )
        states = ", ".join(f"{n} {s}" for s, n in summary.users_by_state.items())
        print(f"seeded {instance_id}: {states}")
    client.close()
    return server


def populate_dagster_home() -> None:
    """Run the job once per demo instance into $DAGSTER_HOME, so the UI opens on materializations, metadata
    plots and check results instead of an empty page; then mark the demo as ready for `make ui`."""
    from usermgmt_pipeline.cli import main as cli_main

    if os.environ.get("DAGSTER_HOME"):
        code = cli_main([])
        print(f"demo: ran the job once per instance into {os.environ['DAGSTER_HOME']} (exit code {code})")
    READY_FILE.parent.mkdir(parents=True, exist_ok=True)
    READY_FILE.write_text("ready\n")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Arguments are parsed before anything starts: an unknown one is an error (exit 2), never a reseed."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.demo",
        description="The demo on a local FerretDB (127.0.0.1:27018, data under .cache/demo): every mode drops "
        "and reseeds the three demo instances first.",
    )
    modes = parser.add_subparsers(dest="mode", metavar="MODE")
    modes.add_parser(
        "run",
        add_help=False,  # `run --help` is the CLI's help
        help="seed, then run the user-management CLI over the demo instances (the default mode); the "
        "arguments after `run` go to it, e.g. `run --dry-run`",
    )
    modes.add_parser("serve-db", help="seed, then keep the server running until Ctrl-C")
    modes.add_parser(
        "serve-ui", help="seed, run the job once per instance into $DAGSTER_HOME, keep serving (`make ui`)"
    )
    args, rest = parser.parse_known_args(argv)
    args.mode = args.mode or "run"
    if rest and argv[:1] != ["run"]:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if rest:  # checked now, so a typo never costs a reseed; `run --help` prints the CLI's help
        from usermgmt_pipeline.cli import parse_args as cli_parse_args

        cli_parse_args(rest)
    args.cli_args = rest
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    os.environ["CONFIG_FILE_PATH"] = str(DEMO_CONFIG)  # the demo runs on the demo config, whatever is set
    mode = args.mode
    # `make ui` stops us with SIGTERM: exit through `finally` so the FerretDB child is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = start_and_seed()
    try:
        if mode == "serve-ui":
            populate_dagster_home()
            mode = "serve-db"
        if mode == "serve-db":
            print(f"FerretDB with the demo data is listening on 127.0.0.1:{DEMO_PORT}; Ctrl-C stops it.")
            assert server.process is not None  # start_ferretdb always starts a child process
            server.process.wait()
            return 0
        from usermgmt_pipeline.cli import main as cli_main

        return cli_main(args.cli_args)
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
