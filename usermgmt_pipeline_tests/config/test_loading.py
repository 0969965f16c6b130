"""Valid configurations load with Go yaml.v2 semantics and both key spellings."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from usermgmt_pipeline.config import (
    AppConfig,
    ConfigError,
    DBConfig,
    GoDuration,
    load_config,
    load_config_from_env,
)
from usermgmt_pipeline.logging_setup import build_info_mode, go_level
from usermgmt_pipeline_tests.config.configs import (
    load_dict,
    load_text,
    to_yaml,
    valid_config,
)
from usermgmt_pipeline_tests.corpus import SEED_CONFIG

H = 3_600_000_000_000

GO_SPELLING_CONFIG = """
logging:
  log_level: debug
  include_build_info: always
db_configs:
  participant_user_db: &db
    connection_str: "mongo-0:27017,mongo-1:27017/admin?replicaSet=rs0"
    username: user
    password: "p+ss%2Fword"
    timeout: 30
    idle_conn_timeout: 45
    max_pool_size: 4
    use_no_cursor_timeout: true
    db_name_prefix: "prod_"
  global_infos_db: *db
  messaging_db:
    <<: *db
    db_name_prefix: "msg_"
  study_db:
    <<: *db
    connection_str: "cluster0.example.org/admin"  # an SRV URI names one host and no port
    connection_prefix: "+srv"
instance_ids: [default, research_instance]
user_management_config:
  delete_unverified_users_after: 168h
  send_reminder_to_confirm_account_after: 48h
  email_contact_verification_token_ttl: 1h30m
  notify_after_inactive_for: 8760h
  mark_for_deletion_after_inactivity_notification: 336h
messaging_configs:
  global_email_template_constants:
    app_name: Research Platform
  smtp_bridge_config:
    url: https://smtp-bridge.example.com
    api_key: bridge-key
    request_timeout: 30s
  sms_config:
    url: https://sms.example.com
    api_key: sms-key
study_configs:
  global_secret: global-secret
  external_services:
    - name: email-service
      url: https://api.email-provider.com
      apiKey: go-key
      timeout: 30
      mTLSConfig:
        certFile: /certs/client.pem
        keyFile: /certs/client.key
        caFile: /certs/ca.pem
run_tasks:
  clean_up_unverified_users: true
  send_reminder_to_confirm_accounts: yes
  handle_inactive_users: on
  generate_profile_id_lookup: y
  migrate_account_info: True
