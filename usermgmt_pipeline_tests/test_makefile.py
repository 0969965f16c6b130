"""What `make test` does before the suite, read from `make -n` (prints the commands, runs none)."""

from __future__ import annotations

import os
import subprocess

from usermgmt_pipeline_tests.conftest import REPO_ROOT


def _planned_commands(target: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "MONGODB_URI"}
    return subprocess.run(
        ["make", "-n", target],
        cwd=REPO_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_make_test_with_mongodb_uri_does_not_build_ferretdb() -> None:
    planned = _planned_commands("test", MONGODB_URI="mongodb://127.0.0.1:27017")
    assert "pytest" in planned
    assert "build_ferretdb" not in planned


def test_make_test_without_mongodb_uri_builds_ferretdb() -> None:
    assert "build_ferretdb" in _planned_commands("test")
