"""The crash hook is test-only: the package reads no crash setting; the tests install the hook themselves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from usermgmt_pipeline.tasks.checkpoints import CHECKPOINTS, PROCESS_HOOKS, StepHooks, install_checkpoint_hook
from usermgmt_pipeline_tests.crash_hook import CRASH_AT_VAR

REPO_ROOT = Path(__file__).resolve().parents[2]
VISIT_EVERY_CHECKPOINT_TWICE = (
    "from usermgmt_pipeline.tasks.checkpoints import CHECKPOINTS, PROCESS_HOOKS\n"
    "for name in CHECKPOINTS * 2:\n"
    "    PROCESS_HOOKS.checkpoint(name)\n"
    "print('survived')\n"
)


def _python(code: str, crash_at: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env={**os.environ, CRASH_AT_VAR: crash_at},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_production_process_ignores_the_crash_variable() -> None:
    proc = _python(VISIT_EVERY_CHECKPOINT_TWICE, "delete:user-deleted")
    assert (proc.returncode, proc.stdout.strip()) == (0, "survived"), proc.stderr[-2000:]


def test_the_package_source_never_reads_the_crash_variable() -> None:
    sources = (REPO_ROOT / "usermgmt_pipeline").rglob("*.py")
    assert not [path for path in sources if CRASH_AT_VAR in path.read_text()]


def test_a_worker_that_installs_the_hook_is_killed_at_the_nth_visit() -> None:
    code = (
        "from usermgmt_pipeline_tests.crash_hook import install_crash_hook_from_env\n"
        "install_crash_hook_from_env()\n"
        "from usermgmt_pipeline.tasks.checkpoints import PROCESS_HOOKS\n"
        "PROCESS_HOOKS.checkpoint('delete:user-deleted')\n"
        "print('first visit survived', flush=True)\n"
        "PROCESS_HOOKS.checkpoint('delete:user-deleted')\n"
        "print('second visit survived', flush=True)\n"
    )
    proc = _python(code, "delete:user-deleted:2")
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout.splitlines() == ["first visit survived"]


def test_installed_hooks_see_every_checkpoint_until_removed() -> None:
    seen: list[str] = []
    remove = install_checkpoint_hook(seen.append)
    try:
        for name in CHECKPOINTS:
            PROCESS_HOOKS.checkpoint(name)
    finally:
        remove()
    PROCESS_HOOKS.checkpoint(CHECKPOINTS[0])
    assert seen == list(CHECKPOINTS)


def test_a_contexts_own_hooks_see_its_checkpoints_and_leave_the_process_hooks_alone() -> None:
    own, process = StepHooks(), []
    seen: list[str] = []
    own.add(seen.append)
    remove = install_checkpoint_hook(process.append)
    try:
        own.checkpoint(CHECKPOINTS[1])
        assert list(own.parts(CHECKPOINTS[2], [1, 2, 3])) == [[1, 2, 3]]
    finally:
        remove()
    assert (seen, process) == ([CHECKPOINTS[1]], [])
