"""`python benchmarks/cli_probe.py OUT.json [CLI ARGS...]`: the `user-management` CLI, measured from inside.

Runs `usermgmt_pipeline.cli.main` exactly as the console script does, with one pymongo command listener
registered before any client exists, and writes to OUT.json what only the process itself can see: its own
CPU time (user + system, `getrusage(RUSAGE_SELF)`, all threads), its peak RSS, the commands it sent and the
wall time during which at least one command was in flight (started -> succeeded/failed; overlapping commands
counted once), i.e. the time it waited for the server. Which code it measures is whichever
`usermgmt_pipeline` is first on `PYTHONPATH` (`whole_job.py --reference` runs an older commit this way).
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from typing import Any

from pymongo import monitoring


class Waiting(monitoring.CommandListener):
    def __init__(self) -> None:
        self.commands = 0
        self.waiting_s = 0.0
        self._in_flight = 0
        self._since = 0.0
        self._lock = threading.Lock()

    def started(self, event: Any) -> None:
        with self._lock:
            self.commands += 1
            if self._in_flight == 0:
                self._since = time.perf_counter()
            self._in_flight += 1

    def _done(self, event: Any) -> None:
        with self._lock:
            if self._in_flight > 0:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self.waiting_s += time.perf_counter() - self._since

    succeeded = _done
    failed = _done


def main(argv: list[str]) -> int:
    out, cli_args = argv[0], argv[1:]
    waiting = Waiting()
    monitoring.register(waiting)
    started = time.perf_counter()
    from usermgmt_pipeline.cli import main as cli_main

    code = 1
    try:
        code = cli_main(cli_args)
    finally:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(
                {
                    "exit": code,
                    "wall_s": time.perf_counter() - started,
                    "cpu_s": usage.ru_utime + usage.ru_stime,
                    "rss_mb": usage.ru_maxrss / 1024,
                    "commands": waiting.commands,
                    "waiting_s": waiting.waiting_s,
                },
                handle,
            )
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
