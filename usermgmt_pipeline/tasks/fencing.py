"""The lease a run holds on its instance, as a fencing token every irreversible step asks first.

A run that was frozen (SIGSTOP, a paused VM, a partitioned node) for longer than its lease comes back to find
another run working on its instance. A check made before the freeze proves nothing then, so each step that
cannot be taken back (an email, a token, a deletion, a LEAVE evaluation or external call, a journal
transition) asks `Lease.check` immediately before it:

- while the last renewal that reached the server is younger than `VALID_SHARE` of the lease, the answer is
  local and free: nobody can take the instance over before the lease has expired;
- past that, the lease is renewed synchronously, conditional on our generation: if that renewal matches, the
  instance is still ours and stays so for a whole lease; if not, a newer generation holds it and
  `LeaseLost` ends the task.

The journal's writes are conditional on the generation on the server side (`PipelineStore`), so a journal
transition can never be made by a run whose entries were claimed by a newer one, whatever the clocks say.
What no fence can stop is a request already handed to the network before the freeze and delivered after
it; every CASE write is therefore also idempotent (pre-assigned ids, filters on the selection).

The local answer relies on the hosts' clocks agreeing within `1 - VALID_SHARE` of the lease (15 s of the
default 60 s): the run taking over compares the lease's `expiresAt`, written with the holder's clock, with
its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from usermgmt_pipeline.case.leases import LeaseLost

TAKEN_OVER = "the instance lease was taken over by another run"
VALID_SHARE = 0.75
"""Share of the lease after a renewal's send during which the holder trusts it without asking the server."""


@dataclass
class Lease:
    """A held lease: its generation and how long it is known to be ours.

    `renew` is the conditional renewal on the server (`LeaseStore.renew` bound to our run and generation);
    None for the lease of a run that holds no instance (a dry run, a task function called directly), whose
    checks always pass and whose journal writes carry no generation.
    """

    instance_id: str
    generation: int | None
    lease_s: float
    renew: Callable[[float], bool] | None = None
    clock: Callable[[], float] = time.monotonic
    _valid_until: float = 0.0
    _lost: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def unheld(cls, instance_id: str = "") -> Lease:
        return cls(instance_id, None, 0.0)

    def renewed(self, sent_at: float) -> None:
        """A renewal (or the acquisition) sent at monotonic time `sent_at` matched our lease."""
        with self._lock:
            self._valid_until = max(self._valid_until, sent_at + self.lease_s * VALID_SHARE)

    def lose(self, reason: str) -> None:
        with self._lock:
            if self._lost is None:
                self._lost = reason

    @property
    def lost(self) -> str | None:
        return self._lost

    def renew_now(self) -> bool:
        """One conditional renewal on the server (it raises if the server does not answer); True while the
        lease is ours, its validity then counted from the renewal's send."""
        if self.renew is None:
            return True
        sent = self.clock()
        kept = self.renew(time.time())
        if kept:
            self.renewed(sent)
        return kept

    def check(self, step: str) -> None:
        """Raise `LeaseLost` unless the instance is still ours; call right before an irreversible step."""
        if self.renew is None:
            return
        if self._lost is None and self.clock() < self._valid_until:
            return
        if self._lost is None:
            try:
                if self.renew_now():
                    return
                self.lose(TAKEN_OVER)
            except Exception as exc:  # cannot prove the lease is ours: no irreversible step
                self.lose(f"the instance lease could not be renewed ({type(exc).__name__})")
        raise LeaseLost(f"{self._lost}; stopped before {step}")