"""


@pytest.mark.corpus
def test_seed_example_config_loads_with_seed_spellings() -> None:
    cfg = load_config(SEED_CONFIG, env={})
    assert cfg.instance_ids == ["default", "research_instance", "pilot_study"]
    assert build_info_mode(cfg.logging.include_build_info) == "once"
    assert cfg.logging.max_size == 100
    assert cfg.db_configs.study_db.timeout == 30
    assert cfg.db_configs.study_db.username.get_secret_value() == "<env var STUDY_DB_USERNAME>"
    assert cfg.user_management_config.delete_unverified_users_after == 168 * H
    assert str(cfg.user_management_config.notify_after_inactive_for) == "8760h0m0s"
    smtp = cfg.messaging_configs.smtp_bridge_config
    assert (smtp.timeout, smtp.request_timeout, smtp.timeout_seconds) == (30, None, 30.0)
    assert cfg.messaging_configs.global_email_template_constants["support_email"] == "support@example.com"
    services = cfg.study_configs.external_services
    assert [(s.name, s.api_key.get_secret_value(), s.timeout) for s in services] == [
        ("email-service", "default_email_api_key", 30),
        ("audit-service", "default_audit_key", 15),
    ]
    assert cfg.run_tasks.enabled() == [
        "clean_up_unverified_users",
        "send_reminder_to_confirm_accounts",
        "handle_inactive_users",
        "generate_profile_id_lookup",
    ]
    assert cfg.study_configs.time_zone == "UTC"
    assert cfg.orchestration.max_deletion_share == 0.10


def test_go_spelling_config_with_anchors_merges_and_yaml11_booleans_loads() -> None:
    cfg = load_text(GO_SPELLING_CONFIG)
    dbs = cfg.db_configs
    assert dbs.global_infos_db == dbs.participant_user_db
    assert dbs.messaging_db.db_name_prefix == "msg_"
    assert dbs.messaging_db.password.get_secret_value() == "p+ss%2Fword"
    assert dbs.study_db.connection_prefix == "+srv"
    assert dbs.study_db.db_name_prefix == "prod_"
    assert dbs.study_db.use_no_cursor_timeout is True
    assert cfg.user_management_config.email_contact_verification_token_ttl == GoDuration(90 * 60 * 10**9)
    smtp = cfg.messaging_configs.smtp_bridge_config
    assert (smtp.timeout, smtp.request_timeout, smtp.timeout_seconds) == (None, 30 * 10**9, 30.0)
    assert cfg.messaging_configs.sms_config is not None
    assert cfg.messaging_configs.sms_config.api_key.get_secret_value() == "sms-key"
    (service,) = cfg.study_configs.external_services
    assert service.api_key.get_secret_value() == "go-key"
    assert service.mtls_config is not None
    assert (service.mtls_config.cert_file, service.mtls_config.key_file, service.mtls_config.ca_file) == (
        "/certs/client.pem",
        "/certs/client.key",
        "/certs/ca.pem",
    )
    assert cfg.run_tasks.enabled() == [
        "clean_up_unverified_users",
        "send_reminder_to_confirm_accounts",
        "handle_inactive_users",
        "generate_profile_id_lookup",
        "migrate_account_info",
    ]
    assert go_level(cfg.logging.log_level) == logging.DEBUG
    assert build_info_mode(cfg.logging.include_build_info) == "always"


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("debug", logging.DEBUG),
        ("info", logging.INFO),
        ("warn", logging.WARNING),
        ("error", logging.ERROR),
        ("DEBUG", logging.INFO),
        ("warning", logging.INFO),
        ("", logging.INFO),
    ],
)
def test_log_level_keeps_gos_lenient_meaning(level: str, expected: int) -> None:
    config = valid_config()
    config["logging"] = {"log_level": level}
    assert go_level(load_dict(config).logging.log_level) == expected


@pytest.mark.parametrize(
    ("mode", "expected"), [("once", "once"), ("always", "always"), ("Once", "never"), ("", "never")]
)
def test_include_build_info_other_values_mean_never(mode: str, expected: str) -> None:
    config = valid_config()
    config["logging"] = {"include_build_info": mode}
    assert build_info_mode(load_dict(config).logging.include_build_info) == expected


@pytest.mark.parametrize(
    ("yaml_value", "expected"),
    [
        ("0x1E", 30),
        ("0o36", 30),
        ("036", 30),
        ("0b11110", 30),
        ("3_0", 30),
        ("30.9", 30),
        ("+30", 30),
        ("3e1", 30),
    ],
)
def test_integers_follow_yaml_v2_resolution(yaml_value: str, expected: int) -> None:
    text = to_yaml(valid_config()).replace("    timeout: 30\n", f"    timeout: {yaml_value}\n")
    assert load_text(text).db_configs.study_db.timeout == expected


@pytest.mark.parametrize(
    ("yaml_value", "expected"),
    [
        ("123", "123"),
        ("1.50", "1.50"),
        ("yes", "yes"),
        ("0x10", "0x10"),
        ("2024-01-02", "2024-01-02"),
        ("~", ""),
    ],
)
def test_string_fields_keep_the_source_text_of_any_scalar(yaml_value: str, expected: str) -> None:
    text = to_yaml(valid_config()) + f"messaging_configs:\n  smtp_bridge_config:\n    url: {yaml_value}\n"
    assert load_text(text).messaging_configs.smtp_bridge_config.url == expected


def test_null_sections_and_values_take_go_zero_values_or_our_defaults() -> None:
    config = valid_config()
    config["run_tasks"] = {"generate_profile_id_lookup": True}
    config["logging"] = None
    config["messaging_configs"] = {
        "global_email_template_constants": None,
        "smtp_bridge_config": {"timeout": None},
    }
    config["orchestration"] = {"schedule_timezone": None, "operator_emails": None}
    config["user_management_config"] = None
    cfg = load_dict(config)
    assert cfg.logging.filename == ""
    assert cfg.messaging_configs.global_email_template_constants == {}
    assert cfg.messaging_configs.smtp_bridge_config.timeout_seconds == 30.0
    assert cfg.orchestration.schedule_timezone == "UTC"
    assert cfg.orchestration.operator_emails == []
    assert cfg.user_management_config.delete_unverified_users_after == 0


def test_zero_and_absent_durations_are_accepted_for_disabled_tasks() -> None:
    config = valid_config()
    config["run_tasks"] = {"generate_profile_id_lookup": True}
    config["user_management_config"] = {
        "delete_unverified_users_after": "0",
        "notify_after_inactive_for": "0s",
    }
    cfg = load_dict(config)
    assert cfg.user_management_config.delete_unverified_users_after == 0
    assert cfg.user_management_config.mark_for_deletion_after_inactivity_notification == 0


def test_every_task_can_be_enabled_alone_with_only_what_it_needs() -> None:
    needs = {
        "clean_up_unverified_users": {"delete_unverified_users_after": "168h"},
        "send_reminder_to_confirm_accounts": {
            "send_reminder_to_confirm_account_after": "48h",
            "email_contact_verification_token_ttl": "48h",
        },
        "handle_inactive_users": {
            "notify_after_inactive_for": "8760h",
            "mark_for_deletion_after_inactivity_notification": "336h",
        },
        "generate_profile_id_lookup": {},
        "migrate_account_info": {},
    }
    for task, durations in needs.items():
        config = valid_config()
        config["run_tasks"] = {task: True}
        config["user_management_config"] = durations
        assert load_dict(config).run_tasks.enabled() == [task]


def test_global_secret_is_not_needed_when_only_reminders_run() -> None:
    config = valid_config()
    config["run_tasks"] = {"send_reminder_to_confirm_accounts": True}
    config["study_configs"] = {}
    assert load_dict(config).study_configs.global_secret.get_secret_value() == ""


def test_empty_username_and_password_mean_no_authentication() -> None:
    config = valid_config()
    config["db_configs"]["study_db"].update(username="", password="")
    del config["db_configs"]["messaging_db"]["username"]
    del config["db_configs"]["messaging_db"]["password"]
    cfg = load_dict(config)
    assert cfg.db_configs.study_db.username.get_secret_value() == ""
    assert cfg.db_configs.messaging_db.password.get_secret_value() == ""


def test_longest_allowed_instance_id_fills_63_bytes() -> None:
    config = valid_config()
    config["instance_ids"] = ["i" * 53, "with-dash_and_underscore"]
    assert load_dict(config).instance_ids[0] == "i" * 53


def test_orchestration_settings_load() -> None:
    config = valid_config()
    config["orchestration"] = {
        "operator_emails": ["ops@example.org"],
        "max_deletion_share": 1,
        "schedule_cron": "*/15 2-4 1,15 jan-mar mon-fri",
        "schedule_timezone": "Europe/Berlin",
        "progress_log_every": 10,
        "dry_run_sample_size": 5,
    }
    orchestration = load_dict(config).orchestration
    assert orchestration.max_deletion_share == 1.0
    assert orchestration.schedule_cron == "*/15 2-4 1,15 jan-mar mon-fri"
    assert orchestration.schedule_timezone == "Europe/Berlin"


def test_batch_size_and_retentions_default_to_500_users_720h_and_9600h_and_load_go_durations() -> None:
    defaults = load_dict(valid_config()).orchestration
    assert (defaults.batch_size, str(defaults.journal_retention), str(defaults.audit_retention)) == (
        500,
        "720h0m0s",
        "9600h0m0s",
    )
    config = valid_config()
    config["orchestration"] = {"batch_size": 50, "journal_retention": "24h", "audit_retention": "720h"}
    orchestration = load_dict(config).orchestration
    assert orchestration.batch_size == 50
    assert orchestration.journal_retention == 24 * 3600 * 10**9
    assert orchestration.audit_retention == 720 * 3600 * 10**9  # the shortest accepted


def test_config_is_frozen_and_picklable() -> None:
    cfg = load_text(GO_SPELLING_CONFIG)
    assert pickle.loads(pickle.dumps(cfg)) == cfg
    with pytest.raises(ValueError, match="frozen"):
        cfg.instance_ids = []  # type: ignore[misc]


def test_redacted_dict_hides_secrets_and_shows_empty_secrets_as_empty() -> None:
    config = valid_config()
    config["db_configs"]["study_db"].update(username="", password="")
    data = load_dict(config).redacted_dict()
    assert data["db_configs"]["participant_user_db"]["password"] == "**********"
    assert data["db_configs"]["study_db"]["password"] == ""
    assert data["study_configs"]["global_secret"] == "**********"
    assert data["user_management_config"]["delete_unverified_users_after"] == "168h0m0s"
    assert data["messaging_configs"]["smtp_bridge_config"]["api_key"] == ""


def test_model_built_in_code_is_held_to_the_same_rules() -> None:
    with pytest.raises(ValueError, match="deadline of every database operation"):
        DBConfig(connection_str="localhost", timeout=0)
    base = load_dict(valid_config())
    data = base.model_dump()
    data["instance_ids"] = ["a.b"]
    with pytest.raises(ValueError, match=r"instance_ids\[0\]: \"a.b\" cannot be used in database names"):
        AppConfig.model_validate(data)
    assert AppConfig.model_validate(base.model_dump()) == base


def test_load_config_from_env_reads_config_file_path(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(valid_config()), encoding="utf-8")
    cfg = load_config_from_env({"CONFIG_FILE_PATH": str(path), "STUDY_DB_PASSWORD": "from-env"})
    assert cfg.db_configs.study_db.password.get_secret_value() == "from-env"


@pytest.mark.parametrize("env", [{}, {"CONFIG_FILE_PATH": ""}])
def test_load_config_from_env_without_config_file_path_names_the_variable(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_from_env(env)
    assert caught.value.errors == [
        ("CONFIG_FILE_PATH", "is not set; it must name the YAML configuration file")
    ]


def test_load_config_from_env_with_unreadable_file_names_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config_from_env({"CONFIG_FILE_PATH": str(missing)})
    assert caught.value.errors == [
        (
            "CONFIG_FILE_PATH",
            f"cannot read the configuration file {str(missing)!r}: No such file or directory",
        )
    ]


def test_load_config_from_env_reports_content_errors_with_their_key_paths(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(valid_config()) + "extra: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config_from_env({"CONFIG_FILE_PATH": str(path)})
    assert [p for p, _ in caught.value.errors] == ["extra"]


def test_load_config_uses_os_environ_when_env_is_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(to_yaml(valid_config()), encoding="utf-8")
    monkeypatch.setenv("STUDY_GLOBAL_SECRET", "from-os-environ")
    assert load_config(path).study_configs.global_secret.get_secret_value() == "from-os-environ"
