"""The AWS layer's one error translation: every botocore failure becomes one sentence an operator can act on.

``aws_call`` is used by ``tools.lib.aws.clients.Aws`` around every call and page it
makes, and by nothing else: callers see ``AwsError`` only, and read AWS's error code
(``AwsError.code``) when an answer means "none" rather than "failed".
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
    TokenRetrievalError,
)
from botocore.parsers import ResponseParserError

from tools.lib.aws.pages import PagingError
from tools.lib.errors import ArdaMailError
from tools.lib.logger import redact

# Everything a boto3 call can raise that is AWS's (or the network's) doing.
AWS_FAILURES = (ClientError, BotoCoreError, ResponseParserError, PagingError)

_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
_THROTTLED = {"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}


class AwsError(ArdaMailError):
    """An AWS call failed; the message says what to do next."""

    @property
    def code(self) -> str:
        """AWS's error code ("" when AWS did not answer with one: the network, a parse failure, a paging error)."""
        return error_code(self.__cause__)

    @property
    def operation(self) -> str:
        """The API operation AWS answered with an error (``GetRole``; "" when AWS did not answer)."""
        return str(getattr(self.__cause__, "operation_name", "") or "")

    def says(self, code: str, words: str = "") -> bool:
        """Whether AWS answered ``code`` with a message holding ``words`` (its way of answering "none")."""
        cause = self.__cause__
        return (
            isinstance(cause, ClientError)
            and self.code == code
            and words in str(cause.response.get("Error", {}).get("Message", ""))
        )

    @property
    def changed_nothing(self) -> bool:
        """AWS answered the call with an error (it was refused, so it changed nothing); the journal reads this."""
        return isinstance(self.__cause__, ClientError)


def error_code(exc: BaseException | None) -> str:
    """AWS's error code of ``exc`` ("" when it is not AWS's error answer)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def describe(exc: Exception, action: str, where: str) -> str:
    """The sentence for ``exc`` raised while doing ``action`` on ``where``."""
    if isinstance(exc, NoCredentialsError):
        return (
            f"{where}: no AWS credentials found for {action}; pass --profile, set AWS_PROFILE, or run 'aws sso login'"
        )
    if isinstance(exc, ProfileNotFound):
        return f"{where}: {exc}; check --profile / AWS_PROFILE against ~/.aws/config"
    if isinstance(exc, TokenRetrievalError):
        return f"{where}: the AWS SSO session has expired ({action}); run 'aws sso login' and retry"
    if isinstance(exc, NoRegionError):
        return f"{where}: no AWS region for {action}; pass --region"
    if isinstance(exc, EndpointConnectionError):
        return f"{where}: could not reach AWS for {action} ({exc.kwargs.get('endpoint_url')}); check the network"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = redact(error.get("Message", ""))
        if code in _EXPIRED:
            return f"{where}: the AWS credentials are expired or invalid ({code}) for {action}; renew them and retry"
        if code in _DENIED:
            return (
                f"{where}: AWS denied {action} ({code}: {message}); the deploying identity needs that "
                "permission in this account"
            )
        if code in _THROTTLED:
            return f"{where}: AWS kept throttling {action} after retries ({code}); wait a minute and retry"
        return f"{where}: {action} failed ({code}: {message})"
    if isinstance(exc, ResponseParserError):
        return (
            f"{where}: {action} got an answer that is not AWS's (an HTML error page from a proxy?); "
            "check HTTPS_PROXY, AWS_ENDPOINT_URL and the network, then retry"
        )
    if isinstance(exc, PagingError):
        return f"{where}: {action} {exc} (an endpoint that is not AWS?); check AWS_ENDPOINT_URL and proxies, then retry"
    if isinstance(exc, BotoCoreError):
        return f"{where}: {action} failed: {redact(str(exc))}"
    raise TypeError(exc)


@contextlib.contextmanager
def aws_call(action: str, where: str) -> Iterator[None]:
    """Translate any botocore failure inside the block into AwsError."""
    try:
        yield
    except AWS_FAILURES as exc:
        raise AwsError(describe(exc, action, where)) from exc
