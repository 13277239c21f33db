"""``Aws``: one run's way to AWS. One session, one client per service and region, every call wrapped.

Deploy, verify and rollout each open one ``Aws`` and call through it only:

- ``call(service, operation, **params)``: one request; any failure is ``AwsError``,
  one sentence naming the operation (``route53 get-hosted-zone``) and the run's
  stack. ``region=`` calls another region (the purge looks for the stack in every
  enabled one); ``what=`` adds a word on why ("(overwrite drift)").
- ``pages(...)`` and ``items(...)``: a paginated call, every page (or every item of
  one key), bounded by ``tools.lib.aws.pages``.
- ``check_account(config, verb, services)``: the account guard
  (``tools.lib.aws.account``) over the clients of ``services``, before anything else.

Clients carry the shared settings (``BOTO_CONFIG``: standard retries, bounded
timeouts) and are made on first use, under a lock (a boto3 session is not safe to
make clients from in two threads at once; the clients themselves are). Every
request is counted (``calls``): the deploy benchmark reports it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from instances.registry import PartitionConfig
from tools.lib.aws import account
from tools.lib.aws.account import GLOBAL_SERVICES
from tools.lib.aws.errors import aws_call
from tools.lib.aws.pages import MAX_PAGES, bounded_pages, paging_of
from tools.lib.aws.session import BOTO_CONFIG, open_session


class Aws:
    """The AWS clients of one run, made from one session on first use; every call counted and translated."""

    def __init__(self, session, region: str, where: str) -> None:
        self.session = session
        self.region = region
        self.where = where  # the stack (or partition) every error sentence names
        self.calls = 0
        self._clients: dict[tuple[str, str | None], object] = {}
        self._lock = threading.Lock()
        session.events.register("before-call", self._count)

    @classmethod
    def open(cls, profile: str | None, region: str, where: str) -> Aws:
        """``Aws`` over a new session for ``profile`` (the default chain when None) in ``region``."""
        return cls(open_session(profile, region, where), region, where)

    def _count(self, **_) -> None:
        with self._lock:
            self.calls += 1

    def client_for(self, service: str, region: str | None = None):
        """The client ``call`` and ``pages`` use for ``service`` (tests put botocore's Stubber on it).

        Nothing outside this package calls it: a call made on the client directly would bypass the
        error translation and the pager (``tests/unit/test_architecture.py``).
        """
        return self._client(service, region)

    def _client(self, service: str, region: str | None = None):
        where_to = None if service in GLOBAL_SERVICES else (region or self.region)
        key = (service, where_to)
        with self._lock:
            if key not in self._clients:
                with aws_call("loading the AWS profile", self.where):
                    kwargs = {"region_name": where_to} if where_to else {}
                    self._clients[key] = self.session.client(service, config=BOTO_CONFIG, **kwargs)
            return self._clients[key]

    @staticmethod
    def action(service: str, operation: str, region: str | None = None, what: str = "") -> str:
        """How an error names the call: ``cloudformation describe-stacks (eu-west-1)``, as the AWS CLI spells it."""
        named = f"{service} {operation.replace('_', '-')}"
        return " ".join(part for part in (named, f"({region})" if region else "", what) if part)

    def call(self, service: str, operation: str, *, region: str | None = None, what: str = "", **params) -> dict:
        """One request; ``AwsError`` (one sentence) on any failure."""
        with aws_call(self.action(service, operation, region, what), self.where):
            return getattr(self._client(service, region), operation)(**params)

    def pages(
        self,
        service: str,
        operation: str,
        *,
        region: str | None = None,
        what: str = "",
        max_pages: int = MAX_PAGES,
        **params,
    ) -> Iterator[dict]:
        """Every page of a paginated call, bounded (see ``tools.lib.aws.pages``); ``AwsError`` on any failure."""
        action = self.action(service, operation, region, what)
        client = self._client(service, region)
        walk = bounded_pages(getattr(client, operation), paging_of(client, operation), params, max_pages=max_pages)
        while True:
            with aws_call(action, self.where):
                page = next(walk, None)
            if page is None:
                return
            yield page

    def items(self, service: str, operation: str, key: str, **params) -> list:
        """Every item under ``key`` of every page of a paginated call."""
        return [item for page in self.pages(service, operation, **params) for item in page.get(key) or []]

    def endpoints(self, services: tuple[str, ...]) -> dict[str, str]:
        """Each service's endpoint URL, as its client will call it (nothing is called)."""
        return {service: self._client(service).meta.endpoint_url for service in services}

    def check_endpoints(self, config: PartitionConfig, verb: str, services: tuple[str, ...]) -> None:
        """The account guard's first half: STS and ``services`` answer from one endpoint set. Calls nothing."""
        refusing = f"{config.stack_name}: refusing to {verb}"
        account.check_endpoints(self.endpoints(("sts", *services)), config.infrastructure.region, refusing)

    def check_account(self, config: PartitionConfig, verb: str, services: tuple[str, ...]) -> dict:
        """The account guard over STS and ``services``: one endpoint set, then the configured account; the
        caller's identity (see ``tools.lib.aws.account``)."""
        self.check_endpoints(config, verb, services)
        identity = self.call("sts", "get_caller_identity")
        return account.check_identity(identity, config, f"{config.stack_name}: refusing to {verb}")
