"""SIGTERM (and SIGHUP) stop a command the way Ctrl-C does: the ``with`` blocks unwind and stop what
they started (the Prefect server, the sandboxes, the intake), instead of the process dying at once
and leaving its children running."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

TERMINATING = (signal.SIGTERM, signal.SIGHUP)


@contextmanager
def unwind_on_termination(signals: tuple[signal.Signals, ...] = TERMINATING) -> Iterator[None]:
    """While inside, the first of ``signals`` raises KeyboardInterrupt in the main thread; later ones are
    ignored, so the unwinding is not cut short. Outside the main thread, does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if not received:
            received.append(signum)
            raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    previous = {signum: signal.signal(signum, handler) for signum in signals}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
