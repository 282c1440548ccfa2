"""Client-side pacing: stay under a call-rate window and a concurrency cap instead of being refused by the server,
and read the pause a server asks for (Retry-After) the same way for every client."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

MAX_WAIT_SECONDS = 300.0
"""The longest pause a client takes on a server's word: a longer Retry-After is the caller's to schedule."""


class Pacer:
    """At most `calls` calls started in any `seconds`-long window and at most `concurrent` in flight."""

    def __init__(self, calls: int, seconds: float, concurrent: int, *, margin: float = 0.5,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.calls, self.seconds, self.margin = calls, seconds, margin
        self._clock, self._sleep = clock, sleep
        self._started: deque[float] = deque()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(concurrent)
        self.waited = 0.0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one call's place: waits for the window and for a free concurrency slot."""
        with self._slots:
            self._wait_for_window()
            yield

    def _wait_for_window(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                # The margin absorbs the time between a call's start here and its receipt there: with calls in
                # flight together, one can reach the server a few hundred milliseconds after it started.
                while self._started and self._started[0] <= now - self.seconds - self.margin:
                    self._started.popleft()
                if len(self._started) < self.calls:
                    self._started.append(now)
                    return
                pause = self._started[0] + self.seconds + self.margin - now
            self.waited += pause
            self._sleep(pause)


def retry_after(header: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header, in either of its forms (seconds, or an HTTP date); a value that
    is neither, negative, or not finite (`inf`, `1e400`) is treated as absent."""
    if not header:
        return None
    text = header.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # an HTTP date is GMT by definition
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
