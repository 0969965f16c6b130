"""Secret values never show up in reprs, JSON dumps, the UI dict or any error text."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from usermgmt_pipeline.config import AppConfig, ConfigError, DBConfig, parse_config_text
from usermgmt_pipeline_tests.config.configs import DB_KEYS, load_dict, to_yaml, valid_config

SECRET = "S3CR3T-VALUE-xyz"


def _config_with_secret_everywhere() -> dict:
    config = valid_config()
    for key in DB_KEYS:
        config["db_configs"][key].update(username=SECRET + "u", password=SECRET + "p")
    config["messaging_configs"] = {
        "smtp_bridge_config": {"api_key": SECRET + "smtp"},
        "sms_config": {"url": "https://sms", "api_key": SECRET + "sms"},
    }
    config["study_configs"] = {
        "global_secret": SECRET + "g",
        "external_services": [{"name": "a", "url": "https://a", "apiKey": SECRET + "ext"}],
    }
    return config


def test_secrets_never_appear_in_str_repr_json_or_redacted_dict() -> None:
    cfg = load_dict(_config_with_secret_everywhere(), {"EXTERNAL_SERVICE_API_KEY_FOR_A": SECRET + "env"})
    for text in (str(cfg), repr(cfg), cfg.model_dump_json(), str(cfg.redacted_dict())):
        assert SECRET not in text
    assert cfg.study_configs.external_services[0].api_key.get_secret_value() == SECRET + "env"
    assert cfg.db_configs.study_db.password.get_secret_value() == SECRET + "p"


@pytest.mark.parametrize(
    "replacement",
    [
        f"    password: [{SECRET}]\n",
        f"    password: {{{SECRET}: 1}}\n",
        f"    password: !!binary {SECRET}\n",
        f"    timeout: {SECRET}\n",
        f'    timeout: "{SECRET}"\n',
        f'    password: "{SECRET}\n',  # unterminated quote: a YAML syntax error
        f"    password: '{SECRET}\n",
        f"    password: {SECRET}\n    password: {SECRET}\n",
    ],
)
def test_config_errors_never_echo_a_secret_value(replacement: str) -> None:
    text = to_yaml(valid_config()).replace("    password: pass\n", replacement, 1)
    with pytest.raises(ConfigError) as caught:
        parse_config_text(text, {})
    assert caught.value.errors
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


def test_wrongly_typed_secret_in_a_duration_field_is_not_echoed() -> None:
    config = valid_config()
    config["user_management_config"]["notify_after_inactive_for"] = [SECRET]
    with pytest.raises(ConfigError) as caught:
        parse_config_text(to_yaml(config), {})
    assert SECRET not in str(caught.value)


def test_validation_errors_of_models_built_in_code_hide_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        DBConfig(connection_str="x", timeout=30, username=SECRET, password=12345)
    assert SECRET not in str(caught.value)
    data = load_dict(valid_config()).model_dump()
    data["db_configs"]["study_db"]["password"] = [SECRET]
    with pytest.raises(ValidationError) as caught:
        AppConfig.model_validate(data)
    assert SECRET not in str(caught.value)
