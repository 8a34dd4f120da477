"""A rich progress bar on stderr that is silent when asked (tests, library use)."""

from __future__ import annotations

import contextlib
from typing import Iterator


class _Quiet:
    def add_task(self, *a, **k):
        return 0

    def update(self, *a, **k):
        pass

    def advance(self, *a, **k):
        pass


@contextlib.contextmanager
def progress_bar(show: bool = True) -> Iterator:
    """A :class:`rich.progress.Progress` (thread-safe) or a no-op stand-in."""
    if not show:
        yield _Quiet()
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), refresh_per_second=4) as bar:
        yield bar
