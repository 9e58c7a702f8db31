"""warroom's one error tree.

Every error warroom raises on purpose derives from :class:`WarroomError`. Adapters translate vendor
and database errors into this tree (keeping the original as ``__cause__``) and never swallow them.
A message says what was wrong and, where there is something to do, what to do.
"""

from __future__ import annotations


class WarroomError(Exception):
    """Root of every error warroom raises on purpose."""


class ConfigError(WarroomError):
    """The configuration in ``configs/`` is invalid. ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the configuration"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class IllegalTransitionError(WarroomError):
    """An event that the incident's current phase (or its state) does not allow.

    The incident's state is left unchanged.
    """


class NotAuthorisedError(IllegalTransitionError):
    """A role's decision was made by someone who does not hold that role."""


class LedgerError(WarroomError):
    """The ledger could not store or read an event."""


class LedgerConflictError(LedgerError):
    """Another writer appended to the incident first: re-read the stream and decide again."""


class IntegrationError(WarroomError):
    """A call to an outside service (PagerDuty, Jira, ...) failed for good.

    The message names the service, the call and the last status; it never carries a secret.
    """

    def __init__(self, service: str, call: str, detail: str, status: int | None = None) -> None:
        self.service = service
        self.call = call
        self.status = status
        self.detail = detail
        where = f"{service} {call}"
        status_text = f" (last status {status})" if status is not None else ""
        super().__init__(f"{where} failed{status_text}: {detail}")


class AlertRejectedError(WarroomError):
    """An alert body could not be accepted; ``field`` says where, when known."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(f"{field}: {reason}" if field else reason)
