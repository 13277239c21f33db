"""Time as a dependency: every wait and deadline goes through a Clock, so tests never sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Clock:
    """Monotonic seconds, sleeping, and the wall clock; the real ones by default."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


REAL = Clock()
