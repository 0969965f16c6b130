"""Dagster resources: the job config file, the four CASE databases, the SMTP bridge, the study engine, run options.

Secrets never live in resource config that Dagster shows or stores: a secret field is either bound to an
`EnvVar` (the UI shows the variable's name, not its value) or left empty, in which case it is read at run
time from the YAML file (which `load_config` completes with the Go env overrides). No client exists before
a step runs, and each resource closes what it opened when the run ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr, SecretStr
from pymongo import MongoClient

from usermgmt_pipeline.case.connections import DB_KEYS, CaseDatabases, make_client
from usermgmt_pipeline.config import AppConfig, load_config
from usermgmt_pipeline.smtp_bridge import SmtpBridgeClient
from usermgmt_pipeline.tasks.context import RunOptions


class CaseConfigResource(ConfigurableResource):
    """The job's YAML file; everything the domain core needs (thresholds, secrets) is read from it per run."""

    config_file_path: str

    def load(self) -> AppConfig:
        return load_config(self.config_file_path)


@dataclass(frozen=True)
class DBSettings:
    """One database's settings with the credentials resolved (satisfies `DBConfigLike`)."""

    connection_str: str
    connection_prefix: str
    timeout: int
    idle_conn_timeout: int
    max_pool_size: int
    use_no_cursor_timeout: bool
    db_name_prefix: str
    username: SecretStr
    password: SecretStr


class MongoDBResource(ConfigurableResource):
    """One of the four CASE databases (`db_key`): connection settings, and a client created on first use."""

    db_key: str
    connection_str: str
    connection_prefix: str = ""
    db_name_prefix: str = ""
    timeout: int = 10
    idle_conn_timeout: int = 0
    max_pool_size: int = 0
    use_no_cursor_timeout: bool = False
    username: str = ""
    password: str = ""
    config_file_path: str = ""

    _client: MongoClient | None = PrivateAttr(default=None)

    def settings(self) -> DBSettings:
        username, password = self.username, self.password
        if (not username or not password) and self.config_file_path:
            from_file = getattr(load_config(self.config_file_path).db_configs, self.db_key)
            username = username or from_file.username.get_secret_value()
            password = password or from_file.password.get_secret_value()
        return DBSettings(
            connection_str=self.connection_str,
            connection_prefix=self.connection_prefix,
            timeout=self.timeout,
            idle_conn_timeout=self.idle_conn_timeout,
            max_pool_size=self.max_pool_size,
            use_no_cursor_timeout=self.use_no_cursor_timeout,
            db_name_prefix=self.db_name_prefix,
            username=SecretStr(username),
            password=SecretStr(password),
        )

    def get_client(self) -> MongoClient:
        if self._client is None:
            self._client = make_client(self.settings(), self.db_key)
        return self._client

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def case_databases(resources: dict[str, MongoDBResource]) -> CaseDatabases:
    """The domain core's view of the four database resources (clients are owned by the resources)."""
    return CaseDatabases(
        configs={key: resources[key].settings() for key in DB_KEYS},
        clients={key: resources[key].get_client() for key in DB_KEYS},
    )


class SmtpBridgeResource(ConfigurableResource):
    """The CASE SMTP bridge, used for operator alerts. `api_key` empty: taken from the config file."""

    url: str = ""
    api_key: str = ""
    timeout_seconds: float = 30.0
    retries: int = 3
    backoff_seconds: float = 1.0
    config_file_path: str = ""

    def client(self) -> SmtpBridgeClient:
        key = self.api_key
        if not key and self.config_file_path:
            key = load_config(
                self.config_file_path
            ).messaging_configs.smtp_bridge_config.api_key.get_secret_value()
        return SmtpBridgeClient(
            url=self.url,
            api_key=SecretStr(key),
            timeout_s=self.timeout_seconds,
            retries=self.retries,
            backoff_s=self.backoff_seconds,
        )


class StudyEngineResource(ConfigurableResource):
    """The study engine's inputs: time zone and external services (their API keys are read at run time)."""

    time_zone: str = "UTC"
    external_service_names: list[str] = Field(default_factory=list)
    config_file_path: str = ""

    def study_configs(self) -> Any:
        """The `study_configs` section with secrets (global secret, service keys) resolved from file + env."""
        return load_config(self.config_file_path).study_configs

    def apply_to(self, config: AppConfig) -> AppConfig:
        return config.model_copy(update={"study_configs": self.study_configs()})


class RunOptionsResource(ConfigurableResource):
    """Per-run switches, set in the launchpad or a backfill's run config: `dry_run`, `allow_mass_deletion`."""

    dry_run: bool = False
    allow_mass_deletion: bool = False

    def options(self, run_id: str) -> RunOptions:
        return RunOptions(dry_run=self.dry_run, allow_mass_deletion=self.allow_mass_deletion, run_id=run_id)


def build_resources(cfg: AppConfig, config_file_path: str, env: dict[str, str]) -> dict[str, Any]:
    """Resource instances for a loaded config. A secret env var that is set becomes an `EnvVar` binding."""
    from dagster import EnvVar

    def secret(var: str) -> Any:
        return EnvVar(var) if env.get(var) else ""

    resources: dict[str, Any] = {
        "case_config": CaseConfigResource(config_file_path=config_file_path),
        "run_options": RunOptionsResource(),
    }
    for key in DB_KEYS:
        db = getattr(cfg.db_configs, key)
        env_prefix = key.upper()  # STUDY_DB_PASSWORD etc., the Go override names
        resources[key] = MongoDBResource(
            db_key=key,
            connection_str=db.connection_str,
            connection_prefix=db.connection_prefix,
            db_name_prefix=db.db_name_prefix,
            timeout=db.timeout,
            idle_conn_timeout=db.idle_conn_timeout,
            max_pool_size=db.max_pool_size,
            use_no_cursor_timeout=db.use_no_cursor_timeout,
            username=secret(f"{env_prefix}_USERNAME"),
            password=secret(f"{env_prefix}_PASSWORD"),
            config_file_path=config_file_path,
        )
    bridge = cfg.messaging_configs.smtp_bridge_config
    resources["smtp_bridge"] = SmtpBridgeResource(
        url=bridge.url,
        api_key=secret("SMTP_BRIDGE_API_KEY"),
        timeout_seconds=bridge.timeout_seconds,
        config_file_path=config_file_path,
    )
    resources["study_engine"] = StudyEngineResource(
        time_zone=cfg.study_configs.time_zone,
        external_service_names=[service.name for service in cfg.study_configs.external_services],
        config_file_path=config_file_path,
    )
    return resources
