"""A Dagster logger that writes the run's log (context.log) with the job's `logging` config (docs/case-data.md §1.3)."""

import logging
from typing import Any

from dagster import InitLoggerContext, LoggerDefinition

from usermgmt_pipeline.logging_setup import build_handlers, go_level
from usermgmt_pipeline.orchestration.errors import event_log_fields


def build_case_logger(logging_config: Any) -> LoggerDefinition:
    """Same JSON lines, level, source and rotating file as the Python loggers, for Dagster's run loggers."""

    def case_json_logger(init_context: InitLoggerContext) -> logging.Logger:
        klass = logging.getLoggerClass()
        dagster_logger = klass("usermgmt_pipeline.dagster", level=go_level(logging_config.log_level))
        for handler in build_handlers(logging_config, event_fields=event_log_fields):
            dagster_logger.addHandler(handler)
        return dagster_logger

    return LoggerDefinition(
        case_json_logger,
        description="JSON lines shaped like the Go job's slog output, per the config's logging section.",
    )
