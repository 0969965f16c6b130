"""Builds and drives ``tools/gotemplate_oracle`` (Go's real html/template) for the tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ORACLE_SRC = REPO_ROOT / "tools" / "gotemplate_oracle"
ORACLE_BIN = REPO_ROOT / ".cache" / "bin" / "gotemplate_oracle"


class GoUnavailableError(RuntimeError):
    pass


@dataclass(frozen=True)
class OracleResult:
    output: str
    error: str | None
    valid_utf8: bool


def go_executable() -> str:
    go = shutil.which("go")
    if go is None:
        raise GoUnavailableError(
            "the Go toolchain ('go') is not on PATH: the differential tests compare against Go's real "
            "html/template via tools/gotemplate_oracle and cannot run without it (CI installs Go)"
        )
    return go


def go_version() -> str:
    out = subprocess.run([go_executable(), "version"], check=True, capture_output=True, text=True)
    return out.stdout.split()[2]


def build_oracle() -> Path:
    """Build the oracle into .cache/bin (rebuilt when its source is newer than the binary)."""
    go = go_executable()
    src = ORACLE_SRC / "main.go"
    if ORACLE_BIN.exists() and ORACLE_BIN.stat().st_mtime >= src.stat().st_mtime:
        return ORACLE_BIN
    ORACLE_BIN.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    subprocess.run(
        [go, "build", "-o", str(ORACLE_BIN), "."], cwd=ORACLE_SRC, check=True, env=env, timeout=300
    )
    return ORACLE_BIN


def run_oracle(cases: list[dict]) -> list[OracleResult]:
    """Render ``[{"name", "template", "data"}]`` with Go."""
    binary = build_oracle()
    proc = subprocess.run(
        [str(binary)],
        input=json.dumps(cases).encode("utf-8"),
        capture_output=True,
        check=True,
        timeout=120,
    )
    raw = json.loads(proc.stdout)
    return [OracleResult(r["output"], r["error"], r["valid_utf8"]) for r in raw]
