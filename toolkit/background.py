"""A function run in a background thread: :meth:`BackgroundTask.join` returns its result or re-raises its error.

Used to put independent work on the second core: LAMMPS runs while a network
trains, or the fake-feature path alongside the main one (PyTorch releases the
GIL in its kernels).
"""

from __future__ import annotations

import threading
from typing import Callable


class BackgroundTask:
    """Start ``fn()`` in a daemon thread at once."""

    def __init__(self, fn: Callable[[], object]):
        self.result = None
        self.error: BaseException | None = None

        def target():
            try:
                self.result = fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised by join()
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def done(self) -> bool:
        """Whether the function has returned (or raised)."""
        return not self.thread.is_alive()

    def join(self):
        """Wait for the function; its return value, or its exception raised here."""
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.result
