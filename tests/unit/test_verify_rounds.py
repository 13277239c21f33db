"""verify's DNS rounds on the fake clock: a resolver that never answers costs one look per round, not one per query.

The resolver here is a stand-in whose every query takes all the lifetime it is given,
on the fake clock, the way an unreachable server does; the queries of one round run
at once, so a round ends when its longest query would have.
"""

from __future__ import annotations

import copy

import pytest

from tests.clock import FakeClock
from tools.lib import verify
from tools.lib.next_commands import NextCommands
from tools.lib.verify import DkimExpectation, run_dns_checks


class SilentDns:
    """A resolver that never answers: each query uses up its whole lifetime (on the fake clock)."""

    def __init__(self, clock: FakeClock, takes: float | None = None) -> None:
        self.clock = clock
        self.takes = takes  # None: for ever (the lifetime ends it)
        self.lifetime = verify.QUERY_SECONDS
        self.started = 0.0
        self.rounds: list[tuple[float, float]] = []  # (start, lifetime) of each round

    def describe(self) -> str:
        return "192.0.2.53"

    def within(self, seconds: float) -> SilentDns:
        view = copy.copy(self)
        view.lifetime = min(verify.QUERY_SECONDS, seconds)
        view.started = self.clock.seconds
        self.rounds.append((view.started, view.lifetime))
        return view

    def query(self, name: str, kind: str) -> list[str]:
        took = self.lifetime if self.takes is None else min(self.takes, self.lifetime)
        # Queries of a round run at once: the round ends with the longest, not the sum.
        self.clock.seconds = max(self.clock.seconds, self.started + took)
        return [f"{verify.NO_ANSWER} {self.lifetime:g}s>"] if self.takes is None else []


@pytest.fixture
def checks(dev_config):
    keys = [  # a rotation in progress: the active key and the pending one
        DkimExpectation("active", f"k1._domainkey.{dev_config.mail_domain}", "k=rsa;p=AAAA"),
        DkimExpectation("pending", f"k2._domainkey.{dev_config.mail_domain}", "k=rsa;p=BBBB"),
    ]
    commands = NextCommands("Alpha002", "dev", resolver="192.0.2.53")
    return verify._dns_checks(dev_config, ["ns-1.awsdns-01.org"], keys, commands)


def test_wait_0_is_one_look_however_many_queries(checks):
    # Old code: one lifetime per query, one after another: 7 queries x 5 s = 35 s, then asked again.
    clock = FakeClock()
    dns = SilentDns(clock)
    rows = run_dns_checks(checks, dns, clock=clock.clock(), deadline=0.0)
    assert len(checks) == 7 and clock.seconds == verify.DNS_LOOK_SECONDS == 5.0
    assert all(r.status == "FAIL" and r.remedy == verify.RESOLVER for r in rows)
    assert all(r.detail.endswith("; 192.0.2.53 did not answer in time") for r in rows)


@pytest.mark.parametrize("wait", [7.0, 45.0, 100.0])
def test_a_wait_ends_by_its_deadline_even_when_no_query_is_ever_answered(checks, wait):
    clock = FakeClock()
    dns = SilentDns(clock)
    run_dns_checks(checks, dns, clock=clock.clock(), deadline=wait)
    assert clock.seconds <= wait, "every round's queries were bounded by the time left"
    assert all(start + lifetime <= wait for start, lifetime in dns.rounds)
    assert dns.rounds[-1][1] == verify.QUERY_SECONDS, "the last round still got one whole look"


def test_no_round_starts_too_late_to_end_by_the_deadline(checks):
    clock = FakeClock()
    dns = SilentDns(clock, takes=0.5)  # answers "nothing", slowly
    run_dns_checks(checks, dns, clock=clock.clock(), deadline=12.0)
    starts = [start for start, _ in dns.rounds]
    # Rounds after pauses of 1, 2, 4 s (80-100 % with jitter); the last one starts at the latest one look
    # (5 s) before the deadline, so its queries, bounded by their lifetime, end by it.
    assert starts[0] == 0.0 and len(starts) >= 3
    assert all(start + lifetime <= 12.0 for start, lifetime in dns.rounds)
