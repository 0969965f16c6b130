"""Secret overrides from environment variables, exactly the set the Go job honours (docs/case-data.md §1.6).

Only a non-empty variable overrides; connection strings, prefixes and timeouts cannot be overridden,
as in Go. Applied to the decoded data before validation, so e.g. a password supplied only through
the environment satisfies the username/password pairing rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from usermgmt_pipeline.config.env_names import external_service_api_key_env_var
from usermgmt_pipeline.config.rules import DB_KEYS

SMTP_BRIDGE_API_KEY = "SMTP_BRIDGE_API_KEY"
STUDY_GLOBAL_SECRET = "STUDY_GLOBAL_SECRET"
ACCOUNT_HASH_KEY = "USERMGMT_ACCOUNT_HASH_KEY"  # ours, not the Go job's: orchestration.account_hash_key


def db_credential_env_vars(db_key: str) -> tuple[str, str]:
    """(`<DB>_USERNAME`, `<DB>_PASSWORD`), e.g. `STUDY_DB_USERNAME` for `study_db`."""
    return f"{db_key.upper()}_USERNAME", f"{db_key.upper()}_PASSWORD"


def _section(data: Any, *keys: str) -> dict[str, Any] | None:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data if isinstance(data, dict) else None


def _override(target: dict[str, Any] | None, field: str, env: Mapping[str, str], var: str) -> None:
    value = env.get(var, "")
    if target is not None and value:
        target[field] = SecretStr(value)


def apply_env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> None:
    """Replace secrets in decoded config data (as produced by `decoding.decode_document`) in place."""
    for db_key in DB_KEYS:
        db = _section(data, "db_configs", db_key)
        username_var, password_var = db_credential_env_vars(db_key)
        _override(db, "username", env, username_var)
        _override(db, "password", env, password_var)
    _override(_section(data, "messaging_configs", "smtp_bridge_config"), "api_key", env, SMTP_BRIDGE_API_KEY)
    study = _section(data, "study_configs")
    _override(study, "global_secret", env, STUDY_GLOBAL_SECRET)
    if env.get(ACCOUNT_HASH_KEY, "") and not isinstance(data.get("orchestration"), dict):
        data[
            "orchestration"
        ] = {}  # the section is absent from the file (decoded as its defaults): the key alone
    _override(_section(data, "orchestration"), "account_hash_key", env, ACCOUNT_HASH_KEY)
    services = study.get("external_services") if study is not None else None
    for service in services if isinstance(services, list) else ():
        if isinstance(service, dict) and service.get("name"):
            _override(service, "api_key", env, external_service_api_key_env_var(service["name"]))
