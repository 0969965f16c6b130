"""The logging section (docs/case-data.md §1.3): Go slog-shaped JSON lines, levels, source, build info, rotation."""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import stat
from pathlib import Path

import pytest

from usermgmt_pipeline.config import LoggingConfig
from usermgmt_pipeline.logging_setup import (
    BuildInfoError,
    LogFileError,
    LumberjackFileHandler,
    configure_logging,
    go_level,
)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.fixture(autouse=True)
def _restore_logger():  # type: ignore[no-untyped-def]
    yield
    logger = logging.getLogger("usermgmt_pipeline")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def test_records_are_go_slog_json_lines_with_attributes() -> None:
    out = io.StringIO()
    logger = configure_logging(LoggingConfig(log_level="info"), stream=out)
    logger.getChild("tasks").info("Clean up unverified users finished", extra={"instanceID": "a", "count": 3})
    [record] = lines(out)
    assert list(record)[:3] == ["time", "level", "msg"]
    assert record["level"] == "INFO"
    assert record["msg"] == "Clean up unverified users finished"
    assert record["instanceID"] == "a" and record["count"] == 3
    assert "source" not in record


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("debug", logging.DEBUG),
        ("warn", logging.WARNING),
        ("error", logging.ERROR),
        ("WARN", logging.INFO),
        ("warning", logging.INFO),
        ("", logging.INFO),
    ],
)
def test_level_names_follow_go_and_anything_else_means_info(name: str, level: int) -> None:
    assert go_level(name) == level


def test_warn_level_hides_info_and_prints_warn() -> None:
    out = io.StringIO()
    logger = configure_logging(LoggingConfig(log_level="warn"), stream=out)
    logger.info("hidden")
    logger.warning("shown")
    assert [(r["level"], r["msg"]) for r in lines(out)] == [("WARN", "shown")]


def test_include_src_adds_file_line_and_function() -> None:
    out = io.StringIO()
    configure_logging(LoggingConfig(include_src=True), stream=out).info("x")
    source = lines(out)[0]["source"]
    assert source["file"] == "test_logging_setup.py"  # type: ignore[index]
    assert source["function"].endswith("test_include_src_adds_file_line_and_function")  # type: ignore[index]
    assert isinstance(source["line"], int)  # type: ignore[index]


def test_build_info_once_logs_one_record(tmp_path: Path) -> None:
    (tmp_path / "build-info.yaml").write_text("version: 1.2.3\ncommit: abc\n")
    out = io.StringIO()
    logger = configure_logging(LoggingConfig(include_build_info="once"), stream=out, cwd=tmp_path)
    logger.info("later")
    first, second = lines(out)
    assert (
        first["msg"] == "Build info" and first["build.version"] == "1.2.3" and first["build.commit"] == "abc"
    )
    assert "build.version" not in second


def test_build_info_always_is_on_every_record(tmp_path: Path) -> None:
    (tmp_path / "build-info.yaml").write_text("version: 1.2.3\n")
    out = io.StringIO()
    logger = configure_logging(LoggingConfig(include_build_info="always"), stream=out, cwd=tmp_path)
    logger.info("a")
    logger.warning("b")
    assert [r["build.version"] for r in lines(out)] == ["1.2.3", "1.2.3"]


@pytest.mark.parametrize("mode", ["once", "always"])
def test_missing_build_info_aborts(tmp_path: Path, mode: str) -> None:
    with pytest.raises(BuildInfoError, match=r"build-info\.yaml"):
        configure_logging(LoggingConfig(include_build_info=mode), stream=io.StringIO(), cwd=tmp_path)


def test_build_info_that_is_not_utf8_aborts_with_one_line_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "build-info.yaml").write_bytes(b"version: caf\xe9\n")
    with pytest.raises(BuildInfoError) as caught:
        configure_logging(LoggingConfig(include_build_info="once"), stream=io.StringIO(), cwd=tmp_path)
    assert str(caught.value) == (
        f"cannot read {tmp_path / 'build-info.yaml'}: not UTF-8 text (byte 0xe9 at offset 12)"
    )
    assert caught.value.key == "logging.include_build_info"


@pytest.mark.parametrize("where", ["a-folder", "under-a-file"])
def test_a_log_file_that_cannot_be_opened_is_a_log_file_error_and_no_handler_changes(
    tmp_path: Path, where: str
) -> None:
    (tmp_path / "plain-file").write_text("x")
    filename = tmp_path if where == "a-folder" else tmp_path / "plain-file" / "um.log"
    before = list(logging.getLogger("usermgmt_pipeline").handlers)
    with pytest.raises(LogFileError, match="cannot open the log file") as caught:
        configure_logging(LoggingConfig(log_to_file=True, filename=str(filename)), stream=io.StringIO())
    assert caught.value.key == "logging.filename" and "\n" not in str(caught.value)
    assert logging.getLogger("usermgmt_pipeline").handlers == before


def test_unknown_build_info_mode_means_never(tmp_path: Path) -> None:
    out = io.StringIO()
    configure_logging(LoggingConfig(include_build_info="sometimes"), stream=out, cwd=tmp_path).info("x")
    assert [r["msg"] for r in lines(out)] == ["x"]


def test_log_file_gets_the_same_lines_and_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "um.log"
    cfg = LoggingConfig(log_to_file=True, filename=str(path))
    configure_logging(cfg, stream=io.StringIO()).info("to file")
    assert json.loads(path.read_text().splitlines()[0])["msg"] == "to file"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_rotation_names_backups_by_time_compresses_and_keeps_max_backups(tmp_path: Path) -> None:
    path = tmp_path / "um.log"
    handler = LumberjackFileHandler(path, max_size_mb=1, max_backups=2, compress=True)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.Logger("rotation-test")
    logger.addHandler(handler)
    chunk = "x" * 100_000
    for _ in range(45):  # ~4.5 MB: four rollovers
        logger.info(chunk)
    handler.close()
    backups = sorted(p.name for p in tmp_path.iterdir() if p.name != "um.log")
    assert len(backups) == 2
    assert all(name.startswith("um-") and name.endswith(".log.gz") for name in backups)
    with gzip.open(tmp_path / backups[0], "rt") as f:
        assert f.readline().strip() == chunk
    assert path.stat().st_size <= 1024 * 1024


def test_max_age_removes_old_backups(tmp_path: Path) -> None:
    path = tmp_path / "um.log"
    old = tmp_path / "um-2000-01-01T00-00-00.000.log"
    old.write_text("old\n")
    handler = LumberjackFileHandler(path, max_size_mb=1, max_age_days=7)
    handler.doRollover()
    handler.close()
    assert not old.exists()
    assert len([p for p in tmp_path.iterdir() if p.name != "um.log"]) == 1


def test_attribute_values_that_json_cannot_encode_are_written_as_text() -> None:
    class Opaque(tuple):  # like Dagster's records: a tuple that refuses iteration
        def __iter__(self):  # type: ignore[no-untyped-def]
            raise TypeError("no iteration")

        def __str__(self) -> str:
            return "Opaque()"

    out = io.StringIO()
    configure_logging(LoggingConfig(), stream=out).error(
        "x", extra={"value": Opaque(), "items": [1, {"a": 2}]}
    )
    [record] = lines(out)
    assert record["value"] == "Opaque()" and record["items"] == [1, {"a": 2}]
