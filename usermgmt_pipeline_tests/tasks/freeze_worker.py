"""Worker for the lease-fencing tests: the `user-management` CLI, with the test's crash and freeze hooks.

`python -m usermgmt_pipeline_tests.tasks.freeze_worker <cli args>` runs `usermgmt_pipeline.cli.main` in this
process after installing the hooks named by `USERMGMT_TEST_CRASH_AT` / `USERMGMT_TEST_FREEZE_AT`, so a test can
freeze the real CLI at a step boundary (or freeze it from outside, e.g. from an HTTP peer or a proxy, by pid).
"""

from __future__ import annotations

import sys

from usermgmt_pipeline.cli import main
from usermgmt_pipeline_tests.crash_hook import install_crash_hook_from_env, install_freeze_hook_from_env

if __name__ == "__main__":
    install_crash_hook_from_env()
    install_freeze_hook_from_env()
    sys.exit(main(sys.argv[1:]))
