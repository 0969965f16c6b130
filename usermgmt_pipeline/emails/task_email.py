"""What a task's email is: its message type and whether (and for what) it carries a temp token.

Stated once per email, in the sending task's declaration: the template pre-flight renders it with a stand-in
token, the dry-run review with a placeholder, and the notice flow issues a token of that purpose, all from
this value (they were three unconnected lists before).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskEmail:
    """One email a task queues (the global template of `message_type`)."""

    message_type: str
    token_purpose: str | None = None
    """The purpose of the temp token the email links to (`case.temp_tokens.PURPOSE_*`); None: no token."""

    @property
    def with_token(self) -> bool:
        return self.token_purpose is not None

    def payload(self, token: str) -> dict[str, str]:
        """The data map `QueueEmailByTemplate` gets (docs/case-data.md §4 step 4): the token, or nothing."""
        return {"token": token} if self.with_token else {}
