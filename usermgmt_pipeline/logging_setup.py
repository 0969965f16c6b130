"""The `logging` config section (docs/case-data.md §1.3) applied to Python's logging, in the Go job's format.

Records are JSON lines shaped like Go `slog`'s JSON handler (`time`, `level`, `msg`, optional `source`, then
attributes), so log pipelines built for the CASE services keep working. The rotating file follows
lumberjack's rules (size in MB, backups named `<base>-<UTC time><ext>`, pruned by count and age, optional
gzip, new files 0600); the stdlib `RotatingFileHandler` numbers its backups, so the rollover is ours.
Dagster's own loggers get the same handlers through `usermgmt_pipeline.orchestration.loggers`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import logging
import logging.handlers
import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import yaml

from usermgmt_pipeline.errors import UsermgmtError

LOGGER_NAME = "usermgmt_pipeline"
BUILD_INFO_FILE = "build-info.yaml"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
_LEVEL_NAMES = {logging.DEBUG: "DEBUG", logging.INFO: "INFO", logging.WARNING: "WARN", logging.ERROR: "ERROR"}
_BACKUP_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_DAGSTER_ATTRS = {"dagster_meta", "dagster_event", "dagster_event_batch_metadata"}
"""Dagster's own record attributes: serialized events with stack traces, never written as they are."""


class LoggingSetupError(UsermgmtError, RuntimeError):
    """The `logging` section cannot be applied; `key` is the config key to fix. The message is one line."""

    key = "logging"


class BuildInfoError(LoggingSetupError):
    """`include_build_info` is once/always but build-info.yaml is missing or not a flat map (Go aborts too)."""

    key = "logging.include_build_info"


class LogFileError(LoggingSetupError):
    """`logging.filename` cannot be opened for appending (a folder, under a file, not writable)."""

    key = "logging.filename"


def go_level(name: str) -> int:
    """Go's rule: exactly `debug`, `info`, `warn` or `error`; anything else silently means info."""
    return _LEVELS.get(name, logging.INFO)


def build_info_mode(value: str) -> str:
    return value if value in ("never", "once", "always") else "never"


