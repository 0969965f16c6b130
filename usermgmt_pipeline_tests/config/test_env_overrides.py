"""Secret overrides from the environment: exactly Go's variables, only when non-empty, before validation."""

from __future__ import annotations

from typing import Any

import pytest

from usermgmt_pipeline_tests.config.configs import DB_KEYS, config_errors, load_dict, valid_config


def _with_services(*names: str) -> dict[str, Any]:
    config = valid_config()
    config["study_configs"]["external_services"] = [
        {"name": name, "url": f"https://{index}.example", "api_key": f"file-key-{index}"}
        for index, name in enumerate(names)
    ]
    return config


@pytest.mark.parametrize("db_key", DB_KEYS)
def test_db_credentials_are_overridden_by_their_env_vars(db_key: str) -> None:
    prefix = db_key.upper()
    cfg = load_dict(valid_config(), {f"{prefix}_USERNAME": "env-user", f"{prefix}_PASSWORD": "env-pass"})
    db = getattr(cfg.db_configs, db_key)
    assert (db.username.get_secret_value(), db.password.get_secret_value()) == ("env-user", "env-pass")
    others = [getattr(cfg.db_configs, key) for key in DB_KEYS if key != db_key]
    assert all(other.username.get_secret_value() == "user" for other in others)


def test_smtp_bridge_api_key_and_global_secret_are_overridden() -> None:
    config = valid_config()
    config["messaging_configs"] = {"smtp_bridge_config": {"api_key": "file-smtp"}}
    cfg = load_dict(config, {"SMTP_BRIDGE_API_KEY": "env-smtp", "STUDY_GLOBAL_SECRET": "env-secret"})
    assert cfg.messaging_configs.smtp_bridge_config.api_key.get_secret_value() == "env-smtp"
    assert cfg.study_configs.global_secret.get_secret_value() == "env-secret"


def test_empty_env_values_do_not_override() -> None:
    env = {"STUDY_DB_PASSWORD": "", "STUDY_GLOBAL_SECRET": "", "EXTERNAL_SERVICE_API_KEY_FOR_MAILER": ""}
    cfg = load_dict(_with_services("mailer"), env)
    assert cfg.db_configs.study_db.password.get_secret_value() == "pass"
    assert cfg.study_configs.global_secret.get_secret_value() == "global-secret"
    assert cfg.study_configs.external_services[0].api_key.get_secret_value() == "file-key-0"


def test_no_other_setting_can_be_overridden_from_the_environment() -> None:
    env = {"STUDY_DB_CONNECTION_STR": "evil:27017", "STUDY_DB_TIMEOUT": "1", "CONFIG_FILE_PATH": "/x"}
    cfg = load_dict(valid_config(), env)
    assert cfg.db_configs.study_db.connection_str == "localhost:27017"
    assert cfg.db_configs.study_db.timeout == 30


@pytest.mark.parametrize(
    ("name", "variable"),
    [
        ("analytics", "EXTERNAL_SERVICE_API_KEY_FOR_ANALYTICS"),
        ("my-analytics-service", "EXTERNAL_SERVICE_API_KEY_FOR_MY_ANALYTICS_SERVICE"),
        ("notification.hub.v2", "EXTERNAL_SERVICE_API_KEY_FOR_NOTIFICATION_HUB_V2"),
        ("my external service", "EXTERNAL_SERVICE_API_KEY_FOR_MY_EXTERNAL_SERVICE"),
        ("notification-api_v2", "EXTERNAL_SERVICE_API_KEY_FOR_NOTIFICATION_API_V2"),
        ("webhook-handler", "EXTERNAL_SERVICE_API_KEY_FOR_WEBHOOK_HANDLER"),
        ("email-service", "EXTERNAL_SERVICE_API_KEY_FOR_EMAIL_SERVICE"),
        ("straße", "EXTERNAL_SERVICE_API_KEY_FOR_STRA_E"),
        ("---", "EXTERNAL_SERVICE_API_KEY_FOR_"),
    ],
)
def test_external_service_api_key_is_overridden_by_its_normalised_variable(name: str, variable: str) -> None:
    cfg = load_dict(_with_services(name, "untouched"), {variable: "env-key"})
    first, second = cfg.study_configs.external_services
    assert first.api_key.get_secret_value() == "env-key"
    assert second.api_key.get_secret_value() == "file-key-1"


def test_services_with_the_same_normalised_name_all_get_the_value() -> None:
    cfg = load_dict(
        _with_services("my-service", "my.service", "MY SERVICE"),
        {"EXTERNAL_SERVICE_API_KEY_FOR_MY_SERVICE": "shared"},
    )
    assert [s.api_key.get_secret_value() for s in cfg.study_configs.external_services] == ["shared"] * 3


def test_service_without_a_name_is_skipped_even_if_the_bare_prefix_is_set() -> None:
    cfg = load_dict(_with_services(""), {"EXTERNAL_SERVICE_API_KEY_FOR_": "env-key"})
    assert cfg.study_configs.external_services[0].api_key.get_secret_value() == "file-key-0"


def test_go_spelled_api_key_is_overridden_too() -> None:
    config = valid_config()
    config["study_configs"]["external_services"] = [{"name": "hub", "url": "https://h", "apiKey": "file"}]
    cfg = load_dict(config, {"EXTERNAL_SERVICE_API_KEY_FOR_HUB": "env"})
    assert cfg.study_configs.external_services[0].api_key.get_secret_value() == "env"


def test_validation_runs_after_overrides() -> None:
    config = valid_config()
    config["db_configs"]["study_db"]["password"] = ""
    config["study_configs"]["global_secret"] = ""
    cfg = load_dict(config, {"STUDY_DB_PASSWORD": "env-pass", "STUDY_GLOBAL_SECRET": "env-secret"})
    assert cfg.db_configs.study_db.password.get_secret_value() == "env-pass"
    assert cfg.study_configs.global_secret.get_secret_value() == "env-secret"


def test_an_override_can_also_break_the_username_password_pairing() -> None:
    config = valid_config()
    config["db_configs"]["messaging_db"].update(username="", password="")
    assert config_errors(config, {"MESSAGING_DB_USERNAME": "only-user"}) == [
        (
            "db_configs.messaging_db.password",
            "must not be empty when username is set: give both for authentication or leave both empty for "
            "none (env override: MESSAGING_DB_PASSWORD)",
        )
    ]
