"""`python -m usermgmt_pipeline_tests.reliability.worker <config> <task> <now_ns>`: one task, one process.

The crash-matrix tests start this with `USERMGMT_TEST_CRASH_AT` set; the worker installs the crash hook
(usermgmt_pipeline_tests/crash_hook.py), so the process SIGKILLs itself at the named checkpoint; it prints
the task results as JSON when it survives.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from usermgmt_pipeline_tests.crash_hook import install_crash_hook_from_env
from usermgmt_pipeline_tests.reliability.harness import run_task


def main(argv: list[str]) -> int:
    install_crash_hook_from_env()
    config_path, task, now_ns = Path(argv[0]), argv[1], int(argv[2])
    results = run_task(config_path, task, now_ns)
    print(json.dumps([asdict(r) for r in results], default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
