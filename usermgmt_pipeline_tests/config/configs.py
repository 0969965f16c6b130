"""Builders of valid configurations that the config tests then break one key at a time."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from usermgmt_pipeline.config import AppConfig, ConfigError, parse_config_text

DB_KEYS = ("participant_user_db", "global_infos_db", "messaging_db", "study_db")
ALL_TASKS = (
    "clean_up_unverified_users",
    "send_reminder_to_confirm_accounts",
    "handle_inactive_users",
    "generate_profile_id_lookup",
    "migrate_account_info",
)


def valid_config() -> dict[str, Any]:
    """A minimal valid config (Go spellings) with every task enabled."""
    db = {"connection_str": "localhost:27017", "username": "user", "password": "pass", "timeout": 30}
    return {
        "db_configs": {key: copy.deepcopy(db) for key in DB_KEYS},
        "instance_ids": ["default"],
        "user_management_config": {
            "delete_unverified_users_after": "168h",
            "send_reminder_to_confirm_account_after": "48h",
            "email_contact_verification_token_ttl": "48h",
            "notify_after_inactive_for": "8760h",
            "mark_for_deletion_after_inactivity_notification": "336h",
        },
        "study_configs": {"global_secret": "global-secret"},
        "run_tasks": {task: True for task in ALL_TASKS},
    }


def to_yaml(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def load_text(text: str, env: dict[str, str] | None = None) -> AppConfig:
    return parse_config_text(text, env or {})


def load_dict(config: dict[str, Any], env: dict[str, str] | None = None) -> AppConfig:
    return load_text(to_yaml(config), env)


def config_errors(source: str | dict[str, Any], env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    text = source if isinstance(source, str) else to_yaml(source)
    with pytest.raises(ConfigError) as caught:
        load_text(text, env)
    return caught.value.errors
