"""The live progress line of a campaign on standard error: attempts done of
planned, failures, rate and ETA, drawn with ``rich`` a few times a second
from a ``LoopingCall`` (never per attempt), and nothing at all when standard
error is not a terminal."""

from __future__ import annotations

import sys
from typing import Any, Final, TextIO

from twisted.internet.task import LoopingCall

from dlmstw.client.campaign import CampaignRun

REFRESH_S: Final = 0.25
"""Seconds between two redraws."""


class ProgressLine:
    """Watches a :class:`CampaignRun` and redraws its line on ``stream``; quiet unless ``stream`` is a terminal."""

    def __init__(self, reactor: Any, run: CampaignRun, planned: int | None, stream: TextIO | None = None) -> None:
        self.reactor = reactor
        self.run = run
        self.planned = planned
        self.stream = sys.stderr if stream is None else stream
        self._progress: Any = None
        self._task: Any = None
        self._loop: LoopingCall | None = None

    @property
    def shown(self) -> bool:
        """Whether a line is drawn: only on a terminal."""
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty and isatty())

    def start(self) -> None:
        if not self.shown:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("campaign"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[failures]} failed  {task.fields[rate]:.0f}/s"), TimeRemainingColumn(),
            console=Console(file=self.stream), auto_refresh=False, transient=True)
        self._task = self._progress.add_task("campaign", total=self.planned, failures=0, rate=0.0)
        self._progress.start()
        self._loop = LoopingCall(self._draw)
        self._loop.clock = self.reactor
        self._loop.start(REFRESH_S, now=True)

    def _draw(self) -> None:
        run = self.run
        done = len(run.attempts)
        elapsed = run.elapsed
        self._progress.update(self._task, completed=done, failures=run.failures,
                              rate=done / elapsed if elapsed > 0 else 0.0)
        self._progress.refresh()

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._progress is not None:
            self._progress.stop()
