"""Tests that read the CASE corpus are deselected with a notice when it is absent, an error when required."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from usermgmt_pipeline_tests.corpus import CORPUS_DIR_VAR, CORPUS_REQUIRED_VAR, REPO_ROOT

SEED_TEST = (
    "usermgmt_pipeline_tests/config/test_loading.py::test_seed_example_config_loads_with_seed_spellings"
)


def _pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in (CORPUS_DIR_VAR, CORPUS_REQUIRED_VAR)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", SEED_TEST],
        cwd=REPO_ROOT,
        env={**base, "PYTHONPATH": str(REPO_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_without_the_corpus_its_tests_are_deselected_with_a_notice(tmp_path: Path) -> None:
    proc = _pytest(tmp_path, **{CORPUS_DIR_VAR: str(tmp_path / "no-corpus")})
    assert proc.returncode == 5, proc.stdout[-2000:]  # 5: no test ran (the only one was deselected)
    assert "1 deselected" in proc.stdout
    assert f"the CASE corpus were deselected: it is not at {tmp_path / 'no-corpus'}" in proc.stdout


def test_a_required_corpus_that_is_absent_is_an_error(tmp_path: Path) -> None:
    env = {CORPUS_DIR_VAR: str(tmp_path / "no-corpus"), CORPUS_REQUIRED_VAR: "1"}
    proc = _pytest(tmp_path, **env)
    assert proc.returncode == 4, proc.stdout[-2000:]  # 4: usage error
    assert "CASE_CORPUS_REQUIRED is set but the CASE corpus is not at" in proc.stdout + proc.stderr


def test_the_corpus_dir_setting_points_the_tests_at_a_copy(tmp_path: Path) -> None:
    seed = tmp_path / "copy" / "seed"
    seed.mkdir(parents=True)
    (tmp_path / "copy" / "corpus" / "templates").mkdir(parents=True)
    (tmp_path / "copy" / "corpus" / "rules").mkdir(parents=True)
    (seed / "config.example.yaml").write_text("instance_ids: [only-in-the-copy]\n")
    proc = _pytest(tmp_path, **{CORPUS_DIR_VAR: str(tmp_path / "copy"), CORPUS_REQUIRED_VAR: "1"})
    assert proc.returncode == 1  # it ran, on the copy (which lacks most keys)
    assert "only-in-the-copy" in proc.stdout
