"""The job configuration: the Go `user-management` YAML (both spellings), strict, with our fixes.

Entry points are `load_config` / `load_config_from_env`; everything wrong with a document is raised
together as one `ConfigError`. See docs/configuration.md for every key.
"""

from usermgmt_pipeline.config.env_names import external_service_api_key_env_var, generate_env_var_name
from usermgmt_pipeline.config.errors import ConfigError
from usermgmt_pipeline.config.go_duration import GoDuration, format_go_duration, parse_go_duration
from usermgmt_pipeline.config.loader import load_config, load_config_from_env, parse_config_text
from usermgmt_pipeline.config.models import (
    AppConfig,
    DBConfig,
    DBConfigs,
    ExternalService,
    LoggingConfig,
    MessagingConfig,
    MTLSConfig,
    OrchestrationConfig,
    RunTasks,
    SmsConfig,
    SmtpBridgeConfig,
    StudyConfigs,
    UserManagementConfig,
    app_config_model,
)
from usermgmt_pipeline.config.task_flags import TASK_FLAGS, TaskFlag, Threshold

__all__ = [
    "TASK_FLAGS",
    "AppConfig",
    "ConfigError",
    "DBConfig",
    "DBConfigs",
    "ExternalService",
    "GoDuration",
    "LoggingConfig",
    "MTLSConfig",
    "MessagingConfig",
    "OrchestrationConfig",
    "RunTasks",
    "SmsConfig",
    "SmtpBridgeConfig",
    "StudyConfigs",
    "TaskFlag",
    "Threshold",
    "UserManagementConfig",
    "app_config_model",
    "external_service_api_key_env_var",
    "format_go_duration",
    "generate_env_var_name",
    "load_config",
    "load_config_from_env",
    "parse_config_text",
    "parse_go_duration",
]
