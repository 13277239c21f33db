"""The world's switches for tests, in one object: ``moto_compat.CONTROLS``.

Tests (and ``tools/rehearse.py``, ``tools/bench/deploy.py``) set them; the patches read
them on every request. ``reset()`` puts every switch back (the ``aws_env`` fixture calls
it before and after each test), releasing a held request.

Requests the world makes to itself carry ``WORLD_AGENT`` in their User-Agent (the custom
resource's handler, which runs inside the emulator as CloudFormation's Lambda would): they
are AWS talking to AWS, so no client's round trip delays them and no client is counted
for them.

No moto here: the controls are plain data, tested without a server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

HOLD_LIMIT_SECONDS = 120.0  # a held request goes on by itself after this long (a test that never released it)
WORLD_AGENT = "arda-rehearsal-world"  # in the User-Agent of every request the world makes to itself


@dataclass(eq=False)
class Hold:
    """One held request: the first for ``action`` (after one for ``after``, when given).

    ``when="before"`` holds it before the server acts; ``when="after"`` once the server
    acted, before the answer is sent (a test can so signal the client after AWS acted
    and before the client read the answer).
    """

    action: str
    after: str | None = None
    when: Literal["before", "after"] = "before"
    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    taken: bool = False  # a request is (or was) held: no other one is

    def wait(self) -> None:
        """Mark the request arrived, then wait until the test releases it."""
        self.arrived.set()
        self.released.wait(HOLD_LIMIT_SECONDS)


@dataclass(frozen=True)
class Served:
    """One AWS request the server answered (patch 21): what, who sent it, when (``time.monotonic``)."""

    action: str
    service: str
    """The service the request is signed for (``cloudformation``, ``sts``, ``route53``); "" when unsigned."""
    caller: str
    """``WORLD_AGENT`` for the world's own requests, else the User-Agent's first product name (``aws-cli``,
    ``Boto3``)."""
    arrived: float
    answered: float
    """When its answer was ready: after ``latency_seconds`` and the server's work."""


def caller_of(user_agent: str) -> str:
    """Who sent a request, from its User-Agent: ``WORLD_AGENT``, or the first product name (``aws-cli``)."""
    if WORLD_AGENT in user_agent:
        return WORLD_AGENT
    return user_agent.split("/", 1)[0].strip() or "unknown"


def most_at_once(served: list) -> int:
    """The most requests in flight at the same time (1 when every call waited for the one before).

    Anything with ``arrived`` and ``answered`` counts: ``Served``, and the Postmark stand-in's ``Recorded``.
    """
    edges = sorted([(s.arrived, 1) for s in served] + [(s.answered, -1) for s in served], key=lambda e: (e[0], e[1]))
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


@dataclass(eq=False)
class Controls:
    """Every switch the patches read (one instance: ``CONTROLS``)."""

    slow_execution: float = 0.0
    """Patch 10: seconds an executed change set stays ``*_IN_PROGRESS`` (0: at once; ``math.inf``: never)."""
    lose_answer: set[str] = field(default_factory=set)
    """Patch 16: API actions whose next answer is lost after the server acted (a 500 the client retries)."""
    drift_check_fails: dict[str, str] = field(default_factory=dict)
    """Patch 18: logical IDs whose drift check fails (the detection ends DETECTION_FAILED), with the reason."""
    seen: list[str] = field(default_factory=list)
    """Patch 11: every API action the server received, in order."""
    latency_seconds: float = 0.0
    """Patch 21: seconds every client's AWS request waits before the server acts on it, as a round trip to AWS
    costs (0: none). Each request waits on its own: concurrent requests are not serialised by it."""
    served: list[Served] = field(default_factory=list)
    """Patch 21: every AWS request the server answered, in the order the answers were ready."""
    _hold: Hold | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _execution: threading.local = field(default_factory=threading.local, repr=False)

    # -- for tests ---------------------------------------------------------------------------------

    def hold(self, action: str, after: str | None = None, when: Literal["before", "after"] = "before") -> None:
        """Hold the next request for ``action`` (e.g. ``DescribeChangeSet``) until ``release()``.

        With ``after``, only a request for ``action`` that comes after one for ``after``
        (e.g. the first ``DescribeStackEvents`` after ``ExecuteChangeSet``). ``when``: before
        the server acts on it (the default) or after, with its answer not yet sent. A
        hold replaces the one before it, which is released.
        """
        if when not in ("before", "after"):
            raise ValueError(f"when is 'before' or 'after', not {when!r}")
        with self._lock:
            if self._hold is not None:
                self._hold.released.set()
            self._hold = Hold(action, after, when)

    def wait_for(self, action: str, timeout: float = 60.0) -> bool:
        """Whether the held request for ``action`` arrived within ``timeout`` seconds."""
        held = self._hold
        return held is not None and held.action == action and held.arrived.wait(timeout)

    def release(self) -> None:
        """Let a held request go on, and hold nothing more."""
        with self._lock:
            if self._hold is not None:
                self._hold.released.set()
            self._hold = None

    def reset(self) -> None:
        """Every switch as it starts: nothing held, slow, delayed, lost or failing; nothing seen or served."""
        self.release()
        self.slow_execution = 0.0
        self.latency_seconds = 0.0
        self.lose_answer.clear()
        self.drift_check_fails.clear()
        self.seen.clear()
        self.served.clear()

    # -- for the patches -----------------------------------------------------------------------------

    def arrive(self, action: str) -> Hold | None:
        """A request for ``action`` arrived (patch 11): the hold it must honour, if it is the held one."""
        self.seen.append(action)
        with self._lock:
            held = self._hold
            if held is None or held.taken or not action:
                return None
            if held.after is not None:
                if action == held.after:
                    held.after = None  # armed: the next request for the held action waits
                return None
            if action != held.action:
                return None
            held.taken = True
            return held

    def latency_for(self, caller: str) -> float:
        """Seconds a request from ``caller`` waits before the server acts (patch 21): none for the world's own."""
        return 0.0 if caller == WORLD_AGENT else max(self.latency_seconds, 0.0)

    def answer_lost(self, action: str) -> bool:
        """Whether this request's answer is lost (patch 16): once per action put in ``lose_answer``."""
        with self._lock:
            if action not in self.lose_answer:
                return False
            self.lose_answer.discard(action)
            return True

    @contextmanager
    def executing(self, *, retain_except_on_create: bool) -> Iterator[None]:
        """The change set execution running in this thread (patch 16), as its request asked."""
        self._execution.retain_except_on_create = retain_except_on_create
        try:
            yield
        finally:
            self._execution.retain_except_on_create = False

    @property
    def retain_except_on_create(self) -> bool:
        """Whether the execution running in this thread deletes new retained resources on rollback (patch 8)."""
        return getattr(self._execution, "retain_except_on_create", False)


CONTROLS = Controls()
