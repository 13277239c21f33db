"""An ``Aws`` (the AWS layer's client set) over clients a test hands in: botocore Stubbers or plain fakes.

The layer makes its clients from a session; here the session hands back the test's
own. A plain fake is given a real client's ``meta`` (made offline, never called), so
the layer's pager reads how each operation pages from AWS's models as it does in a run.
"""

from __future__ import annotations

import functools

import boto3
from botocore.hooks import HierarchicalEmitter

from tools.lib.aws.clients import Aws

REGION = "us-east-1"
STACK = "Alpha002-dev-Email"
_OFFLINE = {"region_name": REGION, "aws_access_key_id": "a", "aws_secret_access_key": "b"}


@functools.cache
def real_client(service: str):
    """A real client of ``service`` that is never called (its ``meta`` is AWS's model of the service)."""
    return boto3.client(service, **_OFFLINE)


class HandedSession:
    """A session whose ``client(service)`` is the test's client for that service."""

    def __init__(self, clients: dict[str, object]) -> None:
        self.clients = clients
        self.events = HierarchicalEmitter()

    def client(self, service: str, **_):
        found = self.clients[service]
        if "meta" not in vars(found):  # a fake (a real client carries its own)
            found.meta = real_client(service).meta
        return found


def aws_over(where: str = STACK, **clients) -> Aws:
    """An ``Aws`` whose clients are ``clients`` (service name → client or fake)."""
    return Aws(HandedSession(clients), REGION, where)


def stubbable(*services: str) -> dict[str, object]:
    """Fresh offline clients of ``services``, for botocore's Stubber."""
    return {service: boto3.client(service, **_OFFLINE) for service in services}
