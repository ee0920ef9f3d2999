"""SIGTERM unwinds like Ctrl-C: one handler for every hand3d command. No TensorFlow.

Python turns SIGINT into KeyboardInterrupt, so every ``finally`` and ``except
BaseException`` on the way out runs: temporary files of atomic writes are deleted, staging
folders removed, a trainer writes its checkpoint. SIGTERM (``kill``, a job scheduler, a
container stop) would end the process on the spot and leave them behind. Within
:func:`sigterm_as_interrupt` it raises :class:`Interrupted`, a KeyboardInterrupt that says
which signal came, so the same cleanup runs and the command exits with 128 + the signal.
"""

from __future__ import annotations

import contextlib
import signal


class Interrupted(KeyboardInterrupt):
    """A signal (SIGTERM) delivered as a KeyboardInterrupt; ``signum`` says which."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum


def signal_number(error: BaseException) -> int:
    """The signal behind a KeyboardInterrupt: ``Interrupted.signum``, else SIGINT."""
    return int(getattr(error, "signum", signal.SIGINT))


def _interrupt(signum, frame):
    raise Interrupted(signum)


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises Interrupted(SIGTERM); the previous handler is
    restored after it."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
