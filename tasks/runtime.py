"""What the flows run with: the configuration, the ledger, the pager, the tracker and the clock.

An entry point (``warroom`` CLI, a deployment's flow, a test) builds one :class:`Runtime` and installs
it with :func:`use_runtime`; flows and tasks read it with :func:`current_runtime`. Nothing here reads
the environment or files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from warroom.incident.errors import WarroomError
from warroom.incident.policy import WarroomConfig
from warroom.incident.ports import Pager, Tracker
from warroom.integrations.ledger import Ledger


@dataclass(frozen=True)
class Runtime:
    config: WarroomConfig
    ledger: Ledger
    pager: Pager
    tracker: Tracker
    clock: Callable[[], datetime]
    home: Path  # evidence goes under home / "evidence" / <incident>
    config_dir: Path  # runbook evidence locations are relative to it
    drill_pager: Pager | None = None  # the pager on the drill routing key (None: drills cannot page)

    def pager_for(self, drill: bool) -> Pager:
        """The pager that pages and resolves for an incident: a drill's only ever the drill routing key."""
        if not drill:
            return self.pager
        if self.drill_pager is None:
            raise WarroomError(
                "a drill pages only the drill routing key, and none is set: export "
                "WARROOM_PAGERDUTY_DRILL_ROUTING_KEY (or set drill_routing_key in the PagerDutyCredentials "
                "block); `warroom up` sets the sandbox's"
            )
        return self.drill_pager


_current: Runtime | None = None


@contextmanager
def use_runtime(runtime: Runtime) -> Iterator[Runtime]:
    global _current
    previous, _current = _current, runtime
    try:
        yield runtime
    finally:
        _current = previous


def current_runtime() -> Runtime:
    if _current is None:
        raise WarroomError(
            "warroom's runtime is not set up: start flows through `warroom` (demo, up, declare) "
            "or a deployment of prefect.yaml, which build it from the settings"
        )
    return _current
