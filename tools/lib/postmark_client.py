"""A small client for Postmark's account API (the Domains endpoints).

- Base URL ``https://api.postmarkapp.com``, or ``POSTMARK_API_URL`` for a local
  stand-in; plain http is refused unless the host is loopback, so the token never
  crosses a network unencrypted.
- The account token travels only in the ``X-Postmark-Account-Token`` header.
- Connect/read timeouts, and an overall deadline per call (all attempts, and a body
  that trickles in byte by byte); bounded retries with exponential backoff and full
  jitter on 429 (honouring a finite ``Retry-After``), 500, 502, 503, 504, connection
  errors and timeouts. A caller that waits (``poll``) bounds its calls further with
  ``within(seconds)``: no attempt starts, and no attempt's timeouts reach, past that.
- Redirects are never followed: the Postmark API does not redirect, and following one
  would send the token header to another host. Any 3xx is an error.
- A plain-http (loopback) base URL bypasses proxies from the environment, so the
  token never crosses a network unencrypted.
- Replies are validated at this boundary (``TotalCount``, ``ID`` and an error's
  ``ErrorCode`` are whole numbers JSON carries exactly, the DKIM and Return-Path fields
  are strings, the verification flags booleans; NaN, Infinity, huge numbers, wrong
  types and bodies nested too deep to parse are refused), so a malformed or hostile
  reply is one sentence naming what was wrong, never an "unexpected" error further in.
- Errors come from the ``{ErrorCode, Message}`` body: 401 → TokenRejected,
  ErrorCode 512 → DomainExists, ErrorCode 505 → RotationInProgress, anything else
  → PostmarkError with both.
- Only allowlisted paths can be called: the Domains API (including
  ``POST /domains/{id}/rotatedkim``, which starts a DKIM rotation) and a read-only
  ``GET /senders``. ``/servers`` in particular is refused before a byte is sent:
  Postmark Servers are created at runtime per tenant, never by this tool.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tools.lib import op_resolver
from tools.lib.errors import ArdaMailError
from tools.lib.logger import Secret, redact
from tools.lib.next_commands import is_loopback
from tools.lib.output import console

if TYPE_CHECKING:
    import requests

LOG = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.postmarkapp.com"
BASE_URL_ENV = "POSTMARK_API_URL"
TOKEN_HEADER = "X-Postmark-Account-Token"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NOT_HANDLED = frozenset({429, 503})
# A Postmark reply is a few kilobytes; refuse to buffer an endless one.
MAX_BODY_BYTES = 1_000_000
CALL_DEADLINE_SECONDS = 120.0
# The DKIM keys' hosts and values in GET /domains/{id} (a listing's summary has none of them).
DKIM_KEY_FIELDS = (
    "DKIMHost",
    "DKIMTextValue",
    "DKIMPendingHost",
    "DKIMPendingTextValue",
    "DKIMRevokedHost",
    "DKIMRevokedTextValue",
)
# Fields of GET /domains/{id} this tool reads, each a string when present.
DOMAIN_TEXT_FIELDS = ("Name", *DKIM_KEY_FIELDS, "DKIMUpdateStatus", "ReturnPathDomain", "ReturnPathDomainCNAMEValue")
# Flags of GET /domains/{id} this tool reads, each a JSON boolean when present.
DOMAIN_FLAG_FIELDS = ("DKIMVerified", "ReturnPathDomainVerified")
# A JSON boolean in the API; Postmark's Node SDK types it as a string, so "true"/"false" are accepted too.
SAFE_TO_REMOVE_FIELD = "SafeToRemoveRevokedKeyFromDNS"
# The largest whole number every JSON parser carries exactly (RFC 8259 §6): Postmark's IDs and codes are far below.
MAX_NUMBER = 2**53 - 1
ERROR_DOMAIN_EXISTS = 512
# "This domain has a DKIM rotation in progress" (Postmark API error codes).
ERROR_ROTATION_IN_PROGRESS = 505
ALLOWED_CALLS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (method, re.compile(pattern))
    for method, pattern in (
        ("GET", r"/domains"),
        ("POST", r"/domains"),
        ("GET", r"/domains/\d+"),
        ("PUT", r"/domains/\d+"),
        ("PUT", r"/domains/\d+/verifyDkim"),
        ("PUT", r"/domains/\d+/verifyReturnPath"),
        ("POST", r"/domains/\d+/rotatedkim"),
        ("GET", r"/senders"),
    )
)


# Methods whose repetition changes nothing more than the first call did. A POST is
# retried only when it never reached Postmark, or Postmark said it did not handle it.
IDEMPOTENT = frozenset({"GET", "PUT"})


def _never_sent(exc: BaseException) -> bool:
    """Whether ``exc`` means no byte of the request reached the server (no connection was made)."""
    import requests

    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    from urllib3.exceptions import NewConnectionError

    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


class PostmarkError(ArdaMailError):
    """Postmark answered with an error, or could not be reached."""

    def __init__(
        self, message: str, status: int | None = None, error_code: int | None = None, *, unreachable: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.unreachable = unreachable  # no answer came, however often it was asked

    @property
    def outage(self) -> bool:
        """Postmark could not be reached or kept failing (5xx, 429), each attempt retried up to the call's
        deadline: asking it something else now would wait the same outage out again."""
        return self.unreachable or self.status in RETRY_STATUSES

    @property
    def changed_nothing(self) -> bool:
        """Postmark answered and refused the call (HTTP 4xx): it changed nothing (the journal reads this)."""
        return self.status is not None and 400 <= self.status < 500


class TokenRejected(PostmarkError):
    """HTTP 401: the account token is wrong, revoked or a server token."""


class DomainExists(PostmarkError):
    """ErrorCode 512: a domain of that name is already registered."""


class RotationInProgress(PostmarkError):
    """ErrorCode 505: a DKIM rotation is already scheduled for the domain."""


class ForbiddenCall(ArdaMailError):
    """A call outside the allowlist; nothing was sent."""


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to retry a transient failure."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: Retry-After, else backoff with jitter."""
        if retry_after is not None:
            try:
                seconds = float(retry_after)
            except ValueError:
                seconds = math.nan  # an HTTP date: fall back to our own backoff
            if math.isfinite(seconds):
                return min(max(seconds, 0.0), self.max_retry_after)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def resolve_base_url(environ: dict[str, str] | None = None) -> str:
    """The API base URL: ``POSTMARK_API_URL`` if set (https, or http on loopback only)."""
    value = (environ if environ is not None else os.environ).get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL
    parts = urlsplit(value)
    try:
        port_ok = parts.port is None or 0 < parts.port
    except ValueError:
        port_ok = False
    # Nothing but scheme, host and port: a path, query or fragment changes what is requested
    # ('/servers#' sends GET /servers), and a user part or a backslash makes parsers disagree
    # on the host ('http://192.0.2.1:80\\@127.0.0.1:9/' passed the loopback check, went to 192.0.2.1).
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or not port_ok
        or any(char in value for char in "\\@?#")
        or any(char.isspace() or not char.isprintable() for char in value)
        or parts.path not in ("", "/")
    ):
        raise ArdaMailError(
            f"{BASE_URL_ENV} must be scheme://host[:port] and nothing more (no path, query, fragment or user), "
            f"such as {DEFAULT_BASE_URL}, got: {re.sub(r'//[^/]*@', '//***@', value)!r}"  # a user part may be a secret
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ArdaMailError(
            f"{BASE_URL_ENV} must use https unless it points at this machine (127.0.0.1, localhost), got: {value!r}"
        )
    return value.rstrip("/")


class PostmarkClient:
    """Account-level Postmark API calls, one method per endpoint this tool may use."""

    @classmethod
    def on(cls, clock) -> Callable[[Secret], PostmarkClient]:
        """A factory of clients that wait and keep deadlines on ``clock`` (a ``tools.lib.clock.Clock``)."""
        return lambda token: cls(token, sleep=clock.sleep, clock=clock.monotonic)

    @classmethod
    def resolved(cls, token_ref: str, where: str, clock) -> PostmarkClient:
        """A client holding the token at ``token_ref`` (``op read``), on ``clock``.

        A bad ``POSTMARK_API_URL`` is refused before 1Password is asked.
        """
        base_url = resolve_base_url()
        console().progress(f"{where}: resolving the Postmark token (op read {token_ref})")
        return cls(op_resolver.resolve(token_ref), base_url, sleep=clock.sleep, clock=clock.monotonic)

    def __init__(
        self,
        token: Secret,
        base_url: str | None = None,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5.0, 30.0),
        retry: RetryPolicy = RetryPolicy(),
        sleep=time.sleep,
        clock=time.monotonic,
        deadline: float = CALL_DEADLINE_SECONDS,
    ) -> None:
        import requests  # here, not at import: deploy.py starts cfn-lint's child before loading it

        self._token = token
        self.base_url = base_url or resolve_base_url()
        self._session = session or requests.Session()
        if urlsplit(self.base_url).scheme == "http":
            # Loopback only (resolve_base_url): no HTTP_PROXY may relay the token in clear.
            self._session.trust_env = False
            self._session.proxies.clear()
        self._timeout = timeout
        self._retry = retry
        self._sleep = sleep
        self._clock = clock
        self._deadline_seconds = deadline
        self._until = math.inf  # within(): the caller's deadline, on the same clock

    @contextlib.contextmanager
    def within(self, seconds: float) -> Iterator[PostmarkClient]:
        """Every call made inside ends within ``seconds`` from now: its attempts, its retry pauses, its reply.

        A call that finds no time left is not sent (PostmarkError); one that runs out is
        the usual "timed out" error. Nested, the earlier deadline wins.
        """
        outer = self._until
        self._until = min(outer, self._clock() + seconds)
        try:
            yield self
        finally:
            self._until = outer

    # -- the endpoints --------------------------------------------------------

    def list_domains(self, count: int = 500, offset: int = 0) -> dict:
        """``GET /domains``: one page of the account's domains."""
        page = self.request("GET", "/domains", params={"count": count, "offset": offset})
        where = "GET /domains"
        _require_number(page, "TotalCount", where)
        domains = page.get("Domains")
        if not isinstance(domains, list) or not all(isinstance(d, dict) for d in domains):
            raise _malformed(where, "Domains", "a list of objects", domains)
        for domain in domains:
            _require_number(domain, "ID", where)
            _require_text(domain, ("Name",), where)
        return page

    def get_domain(self, domain_id: int) -> dict:
        """``GET /domains/{id}``: a domain with its DKIM and Return-Path details."""
        return self._domain("GET", f"/domains/{int(domain_id)}")

    def create_domain(self, name: str, return_path_domain: str) -> dict:
        """``POST /domains``."""
        return self._domain("POST", "/domains", json={"Name": name, "ReturnPathDomain": return_path_domain})

    def edit_domain(self, domain_id: int, return_path_domain: str) -> dict:
        """``PUT /domains/{id}``: change the Return-Path domain."""
        return self._domain("PUT", f"/domains/{int(domain_id)}", json={"ReturnPathDomain": return_path_domain})

    def verify_dkim(self, domain_id: int) -> dict:
        """``PUT /domains/{id}/verifyDkim``."""
        return self._domain("PUT", f"/domains/{int(domain_id)}/verifyDkim")

    def verify_return_path(self, domain_id: int) -> dict:
        """``PUT /domains/{id}/verifyReturnPath``."""
        return self._domain("PUT", f"/domains/{int(domain_id)}/verifyReturnPath")

    def rotate_dkim(self, domain_id: int) -> dict:
        """``POST /domains/{id}/rotatedkim``: start a DKIM rotation (a new pending key)."""
        return self._domain("POST", f"/domains/{int(domain_id)}/rotatedkim")

    def list_senders(self, count: int = 1, offset: int = 0) -> dict:
        """``GET /senders`` (read-only): a cheap call that proves the token works."""
        return self.request("GET", "/senders", params={"count": count, "offset": offset})

    def _domain(self, method: str, path: str, **kwargs) -> dict:
        """A call answered with a domain's details, validated."""
        details = self.request(method, path, **kwargs)
        where = f"{method} {path}"
        _require_number(details, "ID", where)
        _require_text(details, DOMAIN_TEXT_FIELDS, where)
        for field in DOMAIN_FLAG_FIELDS:
            if details.get(field) is not None and not isinstance(details[field], bool):
                raise _malformed(where, field, "true or false", details[field])
        safe = details.get(SAFE_TO_REMOVE_FIELD)
        if safe is not None and not isinstance(safe, bool) and str(safe).lower() not in ("true", "false"):
            raise _malformed(where, SAFE_TO_REMOVE_FIELD, "true or false", safe)
        return details

    # -- the transport --------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict | None = None, json: Any = None) -> dict:
        """Send one allowlisted call, retrying transient failures; the decoded JSON body."""
        import requests

        if not any(method == m and pattern.fullmatch(path) for m, pattern in ALLOWED_CALLS):
            raise ForbiddenCall(
                f"refusing {method} {path}: this tool may only call Postmark's Domains API "
                "and read /senders (Servers are created at runtime per tenant)"
            )
        headers = {"Accept": "application/json", TOKEN_HEADER: self._token.reveal()}
        if json is not None:
            headers["Content-Type"] = "application/json"
        url = self.base_url + path
        deadline = min(self._clock() + self._deadline_seconds, self._until)
        for attempt in range(1, self._retry.max_attempts + 1):
            last = attempt == self._retry.max_attempts
            left = deadline - self._clock()
            if left <= 0:  # only before the first attempt: a retry is made only with time left after its pause
                raise PostmarkError(
                    f"Postmark {method} {path} was not sent: the wait it belongs to had no time left for it "
                    f"({self.base_url})"
                )
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers=headers,
                    timeout=tuple(min(limit, left) for limit in self._timeout),
                    allow_redirects=False,
                    stream=True,
                )
                with response:
                    body = self._read_body(response, deadline, method, path)
            except (requests.ConnectionError, requests.Timeout, _Overdue) as exc:
                kind = "timed out" if isinstance(exc, (requests.Timeout, _Overdue)) else "could not connect"
                if method not in IDEMPOTENT and not _never_sent(exc):
                    # Sent, unanswered: Postmark may have acted on it. Sending it again would
                    # hide that (a second rotation is refused as "already pending").
                    raise PostmarkError(
                        f"Postmark {method} {path} {kind} after the request was sent ({self.base_url}): it may "
                        "have taken effect, so it was not sent again; check in Postmark before rerunning"
                    ) from None
                delay = self._retry.delay(attempt)
                if last or self._clock() + delay >= deadline:
                    raise PostmarkError(
                        f"Postmark {method} {path} {kind} after {attempt} attempts ({self.base_url}); "
                        "check the network and https://status.postmarkapp.com",
                        unreachable=True,
                    ) from None
                console().warning(f"Postmark {method} {path} {kind}; retry {attempt} in {delay:.1f}s")
                self._sleep(delay)
                continue
            except requests.RequestException as exc:
                # InvalidHeader, TooManyRedirects, ChunkedEncodingError, ...: not worth a retry.
                raise PostmarkError(
                    f"Postmark {method} {path} failed before an answer: {type(exc).__name__}: {redact(str(exc))[:200]}"
                ) from None
            if response.is_redirect or 300 <= response.status_code < 400:
                target = urlsplit(response.headers.get("Location", ""))
                raise PostmarkError(
                    f"Postmark {method} {path} answered HTTP {response.status_code}, a redirect"
                    f"{' to ' + redact(target.hostname) if target.hostname else ''}; the Postmark API never "
                    f"redirects, so it was not followed (the token stays here): check {BASE_URL_ENV} and any proxy"
                )
            # A POST again only when Postmark said it did not handle it: 429 and 503.
            retryable = response.status_code in (RETRY_STATUSES if method in IDEMPOTENT else NOT_HANDLED)
            delay = self._retry.delay(attempt, response.headers.get("Retry-After")) if retryable else 0.0
            if retryable and not last and self._clock() + delay < deadline:
                console().warning(
                    f"Postmark {method} {path} answered HTTP {response.status_code}; retry {attempt} in {delay:.1f}s"
                )
                self._sleep(delay)
                continue
            return self._decode(method, path, response, body, attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_body(self, response: requests.Response, deadline: float, method: str, path: str) -> bytes:
        """The whole body, or _Overdue once the call's deadline passes (a trickle cannot hang us)."""
        chunks, size = [], 0
        raw = response.raw
        while True:
            if self._clock() > deadline:
                raise _Overdue()
            chunk = raw.read1(65536) if hasattr(raw, "read1") else raw.read(65536)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise PostmarkError(f"Postmark {method} {path} answered more than {MAX_BODY_BYTES} bytes; refusing it")
            chunks.append(chunk)

    def _decode(self, method: str, path: str, response: requests.Response, raw: bytes, attempts: int) -> dict:
        body: Any = None
        text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
            body = None
        if response.ok and isinstance(body, dict):
            return body
        if response.ok:
            raise PostmarkError(f"Postmark {method} {path} answered HTTP {response.status_code} without a JSON object")
        code, message, problem = _error_fields(body)
        if code is None and message is None and problem is None:
            # Redact first, then shorten: a cut must never leave part of a secret behind.
            message = _shorten(redact(text).strip()) or _shorten(redact(str(response.reason or "")))
        where = f"Postmark {method} {path}"
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        if response.status_code == 401:
            raise TokenRejected(
                f"{where}: the account token was rejected (HTTP 401, ErrorCode {code}: {message}); "
                "check that the 1Password item holds a current Postmark *account* token",
                response.status_code,
                code,
            )
        if problem is not None:
            said = f" (Message: {message})" if message else ""
            raise PostmarkError(
                f"{where} answered HTTP {response.status_code}{tried} with a malformed error reply: {problem}{said}; "
                f"is {BASE_URL_ENV} really Postmark's API?",
                response.status_code,
            )
        if code == ERROR_DOMAIN_EXISTS:
            raise DomainExists(f"{where}: {message} (ErrorCode 512)", response.status_code, code)
        if code == ERROR_ROTATION_IN_PROGRESS:
            raise RotationInProgress(f"{where}: {message} (ErrorCode 505)", response.status_code, code)
        raise PostmarkError(
            f"{where} failed{tried}: HTTP {response.status_code}, ErrorCode {code}: {message}",
            response.status_code,
            code,
        )


class _Overdue(Exception):
    """The call's overall deadline passed while reading a reply."""


def _shorten(text: str, limit: int = 200) -> str:
    """One line of at most ``limit`` characters (already redacted text only)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _malformed(where: str, field: str, expected: str, got: object) -> PostmarkError:
    shown = _quoted(got)
    return PostmarkError(
        f"Postmark {where} answered a malformed reply: {field} must be {expected}, got: {shown}; "
        "is POSTMARK_API_URL really Postmark's API?"
    )


def _require_number(body: dict, field: str, where: str) -> None:
    value = body.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_NUMBER:
        raise _malformed(where, field, f"a whole number from 0 to {MAX_NUMBER}", value)


def _require_text(body: dict, fields: tuple[str, ...], where: str) -> None:
    for field in fields:
        value = body.get(field)
        if value is not None and not isinstance(value, str):
            raise _malformed(where, field, "a string", value)


def _error_fields(body: Any) -> tuple[int | None, str | None, str | None]:
    """ErrorCode, Message, and what is wrong with them (None when nothing is) of an error body."""
    if not isinstance(body, dict):
        return None, None, None
    raw, message = body.get("ErrorCode"), body.get("Message")
    code = _whole_number(raw)
    said = _shorten(redact(str(message))) if isinstance(message, str) else None
    problems = []
    if raw is not None and code is None:
        problems.append(f"ErrorCode must be a whole number from 0 to {MAX_NUMBER}, got: {_quoted(raw)}")
    if message is not None and not isinstance(message, str):
        problems.append(f"Message must be a string, got: {_quoted(message)}")
    return code, said, "; ".join(problems) or None


def _whole_number(value: Any) -> int | None:
    """A JSON number, or one written as a string of digits ("512"), from 0 to MAX_NUMBER; None otherwise."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 16:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_NUMBER:
        return None
    return value


def _quoted(value: Any) -> str:
    """A value from a reply as an error message shows it: its repr, redacted, at most 60 characters."""
    return _shorten(redact(repr(value)), 60)
