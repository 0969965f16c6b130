"""`user-management history --instance ID (--user USER_ID | --email ADDRESS) [--format text|json]`: one
account's recorded actions.

`--email` finds the account by the keyed hash of its address that the audit records carry when
`orchestration.account_hash_key` is set (see `usermgmt_pipeline.account_hash`): the address itself is never
stored. Without the key it exits 2 and says so; records written while no key was set (or under another key)
cannot be found by address, only by user id.

Reads only our own audit log (database `<global_infos prefix>usermgmt-pipeline`), so it works after the
account was deleted, and touches no CASE database. Exit codes: 0 records found, 1 the database cannot be
read, 2 a bad config or arguments (a malformed user id with no record included), 4 nothing recorded for
that account, so a script asking "did we act on this account?" needs no parsing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from bson import ObjectId

from usermgmt_pipeline.account_hash import account_hash
from usermgmt_pipeline.account_history import (
    HistoryEntry,
    account_history,
    as_json,
    as_text,
    histories_by_account_hash,
)
from usermgmt_pipeline.config import ConfigError, load_config_from_env
from usermgmt_pipeline.config.env_overrides import ACCOUNT_HASH_KEY

EXIT_OK, EXIT_FAILED, EXIT_BAD_CONFIG, EXIT_NOTHING_RECORDED = 0, 1, 2, 4

EXIT_CODES_HELP = f"""exit codes:
  {EXIT_OK}  the account's records were printed
  {EXIT_FAILED}  the pipeline database could not be read
  {EXIT_BAD_CONFIG}  bad configuration or arguments (unknown instance; a malformed user id with no record;
     --email without orchestration.account_hash_key)
  {EXIT_NOTHING_RECORDED}  no recorded action on that account in that instance"""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="user-management history",
        description="Print every recorded action on one account, oldest first (works after deletion).",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--instance", required=True, metavar="ID", help="the CASE instance ID")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="USER_ID", help="the user's id (24 hex digits)")
    who.add_argument(
        "--email",
        metavar="ADDRESS",
        help="the account's email address (= CASE account id), also after the account was deleted; needs "
        "orchestration.account_hash_key (or USERMGMT_ACCOUNT_HASH_KEY)",
    )
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
    key = cfg.orchestration.account_hash_key.get_secret_value()
    if args.email is not None and not key:
        print(
            "user-management history: --email needs orchestration.account_hash_key (or the "
            f"{ACCOUNT_HASH_KEY} variable), the key the runs hashed the addresses with; none is set, so no "
            "record can be found by address (look it up with --user USER_ID)",
            file=sys.stderr,
        )
        return EXIT_BAD_CONFIG
    from pymongo.errors import PyMongoError

    from usermgmt_pipeline.case.connections import DatabaseConnectionError, make_client, pipeline_database
    from usermgmt_pipeline.case.pipeline_store import PipelineStore

    db_config = cfg.db_configs.global_infos_db
    try:
        client = make_client(db_config, "global_infos_db")
    except DatabaseConnectionError as exc:
        print(f"user-management: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        store = PipelineStore(pipeline_database(client, db_config), float(db_config.timeout))
        if args.email is not None:
            histories = histories_by_account_hash(store, args.instance, account_hash(key, args.email))
        else:
            histories = {args.user: account_history(store, args.instance, args.user)}
    except PyMongoError as exc:
        print(
            f"user-management: reading the audit records failed: {type(exc).__name__}: {exc}", file=sys.stderr
        )
        return EXIT_FAILED
    finally:
        client.close()
    if args.email is not None:
        return _print_by_address(args.instance, histories, args.format)
    entries = histories[args.user]
    if not entries and not ObjectId.is_valid(args.user):
        # Looked up all the same: a legacy account whose `_id` is not an ObjectId is audited under its str().
        print(
            f"user-management history: --user {args.user!r} is not a user id (24 hex digits, as CASE assigns "
            "them) and nothing is recorded under it",
            file=sys.stderr,
        )
        return EXIT_BAD_CONFIG
    render = as_json if args.format == "json" else as_text
    sys.stdout.write(render(args.instance, args.user, entries) + ("\n" if args.format == "json" else ""))
    return EXIT_OK if entries else EXIT_NOTHING_RECORDED


def _print_by_address(instance_id: str, histories: dict[str, list[HistoryEntry]], fmt: str) -> int:
    """Every account found under the address (a re-registered address has several), without the address."""
    if fmt == "json":
        users = [json.loads(as_json(instance_id, user_id, entries)) for user_id, entries in histories.items()]
        sys.stdout.write(json.dumps({"instanceID": instance_id, "users": users}, indent=2) + "\n")
    elif not histories:
        sys.stdout.write(f"no recorded action on an account with that address in instance {instance_id}\n")
    else:
        sys.stdout.write("\n".join(as_text(instance_id, u, e) for u, e in histories.items()))
    return EXIT_OK if histories else EXIT_NOTHING_RECORDED
