"""The typed, immutable configuration of the job (the Go job's YAML keys plus our `orchestration`).

Field names are the YAML keys of the Go job; where Go uses camelCase (`mTLSConfig`, `certFile`) the
field has a snake_case name and the Go key as alias. `yaml_alternative_keys` lists a second accepted
spelling of a field (seed README vs. Go code) and `yaml_exclusive_keys` two fields that set the same
thing; the YAML decoder rejects a document that gives both. Semantic rules live in `rules.py` and are
applied here too, so a config built in code is held to the same rules as one read from a file.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, create_model, model_validator

from usermgmt_pipeline.config import rules
from usermgmt_pipeline.config.go_duration import GoDuration
from usermgmt_pipeline.config.task_flags import TASK_FLAGS, TaskFlag


def _raise_if_any(errors: list[rules.RuleError]) -> None:
    if errors:
        raise ValueError("; ".join(f"{rules.format_loc(loc) or 'value'}: {msg}" for loc, msg in errors))


class ConfigModel(BaseModel):
    """Frozen, closed models that never show an input value (secrets included) in their errors."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        hide_input_in_errors=True,
    )

    yaml_alternative_keys: ClassVar[dict[str, str]] = {}
    yaml_exclusive_keys: ClassVar[tuple[tuple[str, str], ...]] = ()


class LoggingConfig(ConfigModel):
    """`logging`: unknown `log_level` / `include_build_info` values keep Go's lenient meaning."""

    log_level: str = ""
    include_src: bool = False
    log_to_file: bool = False
    filename: str = ""
    max_size: int = 0
    max_age: int = 0
    max_backups: int = 0
    compress_old_logs: bool = False
    include_build_info: str = ""

    @model_validator(mode="after")
    def _check(self) -> LoggingConfig:
        _raise_if_any(rules.logging_errors(self))
        return self


class DBConfig(ConfigModel):
    """One MongoDB connection. Empty username and password together mean no authentication."""

    connection_str: str
    username: SecretStr = SecretStr("")
    password: SecretStr = SecretStr("")
    connection_prefix: str = ""
    timeout: int
    idle_conn_timeout: int = 0
    max_pool_size: int = 0
    use_no_cursor_timeout: bool = False
    db_name_prefix: str = ""

    @model_validator(mode="after")
    def _check(self) -> DBConfig:
        _raise_if_any(rules.db_config_errors(self))
        return self


class DBConfigs(ConfigModel):
    participant_user_db: DBConfig
    global_infos_db: DBConfig
    messaging_db: DBConfig
    study_db: DBConfig


class UserManagementConfig(ConfigModel):
    """The task thresholds; zero is only refused for a task that is enabled (checked on `AppConfig`)."""

    delete_unverified_users_after: GoDuration = GoDuration(0)
    send_reminder_to_confirm_account_after: GoDuration = GoDuration(0)
    email_contact_verification_token_ttl: GoDuration = GoDuration(0)
    notify_after_inactive_for: GoDuration = GoDuration(0)
    mark_for_deletion_after_inactivity_notification: GoDuration = GoDuration(0)

    @model_validator(mode="after")
    def _check(self) -> UserManagementConfig:
        _raise_if_any(
            [
                ((name,), f"negative durations are not allowed; {rules.DURATION_HINT}")
                for name in type(self).model_fields
                if getattr(self, name) < 0
            ]
        )
        return self


class SmtpBridgeConfig(ConfigModel):
    """Accepted for compatibility; this job only queues emails. `timeout` (seed) or `request_timeout` (Go)."""

    url: str = ""
    api_key: SecretStr = SecretStr("")
    timeout: int | None = None
    request_timeout: GoDuration | None = None

    yaml_exclusive_keys: ClassVar[tuple[tuple[str, str], ...]] = (("timeout", "request_timeout"),)

    @property
    def timeout_seconds(self) -> float:
        if self.timeout is not None:
            return float(self.timeout)
        if self.request_timeout is not None:
            return self.request_timeout.seconds
        return 30.0

    @model_validator(mode="after")
    def _check(self) -> SmtpBridgeConfig:
        _raise_if_any(rules.smtp_bridge_errors(self))
        return self


class SmsConfig(ConfigModel):
    url: str = ""
    api_key: SecretStr = SecretStr("")


class MessagingConfig(ConfigModel):
    global_email_template_constants: dict[str, str] = Field(default_factory=dict)
    smtp_bridge_config: SmtpBridgeConfig = Field(default_factory=SmtpBridgeConfig)
    sms_config: SmsConfig | None = None


class MTLSConfig(ConfigModel):
    """Client certificate for an external service; `caFile` verifies the server (Go ignored it)."""

    cert_file: str = Field(default="", alias="certFile")
    key_file: str = Field(default="", alias="keyFile")
    ca_file: str = Field(default="", alias="caFile")

    @model_validator(mode="after")
    def _check(self) -> MTLSConfig:
        _raise_if_any(rules.mtls_errors(self))
        return self


