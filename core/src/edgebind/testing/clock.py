"""A fake clock for the contract suite: time moves only when a test says so.

Drivers read time through the ``clock`` they are constructed with (see
:data:`edgebind.resource.Clock`), so a TTL test can jump an hour ahead in no
time at all and never depends on how fast the machine is.
"""

from __future__ import annotations

import logging

__all__ = ["FakeClock"]

logger = logging.getLogger(__name__)

#: A fixed, realistic epoch (2023-11-14) so drivers that store absolute
#: expiry times see ordinary numbers, not values near zero.
DEFAULT_START = 1_700_000_000.0


class FakeClock:
    """A callable returning seconds since the epoch, moved by :meth:`advance`."""

    def __init__(self, start: float = DEFAULT_START) -> None:
        self._now = float(start)

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward; a clock never runs backwards."""
        if seconds < 0:
            raise ValueError(
                f"a clock cannot go back in time (asked to advance {seconds} s); "
                "make a new FakeClock to start over"
            )
        self._now += seconds

    def __repr__(self) -> str:
        return f"FakeClock({self._now!r})"
