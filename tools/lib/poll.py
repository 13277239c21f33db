"""One way to wait: look, pause, look again, until the answer is the one wanted or the deadline comes.

Every wait of the tools is meant to go through ``poll`` (verify's DNS and Postmark
rounds now; the deploy's change-set, stack-event and drift-detection waits next), so
the deadline, the backoff and the heartbeat are one piece of code, tested once on a
fake clock (``tests/unit/test_poll.py``).

The rules:

- The probe is called at least once, whatever the deadline: a wait of 0 is one look.
- Each call is handed its *budget*: the seconds left until ``deadline``, but never less
  than ``least`` (so a single look is still a look). A probe that makes a network call
  bounds that call by its budget (a DNS lifetime, an HTTP timeout).
- After each answer: ``done(answer)`` → return, done. No room left for another look of
  ``least`` seconds before the deadline → return, not done. Otherwise pause (the next
  step of ``interval``, cut short so that the last look starts ``least`` seconds before
  the deadline) and look again. So a wait ends by its deadline, or, when it is shorter
  than one look, after that one look: by max(deadline, start + ``least``).
- ``heartbeat(answer, elapsed, pause)`` is called before a pause once ``heartbeat_seconds``
  have passed since the wait began, since the last heartbeat, or since the last answer for
  which ``progressed(answer)`` held; ``heartbeat_seconds=0`` beats before every pause.
- Exceptions raised by the probe, ``done`` or ``heartbeat`` (and KeyboardInterrupt during
  a pause) pass through untouched: the caller's error handling stays where it is.
- The result says what happened (``Polled``): the caller decides what "not done" means
  (verify reports the failing rows; a deploy raises its timeout, naming ``elapsed``).

A hand-written wait (the deploy's change set, for example)::

    deadline = clock.monotonic() + limit
    while True:
        response = describe()
        if response["Status"] in FINAL:
            break
        if clock.monotonic() > deadline:
            raise Timeout(...)
        clock.sleep(5.0)

is, with ``poll``::

    polled = poll(
        lambda budget: describe(),          # one look; a call that can hang is bounded by budget
        clock=clock,
        deadline=clock.monotonic() + limit,
        interval=5.0,                       # or Backoff(1.0, factor=2.0, cap=30.0, jitter=0.2)
        done=lambda response: response["Status"] in FINAL,
    )
    if not polled.done:
        raise Timeout(f"... still {polled.value['Status']} after {polled.elapsed:.0f}s")

Following a stack, with a heartbeat after 30 s without a new event::

    polled = poll(
        lambda budget: new_events(),        # hands each event on as it comes
        clock=clock,
        deadline=deadline,
        interval=poll_seconds,
        done=reached_the_stack_end,
        heartbeat=lambda events, elapsed, pause: say(f"still waiting after {elapsed:.0f}s"),
        heartbeat_seconds=30.0,
        progressed=bool,                    # a look that brought events is not a quiet one
    )
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from tools.lib.clock import Clock

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """The pauses between looks: ``first``, then each ``factor`` times the last, never more than ``cap``.

    ``Backoff(5.0)`` is a fixed 5 s interval. ``jitter`` shortens each pause by a random
    fraction of at most that much (0.2: each pause is 80-100 % of its step), so that
    several clients do not look in step.
    """

    first: float
    factor: float = 1.0
    cap: float | None = None
    jitter: float = 0.0

    def __post_init__(self) -> None:
        # A programming error, not the operator's: these come from constants.
        if not (math.isfinite(self.first) and self.first > 0):
            raise ValueError(f"Backoff.first must be a positive number of seconds, got: {self.first!r}")
        if not (math.isfinite(self.factor) and self.factor >= 1):
            raise ValueError(f"Backoff.factor must be 1 or more, got: {self.factor!r}")
        if self.cap is not None and not (math.isfinite(self.cap) and self.cap >= self.first):
            raise ValueError(f"Backoff.cap must be a number of seconds of at least first, got: {self.cap!r}")
        if self.factor > 1 and self.cap is None:
            raise ValueError("a Backoff that grows (factor > 1) needs a cap")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"Backoff.jitter must be from 0 to less than 1, got: {self.jitter!r}")

    def pauses(self, rng: Callable[[], float] = random.random) -> Iterator[float]:
        """Each pause in turn, for ever (``rng`` gives numbers in [0, 1), for the jitter)."""
        step = self.first
        while True:
            yield step * (1 - self.jitter * rng()) if self.jitter else step
            step = min(step * self.factor, self.cap if self.cap is not None else step)


@dataclass(frozen=True)
class Polled(Generic[T]):
    """How a wait ended: the last answer, whether it was the one wanted, how many looks and how long."""

    value: T
    done: bool
    attempts: int
    elapsed: float


def poll(
    probe: Callable[[float], T],
    *,
    clock: Clock,
    deadline: float,
    interval: Backoff | float,
    done: Callable[[T], bool] = bool,
    least: float = 0.0,
    heartbeat: Callable[[T, float, float], None] | None = None,
    heartbeat_seconds: float = 0.0,
    progressed: Callable[[T], bool] | None = None,
    rng: Callable[[], float] = random.random,
) -> Polled[T]:
    """Call ``probe(budget)`` until ``done(answer)`` or ``deadline`` (``clock.monotonic()`` time); how it ended.

    ``budget`` is the seconds the probe may take: max(deadline - now, ``least``); the
    probe bounds its own calls by it, and the wait ends by max(deadline, start + ``least``).
    ``interval`` is a ``Backoff`` or a fixed number of seconds. ``deadline`` may be
    ``math.inf`` (no deadline: the budget is then infinite, and the probe must bound its
    calls by its own limits). See the module docstring.
    """
    if not (math.isfinite(least) and least >= 0):
        raise ValueError(f"least must be zero or more seconds, got: {least!r}")
    pauses = (interval if isinstance(interval, Backoff) else Backoff(interval)).pauses(rng)
    started = quiet_since = clock.monotonic()
    attempts = 0
    while True:
        value = probe(max(deadline - clock.monotonic(), least))
        attempts += 1
        now = clock.monotonic()
        if progressed is not None and progressed(value):
            quiet_since = now
        if done(value):
            return Polled(value, True, attempts, now - started)
        room = deadline - least - now  # the latest the next look can start and still get ``least``
        if room <= 0:
            return Polled(value, False, attempts, now - started)
        pause = min(next(pauses), room)
        if heartbeat is not None and now - quiet_since >= heartbeat_seconds:
            heartbeat(value, now - started, pause)
            quiet_since = now
        clock.sleep(pause)
