"""A clock for tests: time moves only when the code under test sleeps, so nothing waits for real."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tools.lib.clock import Clock


class FakeClock:
    """Monotonic time that advances by exactly what is slept; a wall clock that follows it."""

    def __init__(self, start: float = 0.0) -> None:
        self.seconds = start
        self.slept: list[float] = []
        self._alarms: list[tuple[float, object]] = []

    def after(self, seconds: float, action) -> None:
        """Do ``action`` once the clock has moved ``seconds`` on (the world changing while a command waits)."""
        self._alarms.append((self.seconds + seconds, action))

    def monotonic(self) -> float:
        return self.seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.seconds += max(0.0, seconds)
        due = [alarm for alarm in self._alarms if alarm[0] <= self.seconds]
        for alarm in due:
            self._alarms.remove(alarm)
            alarm[1]()

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.seconds)

    def clock(self) -> Clock:
        """This fake as the Clock handed to the code under test."""
        return Clock(monotonic=self.monotonic, sleep=self.sleep, now=self.now)
