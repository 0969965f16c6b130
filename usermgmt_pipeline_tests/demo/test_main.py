"""`python -m devtools.demo`: arguments are parsed before anything starts (issue 22: `--help` reseeded
the demo databases and ran the whole job)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.local_mongo import REPO_ROOT


def run_demo(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CONFIG_FILE_PATH", "DAGSTER_HOME")}
    return subprocess.run(
        [sys.executable, "-m", "devtools.demo", *args],
        cwd=REPO_ROOT,  # devtools/ is not installed: it runs from the checkout, as `make demo` runs it
        env={**env, "DAGSTER_DISABLE_TELEMETRY": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _demo_data() -> list[tuple[str, int]]:
    folder = REPO_ROOT / ".cache" / "demo"
    return sorted((str(p), p.stat().st_mtime_ns) for p in folder.rglob("*")) if folder.exists() else []


def test_help_prints_the_modes_and_starts_nothing(tmp_path: Path) -> None:
    before = _demo_data()
    done = run_demo("--help", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m devtools.demo")
    for mode in ("run", "serve-db", "serve-ui"):
        assert f"    {mode} " in done.stdout
    assert "seeded" not in done.stdout and "FerretDB with the demo data" not in done.stdout
    assert _demo_data() == before  # no server started, nothing reseeded


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--bogus"], "--bogus"),
        (["serve-db", "extra"], "extra"),
        (["nope"], "nope"),
        (["run", "--bogus"], "--bogus"),
    ],
)
def test_an_unknown_argument_is_an_error_before_any_reseed(
    args: list[str], named: str, tmp_path: Path
) -> None:
    before = _demo_data()
    done = run_demo(*args, tmp_path=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "error:" in done.stderr and named in done.stderr
    assert "seeded" not in done.stdout
    assert _demo_data() == before


def test_run_help_is_the_cli_help(tmp_path: Path) -> None:
    done = run_demo("run", "--help", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "exit codes:" in done.stdout and "seeded" not in done.stdout
