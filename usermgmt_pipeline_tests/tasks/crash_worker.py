"""Worker process for the crash-safety tests: `python -m usermgmt_pipeline_tests.tasks.crash_worker <config> <task>`.

It runs one task (registry name) for the test instance with the real clock. The test sets
`USERMGMT_TEST_CRASH_AT`; the worker installs the crash hook, so the process SIGKILLs itself there.
"""

from __future__ import annotations

import sys

from usermgmt_pipeline.case.connections import CaseDatabases
from usermgmt_pipeline.config import load_config
from usermgmt_pipeline.tasks.context import TaskContext
from usermgmt_pipeline.tasks.registry import TASKS
from usermgmt_pipeline_tests.crash_hook import install_crash_hook_from_env
from usermgmt_pipeline_tests.tasks.helpers import INSTANCE


def main(config_path: str, task: str) -> int:
    config = load_config(config_path, env={})
    dbs = CaseDatabases.connect(config.db_configs)
    try:
        for result in TASKS[task](TaskContext(config=config, dbs=dbs, instance_id=INSTANCE)):
            print(result.summary())
    finally:
        dbs.close()
    return 0


if __name__ == "__main__":
    install_crash_hook_from_env()
    sys.exit(main(sys.argv[1], sys.argv[2]))
