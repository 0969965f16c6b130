"""The Dagster instance the CLI records its runs in: `DAGSTER_HOME` if set, else an ephemeral one.

Checked before any run starts, so a mistyped `DAGSTER_HOME` is one clear line and exit 2 (like a bad config),
not a traceback from deep inside Dagster after the first database has been touched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from usermgmt_pipeline.errors import UsermgmtError

DAGSTER_HOME_VAR = "DAGSTER_HOME"


class DagsterHomeError(UsermgmtError, RuntimeError):
    """`DAGSTER_HOME` names no usable Dagster instance; the message is one line naming the path."""


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines[:2])[:300] if lines else type(exc).__name__


def check_dagster_home(value: str) -> Path:
    """The folder as Dagster needs it: absolute, an existing folder, writable (its SQLite storage lives there)."""
    home = Path(value)
    where = f"{DAGSTER_HOME_VAR}={value!r}"
    if not home.is_absolute():
        raise DagsterHomeError(f"{where} must be an absolute path")
    if not home.exists():
        raise DagsterHomeError(
            f"{where} does not exist; create the folder (with a dagster.yaml) or unset {DAGSTER_HOME_VAR} "
            "to record the runs nowhere"
        )
    if not home.is_dir():
        raise DagsterHomeError(f"{where} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as exc:
        raise DagsterHomeError(f"{where} is not writable: {exc.strerror or exc}") from None
    return home


def open_dagster_instance(env: Mapping[str, str] | None = None) -> Any:
    """A `DagsterInstance` (a context manager): from `DAGSTER_HOME` when set, else ephemeral.

    Raises `DagsterHomeError` when the folder or its `dagster.yaml` is unusable.
    """
    from dagster import DagsterInstance

    env = os.environ if env is None else env
    value = env.get(DAGSTER_HOME_VAR, "")
    if not value:
        return DagsterInstance.ephemeral()
    home = check_dagster_home(value)
    try:
        return DagsterInstance.from_config(str(home))
    except Exception as exc:  # Dagster raises many types here (config, YAML, storage); all mean the same
        raise DagsterHomeError(
            f"{DAGSTER_HOME_VAR}={value!r}: cannot load the Dagster instance from "
            f"{home / 'dagster.yaml'}: {_first_line(exc)}"
        ) from None
