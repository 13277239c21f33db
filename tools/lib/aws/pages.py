"""One bounded pager for every paginated AWS call (CloudFormation, Route 53, Secrets Manager, IAM).

How an operation pages is read from AWS's own API models as botocore ships them
(``paginators-1.json``: the input and output tokens, and the "more results" flag
where the service has one, such as Route 53's ``IsTruncated``); an operation
without a paginator entry that answers a ``NextToken`` and takes one (for
example CloudFormation's ``DescribeStackResourceDrifts``) pages by it. Nothing
here knows a service by name.

Bounded: AWS never hands the same token twice nor pages for ever; an answer that
does is not AWS's (a broken proxy, an endpoint that is not AWS), and following it
would call it thousands of times a minute. Both end the walk with one sentence.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import botocore.exceptions
import botocore.session
import jmespath

# More pages than any listing of this project can have: a stack's events and change sets, the zone's
# records (Route 53 answers up to 300 record sets a page and a zone holds 10,000 by default: Route 53
# Developer Guide, "Quotas"), the account's exports and secrets of one partition.
MAX_PAGES = 100


class PagingError(Exception):
    """The answers did not page as AWS pages (the message says how); the AWS layer makes it one sentence."""


@dataclass(frozen=True)
class Paging:
    """How one operation pages: where its next-page token is read and where it is sent."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    more: str | None = None  # the answer's flag that says more pages follow (Route 53, IAM), if any

    def next_request(self, page: dict) -> dict[str, object] | None:
        """The token parameters of the next request, or None when ``page`` is the last one."""
        if self.more is not None and not jmespath.search(self.more, page):
            return None
        values = [jmespath.search(expression, page) for expression in self.outputs]
        if all(value is None for value in values):
            return None
        return {name: value for name, value in zip(self.inputs, values, strict=True) if value is not None}


def _as_tuple(value: str | list[str]) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list) else (value,)


@functools.cache
def _paginator_model(service: str, api_version: str):
    return botocore.session.get_session().get_paginator_model(service, api_version)


def _paginator(service: str, api_version: str, api_name: str) -> dict | None:
    """The operation's entry of botocore's ``paginators-1.json`` for the service, or None."""
    try:
        return _paginator_model(service, api_version).get_paginator(api_name)
    except (ValueError, botocore.exceptions.DataNotFoundError):
        return None


def paging_of(client, operation: str) -> Paging:
    """How ``operation`` (a method name of ``client``, such as ``list_exports``) pages, from AWS's API models.

    ``ValueError`` for an operation that does not page: calling it through the pager is a programming error.
    """
    model = client.meta.service_model
    api_name = client.meta.method_to_api_mapping.get(operation)
    if api_name is None:
        raise ValueError(f"{model.service_name} has no operation {operation!r}")
    config = _paginator(model.service_name, model.api_version, api_name)
    if config is not None:
        return Paging(_as_tuple(config["input_token"]), _as_tuple(config["output_token"]), config.get("more_results"))
    shape = model.operation_model(api_name)
    takes = shape.input_shape is not None and "NextToken" in shape.input_shape.members
    answers = shape.output_shape is not None and "NextToken" in shape.output_shape.members
    if takes and answers:
        return Paging(("NextToken",), ("NextToken",))
    raise ValueError(f"{model.service_name} {operation} does not page")


def bounded_pages(
    fetch: Callable[..., dict], paging: Paging, params: dict, *, max_pages: int = MAX_PAGES
) -> Iterator[dict]:
    """Each page of ``fetch(**params)``, following ``paging``; ``PagingError`` on a repeated token or too many pages."""
    seen: set[tuple] = set()
    request = dict(params)
    for _ in range(max_pages):
        page = fetch(**request)
        yield page
        following = paging.next_request(page)
        if following is None:
            return
        token = tuple(sorted((k, repr(v)) for k, v in following.items()))
        if token in seen:
            raise PagingError("answered the same page token twice; not AWS's paging")
        seen.add(token)
        request = {**params, **following}
    raise PagingError(f"went on past {max_pages} pages; not AWS's paging")
