"""tools/lib/poll.py on the fake clock: one look at least, budgets that end at the deadline, backoff, heartbeat."""

from __future__ import annotations

import math

import pytest

from tests.clock import FakeClock
from tools.lib.poll import Backoff, Polled, poll


class Probe:
    """Answers from a list (the last one for ever); records each budget; may take time on the clock."""

    def __init__(self, clock: FakeClock, answers: list, takes: float = 0.0) -> None:
        self.clock = clock
        self.answers = list(answers)
        self.takes = takes
        self.budgets: list[float] = []
        self.times: list[float] = []

    def __call__(self, budget: float):
        self.budgets.append(budget)
        self.times.append(self.clock.seconds)
        self.clock.seconds += min(self.takes, budget)  # a call bounded by its budget
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_a_deadline_already_passed_is_one_look_with_the_least_budget():
    clock = FakeClock(100.0)
    probe = Probe(clock, [False])
    polled = poll(probe, clock=clock.clock(), deadline=100.0, interval=1.0, least=5.0)
    assert polled == Polled(False, False, 1, 0.0)
    assert probe.budgets == [5.0] and clock.slept == []


def test_it_stops_at_the_first_answer_that_is_done():
    clock = FakeClock()
    probe = Probe(clock, [False, False, "yes"])
    polled = poll(probe, clock=clock.clock(), deadline=60.0, interval=2.0)
    assert polled == Polled("yes", True, 3, 4.0)
    assert clock.slept == [2.0, 2.0]


def test_each_look_gets_the_time_left_and_the_last_starts_one_look_before_the_deadline():
    clock = FakeClock()
    probe = Probe(clock, [False])
    polled = poll(probe, clock=clock.clock(), deadline=45.0, interval=Backoff(1.0, factor=2.0, cap=30.0), least=2.0)
    assert not polled.done and polled.elapsed == 43.0
    assert probe.times == [0.0, 1.0, 3.0, 7.0, 15.0, 31.0, 43.0]
    assert probe.budgets == [45.0, 44.0, 42.0, 38.0, 30.0, 14.0, 2.0], "the time left, and the last look its least"
    assert clock.slept == [1.0, 2.0, 4.0, 8.0, 16.0, 12.0], "the last pause is cut to leave one look"


def test_without_least_the_last_look_is_at_the_deadline():
    clock = FakeClock()
    probe = Probe(clock, [False])
    poll(probe, clock=clock.clock(), deadline=10.0, interval=4.0)
    assert probe.times == [0.0, 4.0, 8.0, 10.0] and probe.budgets[-1] == 0.0


def test_a_probe_that_uses_its_budget_ends_the_wait_by_the_deadline():
    clock = FakeClock()
    probe = Probe(clock, [False], takes=4.0)  # a slow server: each call takes 4 s, or all it is given
    polled = poll(probe, clock=clock.clock(), deadline=10.0, interval=1.0, least=3.0)
    assert probe.times == [0.0, 5.0] and probe.budgets == [10.0, 5.0]
    assert clock.seconds == 9.0 and polled.attempts == 2 and not polled.done, "no room for a third look of 3 s"
    hung = FakeClock()
    probe = Probe(hung, [False], takes=math.inf)  # a server that never answers: each call takes all it is given
    poll(probe, clock=hung.clock(), deadline=10.0, interval=1.0, least=3.0)
    assert hung.seconds == 10.0 and probe.budgets == [10.0]
    one_look = FakeClock()
    poll(Probe(one_look, [False], takes=math.inf), clock=one_look.clock(), deadline=0.0, interval=1.0, least=3.0)
    assert one_look.seconds == 3.0, "a wait shorter than one look is one look"


def test_jitter_shortens_each_pause_by_at_most_its_fraction():
    clock = FakeClock()
    backoff = Backoff(10.0, jitter=0.2)
    poll(Probe(clock, [False]), clock=clock.clock(), deadline=25.0, interval=backoff, rng=lambda: 1.0)
    assert clock.slept == [8.0, 8.0, 8.0, 1.0], "the last pause is cut to the deadline, not jittered"
    pauses = Backoff(1.0, factor=3.0, cap=5.0, jitter=0.5).pauses(lambda: 0.0)
    assert [next(pauses) for _ in range(4)] == [1.0, 3.0, 5.0, 5.0]


def test_no_deadline_waits_until_done_with_an_infinite_budget():
    clock = FakeClock()
    probe = Probe(clock, [None] * 50 + [1])
    polled = poll(probe, clock=clock.clock(), deadline=math.inf, interval=Backoff(1.0, factor=2.0, cap=60.0))
    assert polled.done and polled.attempts == 51 and max(clock.slept) == 60.0
    assert set(probe.budgets) == {math.inf}


def test_heartbeat_every_n_seconds_of_quiet_and_progress_restarts_the_count():
    clock = FakeClock()
    beats: list[tuple[float, float]] = []
    # A look every 10 s; an event arrives at the 5th look (t=40), the end at the 10th (t=90).
    answers = [[], [], [], [], ["event"], [], [], [], [], ["end"]]
    polled = poll(
        Probe(clock, answers),
        clock=clock.clock(),
        deadline=600.0,
        interval=10.0,
        done=lambda events: events == ["end"],
        heartbeat=lambda events, elapsed, pause: beats.append((elapsed, pause)),
        heartbeat_seconds=25.0,
        progressed=bool,
    )
    assert polled.done and polled.attempts == 10
    assert beats == [(30.0, 10.0), (70.0, 10.0)], "25 s of quiet from the start, then from the event at 40 s"


def test_heartbeat_zero_beats_before_every_pause():
    clock = FakeClock()
    beats = []
    poll(
        Probe(clock, [1, 2, 3]),
        clock=clock.clock(),
        deadline=100.0,
        interval=5.0,
        done=lambda n: n == 3,
        heartbeat=lambda n, elapsed, pause: beats.append((n, elapsed, pause)),
    )
    assert beats == [(1, 0.0, 5.0), (2, 5.0, 5.0)]


def test_an_exception_from_the_probe_passes_through():
    clock = FakeClock()

    def probe(budget):
        raise KeyError("boom")

    with pytest.raises(KeyError):
        poll(probe, clock=clock.clock(), deadline=10.0, interval=1.0)
    assert clock.slept == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"first": 0.0}, "Backoff.first must be a positive number of seconds, got: 0.0"),
        ({"first": math.nan}, "Backoff.first must be a positive number of seconds, got: nan"),
        ({"first": 1.0, "factor": 0.5}, "Backoff.factor must be 1 or more, got: 0.5"),
        ({"first": 1.0, "factor": 2.0}, "a Backoff that grows (factor > 1) needs a cap"),
        ({"first": 2.0, "factor": 2.0, "cap": 1.0}, "Backoff.cap must be a number of seconds of at least first"),
        ({"first": 1.0, "factor": 2.0, "cap": math.inf}, "Backoff.cap must be a number of seconds"),
        ({"first": 1.0, "jitter": 1.0}, "Backoff.jitter must be from 0 to less than 1, got: 1.0"),
    ],
)
def test_a_backoff_is_checked_when_it_is_made(kwargs, message):
    with pytest.raises(ValueError) as raised:
        Backoff(**kwargs)
    assert message in str(raised.value)


@pytest.mark.parametrize("least", [-1.0, math.inf, math.nan])
def test_least_must_be_a_finite_number_of_seconds(least):
    clock = FakeClock()
    with pytest.raises(ValueError, match="least must be zero or more seconds"):
        poll(Probe(clock, [True]), clock=clock.clock(), deadline=1.0, interval=1.0, least=least)
