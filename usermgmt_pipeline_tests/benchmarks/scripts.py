"""Runs a script of `benchmarks/` as an operator does: its own process, this checkout's code, the test server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from usermgmt_pipeline_tests.conftest import REPO_ROOT

BENCHMARKS = REPO_ROOT / "benchmarks"


def run_script(
    script: str, args: list[str], tmp_path: Path, timeout: float, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python benchmarks/<script> ARGS` with cwd=tmp_path; PYTHONPATH is the repository root, so the code
    measured is this checkout's, not whichever one the venv was installed from. DAGSTER_HOME is not passed on
    unless given in `env`."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CONFIG_FILE_PATH", "DAGSTER_HOME", "MONGODB_URI")
    }
    environment.update(PYTHONPATH=str(REPO_ROOT), DAGSTER_DISABLE_TELEMETRY="1", **env)
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
