"""SIGINT and SIGTERM as one mechanism for every command: an exception that unwinds the work, so every
staged set, lock and half-made folder is cleaned up on the way out, and an exit status of 128 + the signal.

Python raises KeyboardInterrupt for SIGINT only, and where the signal lands inside a callback (a weakref's,
a `__del__`, JAX's garbage-collection hook) it prints "Exception ignored" with a traceback and carries on, so a
command could finish its work and end with exit 0 after Ctrl-C. Here each signal is also recorded: `check`
raises it again at the points where a set of outputs would be committed, and `cli.main` after the command
returns; and such a swallowed interrupt is not printed (`_quiet_about_interrupts`), since it is raised again."""

from __future__ import annotations

import contextlib
import signal
import sys
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []  # signals that arrived in this process, in order


class Interrupted(KeyboardInterrupt):
    """A SIGINT or SIGTERM; a KeyboardInterrupt, so code that cleans up after Ctrl-C cleans up after both."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum  # 130 for SIGINT, 143 for SIGTERM, as a shell reports them


def _raise(signum, _frame) -> None:
    _received.append(signum)
    raise Interrupted(signum)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise `Interrupted` (in the main thread; elsewhere, where handlers
    cannot be set, nothing changes); the previous handlers come back after it."""
    try:
        previous = {signum: signal.signal(signum, _raise) for signum in SIGNALS}
    except ValueError:  # not the main thread
        previous = {}
    hook = sys.unraisablehook
    if previous:
        sys.unraisablehook = _quiet_about_interrupts(hook)
    try:
        yield
    finally:
        sys.unraisablehook = hook
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _quiet_about_interrupts(hook):
    """`sys.unraisablehook` that says nothing of an `Interrupted` swallowed in a callback (`check` raises it
    again) and passes everything else to `hook`."""
    def quiet(unraisable) -> None:
        if not isinstance(unraisable.exc_value, Interrupted):
            hook(unraisable)

    return quiet


def check() -> None:
    """Raise `Interrupted` again if a signal arrived, even one swallowed where Python ignores exceptions."""
    if _received:
        raise Interrupted(_received[0])


def ignored_in_worker() -> None:
    """Pool initializer: a worker leaves SIGINT to its parent (which stops the pool), instead of each worker
    printing its own KeyboardInterrupt or BrokenPipeError traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
