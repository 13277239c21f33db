"""What every deploy step is handed: the target, the clients, the output, the journal, the clock.

``Ctx`` is immutable and carries no step's result: a step that finds something
returns it, and the mode function (``tools.lib.deploy.modes``) hands it to the next
step and into the reviewer's record it was given. The only things written to on the
way are the output (``out``: lines and tables) and the journal (``journal``); no step
reads either to decide anything.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TypeVar

from instances.registry import PartitionConfig
from templates import render as templates_render
from tools.lib import git_guard, op_resolver, threads
from tools.lib.aws.clients import Aws
from tools.lib.aws.cloudformation import Stack, StackEvent
from tools.lib.clock import REAL, Clock
from tools.lib.journal import Journal
from tools.lib.logger import Secret
from tools.lib.output import Sink
from tools.lib.postmark_client import PostmarkClient
from tools.lib.postmark_ids import DomainIds

REPO = Path(__file__).resolve().parents[3]
MANAGED_BY = "arda-partition-mail/deploy.py"


@dataclass(frozen=True)
class Target:
    """Where a deploy goes: stated once, printed first."""

    config: PartitionConfig

    @property
    def stack(self) -> str:
        return self.config.stack_name

    @property
    def region(self) -> str:
        return self.config.infrastructure.region

    @property
    def account(self) -> str:
        return self.config.infrastructure.account_id

    @property
    def rerun(self) -> str:
        """The command that deploys this target again."""
        return f"python deploy.py {self.config.infrastructure.name} {self.config.partition.value}"

    def describe(self) -> str:
        return f"target: account {self.account}, region {self.region}, stack {self.stack}"


@dataclass(frozen=True)
class Checkout:
    """Where the committed, reviewed work lives: the template file and every input it is rendered from."""

    root: Path = REPO

    def template_path(self, config: PartitionConfig) -> Path:
        """``templates/<stack>.yaml`` of this checkout."""
        return templates_render.template_path(config, self.root / "templates")


@dataclass(frozen=True)
class Services:
    """What a deploy uses besides AWS, each a plain callable or small object (tests hand in their own)."""

    resolve_token: Callable[[str], Secret] = op_resolver.resolve
    postmark: Callable[[Secret], object] = PostmarkClient
    lint: Callable[[str], object] = None  # body -> cfn_lint.Verdict
    unreviewed: Callable[[Path], list[str]] = git_guard.unreviewed
    render: Callable[[PartitionConfig, str], str] = templates_render.render
    handler_source: Callable[[], str] = templates_render.read_handler_source
    domain_ids: DomainIds = field(default_factory=DomainIds)  # Postmark domain IDs remembered per stack: hints

    def postmark_client(self, token: Secret):
        """A Postmark client for ``token``."""
        return self.postmark(token)


@dataclass(frozen=True)
class Ctx:
    """Everything a step is handed; nothing a step found."""

    target: Target
    aws: Aws
    out: Sink
    journal: Journal
    services: Services = field(default_factory=Services)
    checkout: Checkout = field(default_factory=Checkout)
    clock: Clock = REAL
    follow_timeout_seconds: float = 3600.0
    side_by_side: int = 5  # how many read-only guards run at once (1: one after another, in step order)

    @cached_property
    def stack(self) -> Stack:
        """CloudFormation operations on the target's stack; events and heartbeats go to the output."""
        return Stack(
            self.aws,
            self.target.stack,
            clock=self.clock,
            on_event=self.show_event,
            on_heartbeat=self.out.progress,
            on_warning=self.out.warning,
            timeout_seconds=self.follow_timeout_seconds,
        )

    def show_event(self, event: StackEvent) -> None:
        """One stack event as a progress line."""
        reason = f"  {event.reason}" if event.reason else ""
        self.out.progress(
            f"{self.target.stack}: {event.timestamp:%H:%M:%S} {event.status:<22} "
            f"{event.resource_type:<34} {event.logical_id}{reason}"
        )


T = TypeVar("T")


def ahead(ctx: Ctx, read: Callable[..., T], *args: object) -> Callable[[], T]:
    """``read(*args)`` started now, beside what the run does next; call what this returns (once) for its answer.

    For reads only (a change is never made behind the run's back). The read runs in a
    daemon thread: a signal or an error does not wait for it. With ``ctx.side_by_side``
    1 it runs where its answer is taken, so such a run makes its calls in step order.
    """
    if ctx.side_by_side <= 1:
        return functools.partial(read, *args)
    answer: Future[T] = Future()

    def run() -> None:
        try:
            answer.set_result(read(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever takes the answer
            answer.set_exception(exc)

    threads.start(run, name=f"ahead-{getattr(read, '__name__', 'read')}")
    return answer.result


class Ahead:
    """The reads a mode or step starts ``ahead``: ``with Ahead(ctx) as ahead_:``, then ``ahead_(read, *args)``.

    When the block returns or fails, every read it started has ended (its answer or error, taken or not, is
    dropped): a read left running would make its AWS call after the run counted its calls, or register a secret
    (a ``::add-mask::`` line) after the run's ``--json`` document. A signal does not wait for them.
    """

    def __init__(self, ctx: Ctx) -> None:
        self._ctx = ctx
        self._started: list[Callable[[], object]] = []

    def __call__(self, read: Callable[..., T], *args: object) -> Callable[[], T]:
        answer = ahead(self._ctx, read, *args)
        self._started.append(answer)
        return answer

    def __enter__(self) -> Ahead:
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is not None and not issubclass(kind, Exception):
            return  # interrupted: the frame's cleanup, not these reads
        for answer in self._started:
            with contextlib.suppress(Exception):
                answer()
