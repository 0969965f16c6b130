"""`user-management history --instance ID --user USER_ID [--format text|json]`: one account's recorded actions.

Reads only our own audit log (database `<global_infos prefix>usermgmt-pipeline`), so it works after the
account was deleted, and touches no CASE database. Exit codes as the main command: 2 for a bad config or
arguments, 1 when the database cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from usermgmt_pipeline.account_history import account_history, as_json, as_text
from usermgmt_pipeline.config import ConfigError, load_config_from_env

EXIT_OK, EXIT_FAILED, EXIT_BAD_CONFIG = 0, 1, 2


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="user-management history",
        description="Print every recorded action on one account, oldest first (works after deletion).",
    )
    parser.add_argument("--instance", required=True, metavar="ID", help="the CASE instance ID")
    parser.add_argument("--user", required=True, metavar="USER_ID", help="the user's id (hex ObjectId)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="text (default) or json")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage error
        return EXIT_OK if exc.code == 0 else EXIT_BAD_CONFIG
    try:
        cfg = load_config_from_env()
    except ConfigError as exc:
        print(f"user-management: invalid configuration:\n{exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if args.instance not in cfg.instance_ids:
        print(f"user-management: --instance {args.instance} is not in instance_ids", file=sys.stderr)
        return EXIT_BAD_CONFIG
    from pymongo.errors import PyMongoError

    from usermgmt_pipeline.case.connections import DatabaseConnectionError, make_client
    from usermgmt_pipeline.case.pipeline_store import PipelineStore

    db_config = cfg.db_configs.global_infos_db
    try:
        client = make_client(db_config, "global_infos_db")
    except DatabaseConnectionError as exc:
        print(f"user-management: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        store = PipelineStore(
            client[f"{db_config.db_name_prefix}usermgmt-pipeline"], float(db_config.timeout)
        )
        entries = account_history(store, args.instance, args.user)
    except PyMongoError as exc:
        print(
            f"user-management: reading the audit records failed: {type(exc).__name__}: {exc}", file=sys.stderr
        )
        return EXIT_FAILED
    finally:
        client.close()
    render = as_json if args.format == "json" else as_text
    sys.stdout.write(render(args.instance, args.user, entries) + ("\n" if args.format == "json" else ""))
    return EXIT_OK
