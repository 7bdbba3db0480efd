"""Waiting between attempts at something that failed: the delay doubles after every failure, up to a ceiling.

Every retry loop (broker reconnects, outbox publishing, a database that went
away) uses this one rule, so a busy or absent server sees the same polite
pattern from every part of jobruntime.
"""

from __future__ import annotations

_MAX_DOUBLINGS = 64  # past this the ceiling has long been reached; keeps 2 ** n a float-sized number


class Backoff:
    """Delays in seconds for successive failures: ``first``, twice that, ... never more than ``most``.

    With ``immediate`` the first retry does not wait at all (the usual failure it
    answers is a connection the server dropped while idle), and the waits start
    at ``first`` after that. ``reset()`` after a success starts over.
    """

    def __init__(self, first: float, most: float, *, immediate: bool = False) -> None:
        self.first = first
        self.most = most
        self.immediate = immediate
        self.failures = 0

    def next(self) -> float:
        """The wait before the next attempt; counts one more failure."""
        doublings = self.failures - 1 if self.immediate else self.failures
        self.failures += 1
        if doublings < 0:
            return 0.0
        return min(self.first * 2 ** min(doublings, _MAX_DOUBLINGS), self.most)

    def reset(self) -> None:
        """An attempt succeeded: the next failure waits the shortest time again."""
        self.failures = 0
