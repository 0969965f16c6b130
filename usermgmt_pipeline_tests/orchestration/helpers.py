"""Shared by the orchestration and CLI tests: a real config file for the test server, and seeded instances."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pymongo import MongoClient

from usermgmt_pipeline.demo.seed import seed_instance

GLOBAL_SECRET = "test-global-secret"
ALL_TASKS = (
    "clean_up_unverified_users",
    "send_reminder_to_confirm_accounts",
    "handle_inactive_users",
    "generate_profile_id_lookup",
    "migrate_account_info",
)


def connection_str(mongo_uri: str) -> str:
    """`host:port/` of the test server's URI, the part the Go config calls connection_str."""
    rest = mongo_uri.split("://", 1)[1]
    return rest.split("/", 1)[0] + "/"


def config_document(
    mongo_uri: str,
    db_prefix: str,
    instance_ids: Sequence[str],
    *,
    tasks: Sequence[str] = ALL_TASKS,
    orchestration: dict[str, Any] | None = None,
    smtp_url: str = "http://127.0.0.1:9/",
    global_secret: str = GLOBAL_SECRET,
    logging_section: dict[str, Any] | None = None,
) -> dict[str, Any]:
    db = {
        "connection_str": connection_str(mongo_uri),
        "username": "",
        "password": "",
        "connection_prefix": "",
        "timeout": 20,
        "idle_conn_timeout": 45,
        "max_pool_size": 4,
        "use_no_cursor_timeout": False,
        "db_name_prefix": db_prefix,
    }
    doc: dict[str, Any] = {
        "logging": logging_section or {"log_level": "info", "include_build_info": "never"},
        "db_configs": {
            key: dict(db) for key in ("participant_user_db", "global_infos_db", "messaging_db", "study_db")
        },
        "instance_ids": list(instance_ids),
        "user_management_config": {
            "delete_unverified_users_after": "168h",
            "send_reminder_to_confirm_account_after": "48h",
            "email_contact_verification_token_ttl": "48h",
            "notify_after_inactive_for": "8760h",
            "mark_for_deletion_after_inactivity_notification": "336h",
        },
        "messaging_configs": {
            "smtp_bridge_config": {"url": smtp_url, "api_key": "", "timeout": 5},
            "global_email_template_constants": {"app_name": "Test Platform"},
        },
        "study_configs": {"global_secret": global_secret, "external_services": []},
        "run_tasks": {task: task in tasks for task in ALL_TASKS},
    }
    if orchestration is not None:
        doc["orchestration"] = orchestration
    return doc


def write_config(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def dagster_home(path: Path) -> Path:
    """An empty Dagster instance folder for a CLI run to record into (telemetry off, as everywhere here)."""
    path.mkdir()
    (path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return path


def seed(
    mongo_client: MongoClient, db_prefix: str, instance_ids: Sequence[str], now: int | None = None
) -> int:
    now = int(time.time()) if now is None else now
    for instance_id in instance_ids:
        seed_instance(mongo_client, instance_id, db_prefix=db_prefix, global_secret=GLOBAL_SECRET, now=now)
    return now


def user_count(mongo_client: MongoClient, db_prefix: str, instance_id: str) -> int:
    return mongo_client[f"{db_prefix}{instance_id}_users"]["users"].count_documents({})


def id_map_count(mongo_client: MongoClient, db_prefix: str, instance_id: str) -> int:
    return mongo_client[f"{db_prefix}{instance_id}_studyDB"]["confidential-id-map"].count_documents({})


def outgoing_count(mongo_client: MongoClient, db_prefix: str, instance_id: str) -> int:
    return mongo_client[f"{db_prefix}{instance_id}_messageDB"]["outgoing-emails"].count_documents({})


def break_participants(mongo_client: MongoClient, db_prefix: str, instance_id: str, study_key: str) -> None:
    """Make every participant of one study undecodable, so deleting any user who took part fails that user."""
    participants = mongo_client[f"{db_prefix}{instance_id}_studyDB"][f"{study_key}_participants"]
    participants.update_many({}, {"$set": {"studyStatus": 5}})
