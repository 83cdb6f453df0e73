"""Progress a person waits on, shown the way its stream can take it: redrawn on a terminal, a few
plain lines (or nothing) in a log or a pipe.

One rule decides for every progress display in eigen, the search's live tables included
(`views/live.py` and its siblings): `on_terminal(stream)`. A bar or a live table redraws itself with
carriage returns and ANSI codes; in a log file those become one endless line of fragments, so off a
terminal a display writes one plain line per event worth reading, and nothing for a job that ends
before anyone would wonder.

The layers that do the work (data, training) never print (STYLE.md, principle 7): they take a `Tick`,
called as `tick(done, total)`, and the command hands them one made here by `counting`.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import time
from typing import IO, Callable, Iterable, Iterator, TypeVar

Tick = Callable[[int, int], None]  # (done, total) so far: what a long loop reports as it goes
T = TypeVar("T")

QUIET_FOR = 2.0  # seconds: a job done sooner shows nothing (a bar that flashes is noise)
PLAIN_EVERY = 60.0  # seconds between two plain lines of the same job


def on_terminal(stream: IO[str] | None) -> bool:
    """Whether `stream` can take redrawing: a terminal, and not one that says it is dumb (TERM=dumb:
    an Emacs shell, some CI consoles, which print carriage returns and escape codes as they are)."""
    try:
        tty = stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # no isatty (a stand-in stream), or a closed file
        return False
    return bool(tty) and os.environ.get("TERM") != "dumb"


def ticking(items: Iterable[T], tick: Tick | None, done: int = 0, total: int | None = None) -> Iterator[T]:
    """`items`, with `tick(done, total)` after each one is dealt with (one the loop skips with
    `continue` too); `done` counts those before, `total` defaults to their number."""
    if tick is None:
        yield from items
        return
    items = list(items)
    total = done + len(items) if total is None else total
    for item in items:
        yield item
        done += 1
        tick(done, total)


def clock(seconds: float | None) -> str:
    """'1:02:05' or '2:05': a duration as a person reads it ('?' when it is not known yet)."""
    if seconds is None:
        return "?"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class Bar:
    """One count a person waits on: a tqdm bar on a terminal; off one, a plain line when it starts to
    matter (after `quiet_for` seconds), one every `every` seconds, and one when it closes; nothing at
    all when `quiet` (the Python API's `quiet=True`), which still keeps the count.

    `update(done)` takes the count so far, not an increment, so a caller that only knows where it
    is (an epoch, an image index) never has to keep the bar's own count.
    """

    def __init__(self, what: str, total: int, unit: str, *, initial: int = 0, stream: IO[str] | None = None,
                 position: int | None = None, quiet_for: float | None = None, every: float = PLAIN_EVERY,
                 quiet: bool = False):
        self.what, self.total, self.unit, self.n = what, total, unit, initial
        self.stream = stream or sys.stdout
        self.quiet_for = math.inf if quiet else QUIET_FOR if quiet_for is None else quiet_for
        self.every = every
        self.note = ""
        self._started = time.monotonic()
        self._said: float | None = None  # when the last plain line was written (None: not yet)
        self._bar = None
        if on_terminal(self.stream) and not quiet:
            from tqdm import tqdm
            self._bar = tqdm(total=total, initial=initial, desc=what, unit=unit, file=self.stream,
                             position=position, delay=self.quiet_for, dynamic_ncols=True)
        elif self.quiet_for <= 0:
            self._say()

    def update(self, done: int, total: int | None = None, note: str = "") -> None:
        """The count is now `done` (of `total`, when that grew: a second folder of images found)."""
        self.n, self.note = done, note or self.note
        if total is not None:
            self.total = total
        if self._bar is not None:
            if total is not None and self._bar.total != total:
                self._bar.total = total
            if note:
                self._bar.set_postfix_str(note, refresh=False)
            self._bar.update(done - self._bar.n)
            return
        now = time.monotonic()
        if (now - self._started >= self.quiet_for) if self._said is None else (now - self._said >= self.every):
            self._say()

    def close(self) -> None:
        """The job ended (or stopped): the bar stays as it ended; off a terminal, a last line when
        any was written."""
        if self._bar is not None:
            self._bar.close()
        elif self._said is not None:
            self._say(done=True)
        self._bar = self._said = None

    def _say(self, done: bool = False) -> None:
        elapsed = time.monotonic() - self._started
        when = f" in {clock(elapsed)}" if done else (f" ({clock(elapsed)})" if self._said is not None else "")
        note = f", {self.note}" if self.note else ""
        print(f"{self.what}: {self.n:,}/{self.total:,} {self.unit}{note}{when}", file=self.stream, flush=True)
        self._said = time.monotonic()


@contextlib.contextmanager
def counting(what: str, unit: str, stream: IO[str] | None = None, quiet_for: float | None = None,
             quiet: bool = False) -> Iterator[Tick]:
    """A `Tick` for a job whose total its worker finds out (the files of a folder, the views of a
    data set): the bar starts at the first tick and closes when the block ends."""
    bar: Bar | None = None

    def tick(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = Bar(what, total, unit, initial=0, stream=stream, quiet_for=quiet_for, quiet=quiet)
        bar.update(done, total)

    try:
        yield tick
    finally:
        if bar is not None:
            bar.close()


@contextlib.contextmanager
def library_bars_quiet_off_terminal(module) -> Iterator[None]:
    """A library's own tqdm bars (torchvision's CIFAR download) follow the rule too: off a terminal,
    the `tqdm` that `module` draws them with is turned off for the block. tqdm draws on stderr."""
    if on_terminal(sys.stderr) or not hasattr(module, "tqdm"):
        yield
        return
    drawn_with = module.tqdm
    module.tqdm = functools.partial(drawn_with, disable=True)
    try:
        yield
    finally:
        module.tqdm = drawn_with