def read_build_info(directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """`build-info.yaml` from the working directory, as `build.<key>` attributes."""
    path = Path(directory or os.getcwd()) / BUILD_INFO_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BuildInfoError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise BuildInfoError(
            f"cannot read {path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from None
    except yaml.YAMLError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BuildInfoError(f"cannot read {path}: not valid YAML ({first_line})") from None
    if not isinstance(data, Mapping):
        raise BuildInfoError(f"{path} is not a map of strings")
    return {f"build.{key}": "" if value is None else str(value) for key, value in data.items()}


def _plain(value: Any) -> Any:
    """JSON-safe copy: plain containers and scalars as they are, anything else (Dagster records) as str."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if type(value) in (list, tuple):
        return [_plain(item) for item in value]
    if type(value) is dict:
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)


EventFields = Callable[[Any, bool], Mapping[str, Any]]
"""(Dagster event, debug level?) -> the attributes a log line shows for it (see orchestration/loggers.py)."""


class GoJsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, msg, [source], [build.*], then the record's extra attributes.

    A record carrying a Dagster event shows the event's type and, through `event_fields`, its cause in one
    line; Dagster's serialized event (with stack traces) is never written, its details only at debug level.
    """

    def __init__(
        self,
        *,
        include_src: bool = False,
        static_attrs: Mapping[str, str] | None = None,
        event_fields: EventFields | None = None,
        debug: bool = False,
    ) -> None:
        super().__init__()
        self.include_src = include_src
        self.static_attrs = dict(static_attrs or {})
        self.event_fields = event_fields
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        stamp = dt.datetime.fromtimestamp(record.created).astimezone()
        dagster_meta = getattr(record, "dagster_meta", None)
        message = record.getMessage()
        if isinstance(dagster_meta, Mapping) and dagster_meta.get("orig_message"):
            message = str(dagster_meta["orig_message"])  # without Dagster's "job - run - step -" prefix
        out: dict[str, Any] = {
            "time": stamp.isoformat(timespec="microseconds"),
            "level": _LEVEL_NAMES.get(record.levelno, record.levelname),
            "msg": message,
        }
        if self.include_src:
            out["source"] = {
                "function": f"{record.module}.{record.funcName}",
                "file": os.path.basename(record.pathname),
                "line": record.lineno,
            }
        out.update(self.static_attrs)
        if isinstance(dagster_meta, Mapping):
            event = dagster_meta.get("dagster_event")
            for key, name in (("job_name", "job"), ("run_id", "runID"), ("step_key", "step")):
                if dagster_meta.get(key):
                    out[name] = dagster_meta[key]
            if event is not None:
                out["event"] = getattr(event, "event_type_value", str(event))
                if self.event_fields is not None:
                    out.update(self.event_fields(event, self.debug))
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in _DAGSTER_ATTRS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps({key: _plain(value) for key, value in out.items()}, ensure_ascii=False)


class LumberjackFileHandler(logging.handlers.RotatingFileHandler):
    """Size-based rotation with lumberjack's backup names, count/age pruning and optional gzip."""

    def __init__(
        self,
        filename: str | os.PathLike[str],
        *,
        max_size_mb: int = 0,
        max_age_days: int = 0,
        max_backups: int = 0,
        compress: bool = False,
    ) -> None:
        path = Path(filename).absolute()
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        self.max_age_days = max_age_days
        self.max_backups = max_backups
        self.compress = compress
        max_bytes = (max_size_mb if max_size_mb > 0 else 100) * 1024 * 1024
        super().__init__(path, maxBytes=max_bytes, backupCount=0, encoding="utf-8", delay=False)

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, "a", encoding=self.encoding)

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        stream = self.stream if self.stream is not None else self._open()
        self.stream = stream
        message = f"{self.format(record)}\n".encode()
        size = stream.tell()
        return size > 0 and size + len(message) > self.maxBytes

    def backup_name(self, when: dt.datetime) -> Path:
        base = Path(self.baseFilename)
        stamp = when.strftime(_BACKUP_TIME_FORMAT) + f".{when.microsecond // 1000:03d}"
        return base.with_name(f"{base.stem}-{stamp}{base.suffix}")

    def doRollover(self) -> None:
        if self.stream:
            self.stream.close()
            self.stream = None
        backup = self.backup_name(dt.datetime.now(dt.UTC))
        if os.path.exists(self.baseFilename):
            os.replace(self.baseFilename, backup)
            if self.compress:
                with open(backup, "rb") as src, gzip.open(f"{backup}.gz", "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.chmod(f"{backup}.gz", 0o600)
                backup.unlink()
        self.prune()
        self.stream = self._open()

    def backups(self) -> list[Path]:
        """Rotated files of this log, newest first (by the time in their name, as lumberjack judges)."""
        base = Path(self.baseFilename)
        found = []
        for candidate in base.parent.glob(f"{base.stem}-*{base.suffix}*"):
            stamp = candidate.name[len(base.stem) + 1 :].removesuffix(".gz").removesuffix(base.suffix)
            try:
                when = dt.datetime.strptime(stamp, _BACKUP_TIME_FORMAT + ".%f").replace(tzinfo=dt.UTC)
            except ValueError:
                continue
            found.append((when, candidate))
        return [path for _, path in sorted(found, reverse=True)]

    def prune(self) -> None:
        backups = self.backups()
        doomed = set(backups[self.max_backups :]) if self.max_backups > 0 else set()
        if self.max_age_days > 0:
            cutoff = time.time() - self.max_age_days * 86400
            for path in backups:
                stamp = path.name[len(Path(self.baseFilename).stem) + 1 :]
                when = dt.datetime.strptime(stamp[:23], _BACKUP_TIME_FORMAT + ".%f").replace(tzinfo=dt.UTC)
                if when.timestamp() < cutoff:
                    doomed.add(path)
        for path in doomed:
            path.unlink(missing_ok=True)


def build_handlers(
    cfg: Any,
    *,
    stream: IO[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    event_fields: EventFields | None = None,
) -> list[logging.Handler]:
    """Handlers for a `LoggingConfig`: stdout always, plus the rotating file when configured."""
    mode = build_info_mode(getattr(cfg, "include_build_info", ""))
    static = read_build_info(cwd) if mode == "always" else {}
    formatter = GoJsonFormatter(
        include_src=bool(getattr(cfg, "include_src", False)),
        static_attrs=static,
        event_fields=event_fields,
        debug=go_level(getattr(cfg, "log_level", "")) <= logging.DEBUG,
    )
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stdout)]
    if getattr(cfg, "log_to_file", False) and getattr(cfg, "filename", ""):
        try:
            handlers.append(
                LumberjackFileHandler(
                    cfg.filename,
                    max_size_mb=int(cfg.max_size),
                    max_age_days=int(cfg.max_age),
                    max_backups=int(cfg.max_backups),
                    compress=bool(cfg.compress_old_logs),
                )
            )
        except OSError as exc:
            raise LogFileError(
                f"cannot open the log file {os.fspath(cfg.filename)!r} for appending: {exc.strerror or exc}"
            ) from None
    for handler in handlers:
        handler.setFormatter(formatter)
    return handlers


def configure_logging(
    cfg: Any, *, stream: IO[str] | None = None, cwd: str | os.PathLike[str] | None = None
) -> logging.Logger:
    """Install the handlers on the `usermgmt_pipeline` logger (replacing earlier ones) and set its level.

    Raises `BuildInfoError` before touching any handler when build info is required but unreadable.
    """
    mode = build_info_mode(getattr(cfg, "include_build_info", ""))
    once = read_build_info(cwd) if mode == "once" else {}
    handlers = build_handlers(cfg, stream=stream, cwd=cwd)
    logger = logging.getLogger(LOGGER_NAME)
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(go_level(getattr(cfg, "log_level", "")))
    logger.propagate = False
    if once:
        logger.info("Build info", extra=once)
    return logger
