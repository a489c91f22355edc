"""How the CLI shows things to a person: rich tables, transfer progress bars and the live task status.

Tables go to stdout (wide when it is a pipe, so uuids are not folded); progress and status go to stderr and
only to a terminal, so scripts that read stdout or redirect stderr see nothing of them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rich.console import Console, RenderableType
from rich.live import Live
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from client.bodies import Json
from mito.vocab import TaskState, format_duration

ProgressCallback = Callable[[int, int], None]


def table(title: str | None, columns: list[str], rows: Iterable[Iterable[Any]]) -> None:
    """Print a table on stdout; None cells are empty."""
    grid = Table(title=title)
    for column in columns:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*("" if v is None else str(v) for v in row))
    console = Console()
    if not console.is_terminal:
        console = Console(width=250)  # a pipe or file: do not fold uuids at 80 columns
    console.print(grid)


@contextlib.contextmanager
def progress(label: str, enabled: bool) -> Iterator[ProgressCallback | None]:
    """A progress bar on stderr for one transfer; yields a callback(done, total), or None off a terminal."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        console=console, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total or None)


class TaskStatus:
    """While a command waits for a task: on a terminal (stderr), a spinner with the task's state and the time
    waited, and one line each time the state changes. Off a terminal it shows nothing."""

    def __init__(self, uuid: str, enabled: bool):
        self.uuid = uuid
        self.console = Console(stderr=True)
        self.enabled = enabled and self.console.is_terminal
        self.state: TaskState | None = None
        self.started = time.monotonic()
        self._spinner = Spinner("dots")
        self._live: Live | None = None

    def __enter__(self) -> TaskStatus:
        if self.enabled:
            self._live = Live(self, console=self.console, transient=True, refresh_per_second=4)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def elapsed(self) -> str:
        """The time waited so far, humantime style (`1m 5s`)."""
        return format_duration(time.monotonic() - self.started)

    def update(self, info: Json) -> None:
        """Take one poll's task info; a new state gets its own line."""
        state = TaskState.parse(info["state"])
        if state != self.state and self.enabled:
            self.console.print(f"{self.uuid} {state.name} (after {self.elapsed()})", highlight=False)
        self.state = state

    def __rich__(self) -> RenderableType:
        state = self.state.name if self.state is not None else "..."
        self._spinner.update(text=Text(f"{self.uuid} {state}, waited {self.elapsed()}"))
        return self._spinner