class ExternalService(ConfigModel):
    """A study-rule external handler. The API key is `api_key` (seed README) or `apiKey` (Go)."""

    name: str = ""
    url: str
    api_key: SecretStr = SecretStr("")
    timeout: int = 0
    mtls_config: MTLSConfig | None = Field(default=None, alias="mTLSConfig")

    yaml_alternative_keys: ClassVar[dict[str, str]] = {"apiKey": "api_key"}

    @model_validator(mode="after")
    def _check(self) -> ExternalService:
        _raise_if_any(rules.external_service_errors(self))
        return self


class StudyConfigs(ConfigModel):
    global_secret: SecretStr = SecretStr("")
    time_zone: str = "UTC"
    external_services: list[ExternalService] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> StudyConfigs:
        _raise_if_any([(loc, msg) for loc, msg in rules.study_errors(self) if loc == ("time_zone",)])
        return self


class RunTasks(ConfigModel):
    """`run_tasks`: one bool per task flag, built from a tuple of `TaskFlag`s by `run_tasks_model`.

    The fields are not written out here: the flags are declared once (`task_flags.TASK_FLAGS`, referenced
    by each task's declaration), and a model for another tuple of flags (a test's toy task) is one call.
    """

    task_flags: ClassVar[tuple[TaskFlag, ...]] = ()

    def enabled(self) -> list[str]:
        """Enabled task names in the Go job's execution order."""
        return rules.enabled_tasks(self, self.task_flags)

    def flags(self) -> dict[str, bool]:
        """Every flag -> whether it is enabled, in execution order."""
        return {flag.name: getattr(self, flag.name) is True for flag in self.task_flags}

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled by its flags: the class is built at run time, so pickle cannot find it by name."""
        return (_restore_run_tasks, (self.task_flags, self.flags()))


def _restore_run_tasks(flags: tuple[TaskFlag, ...], values: dict[str, bool]) -> RunTasks:
    return run_tasks_model(flags)(**values)


@cache
def run_tasks_model(flags: tuple[TaskFlag, ...]) -> type[RunTasks]:
    """The `run_tasks` model for these flags: one bool per flag, false unless set."""
    fields: dict[str, Any] = {flag.name: (bool, False) for flag in flags}
    model: type[RunTasks] = create_model("RunTasks", __base__=RunTasks, **fields)
    model.task_flags = flags
    return model


if TYPE_CHECKING:
    PackageRunTasks = RunTasks
else:
    PackageRunTasks = run_tasks_model(TASK_FLAGS)


class OrchestrationConfig(ConfigModel):
    """Our own top-level key: alerting, the mass-deletion guard, schedule and dry-run settings."""

    operator_emails: list[str] = Field(default_factory=list)
    max_deletion_share: float = 0.10
    min_guarded_orphan_entries: int = 10  # the map entries' share applies only above this many
    schedule_cron: str = "0 3 * * *"
    schedule_timezone: str = "UTC"
    progress_log_every: int = 1000
    dry_run_sample_size: int = 20
    batch_size: int = 500
    journal_retention: GoDuration = GoDuration(720 * 3600 * 10**9)
    audit_retention: GoDuration = GoDuration(9600 * 3600 * 10**9)
    report_dir: str = ""  # where Dagster dry runs with `report: true` write their review bundles
    instance_lease: GoDuration = GoDuration(60 * 10**9)
    account_hash_key: SecretStr = SecretStr("")  # HMAC key of the account hashes in the audit log

    @model_validator(mode="after")
    def _check(self) -> OrchestrationConfig:
        _raise_if_any(rules.orchestration_errors(self))
        return self


class AppConfig(ConfigModel):
    """The whole configuration. Build it with `load_config`; `redacted_dict()` is safe to display."""

    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    db_configs: DBConfigs
    instance_ids: list[str] = Field(default_factory=list)
    user_management_config: UserManagementConfig = Field(default_factory=UserManagementConfig)
    messaging_configs: MessagingConfig = Field(default_factory=MessagingConfig)
    study_configs: StudyConfigs = Field(default_factory=StudyConfigs)
    run_tasks: PackageRunTasks = Field(default_factory=PackageRunTasks)
    orchestration: OrchestrationConfig = Field(default_factory=OrchestrationConfig)

    @model_validator(mode="after")
    def _check(self) -> AppConfig:
        _raise_if_any(rules.cross_section_errors(self, self.run_tasks.task_flags))
        return self

    def redacted_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible data with every secret shown as `**********` (empty secrets as "")."""
        return self.model_dump(mode="json")


@cache
def app_config_model(flags: tuple[TaskFlag, ...] = TASK_FLAGS) -> type[AppConfig]:
    """The whole configuration's model for a tuple of task flags: `AppConfig` itself for the package's own
    (`TASK_FLAGS`), a subclass whose `run_tasks` has these flags otherwise (e.g. a test's toy task)."""
    if flags == TASK_FLAGS:
        return AppConfig
    run_tasks = run_tasks_model(flags)
    fields: dict[str, Any] = {"run_tasks": (run_tasks, Field(default_factory=run_tasks))}
    model: type[AppConfig] = create_model("AppConfig", __base__=AppConfig, **fields)
    return model
