"""Raising an exception inside a running job from outside it: soft time limits and cancellation.

In the main thread a POSIX timer or signal interrupts even a blocking call
(``time.sleep``, a socket read). Jobs run by the in-process worker (embedded
``memory://`` mode) live in another thread, where the exception is scheduled
with ``PyThreadState_SetAsyncExc``: it fires at the next Python bytecode.
"""

from __future__ import annotations

import ctypes
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from jobruntime.authoring.job import SoftTimeLimitExceeded
from jobruntime.core.errors import RunInterrupted


class RunCancelled(RunInterrupted):
    """Raised inside a job whose run was cancelled (``jobruntime results cancel``)."""


def _raise_in_thread(thread_id: int, exc_type: type[BaseException]) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc_type))


class Interrupter:
    """Delivers exceptions into the thread that created it while armed.

    The soft limit fires once; a cancel still reaches a job that caught the soft limit
    and carried on. A cancel is delivered once (a second would interrupt the job's cleanup).
    """

    def __init__(self) -> None:
        self.thread = threading.current_thread()
        self.pending: BaseException | None = None
        self._armed = False
        self._in_main = self.thread is threading.main_thread()

    def _on_signal(self, _signum: int, _frame: object) -> None:
        if self._armed and self.pending is not None:
            pending, self.pending = self.pending, None
            raise pending

    def interrupt(self, exc: BaseException) -> None:
        """Ask for ``exc`` to be raised in the job's thread now (callable from any thread).

        Outside the main thread only its type can be delivered, so its message is lost.
        """
        if not self._armed:
            return
        self.pending = exc
        if self._in_main:
            signal.pthread_kill(self.thread.ident, signal.SIGUSR1)
        else:
            _raise_in_thread(self.thread.ident, type(exc))

    def _on_alarm(self, _signum: int, _frame: object) -> None:
        if self._armed:  # the timer is one-shot: it never fires twice
            raise self._expired

    @contextmanager
    def armed(self, soft_limit: float) -> Iterator[None]:
        """While the body runs, interruptions are delivered; after ``soft_limit`` seconds one is raised.

        In the main thread the limit is a POSIX interval timer (no thread per run).
        """
        self._armed = True
        self._expired = SoftTimeLimitExceeded(f"soft time limit ({soft_limit:g} s) exceeded")
        timer: threading.Timer | None = None
        previous: list[Callable | int | None] = []
        if self._in_main:
            previous = [signal.signal(signal.SIGUSR1, self._on_signal), signal.signal(signal.SIGALRM, self._on_alarm)]
            if soft_limit > 0:
                signal.setitimer(signal.ITIMER_REAL, soft_limit)
        elif soft_limit > 0:
            timer = threading.Timer(soft_limit, self.interrupt, args=(self._expired,))
            timer.daemon = True
            timer.start()
        try:
            yield
        finally:
            self._armed = False
            if timer is not None:
                timer.cancel()
            if previous:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGUSR1, previous[0])
                signal.signal(signal.SIGALRM, previous[1])
