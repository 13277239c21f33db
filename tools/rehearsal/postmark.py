"""A stateful stand-in for Postmark's account API (Domains), served on 127.0.0.1.

Used by the tests through pytest-httpserver, and runnable on its own for a local
rehearsal:

    python tools/rehearsal/postmark.py --port 8025

It keeps domains in memory, checks ``X-Postmark-Account-Token`` (any non-empty
token, or exactly ``$POSTMARK_STANDIN_TOKEN`` when set), records every request, and
can be told to fail: ``fail(method, path, [(status, body, headers), ...])``. With
``latency_seconds`` set, every request waits that long before it is served, as a
round trip to Postmark costs (each in its own server thread: concurrent requests
wait at the same time).
Calls to anything but the Domains API and ``GET /senders`` are recorded and
answered 200 so that a test can prove they were never made.

The DKIM lifecycle, as Postmark's Domains API documents it
(https://postmarkapp.com/developer/api/domains-api: "Create a domain", "Get a
domain's details", "Verify DKIM", "Rotate DKIM"; error codes from
https://postmarkapp.com/developer/api/overview#error-codes):

- A new domain has no active key: its first key is in ``DKIMPendingHost`` /
  ``DKIMPendingTextValue``, ``DKIMUpdateStatus`` is ``Pending``.
- ``PUT /domains/{id}/verifyDkim`` promotes the pending key only when its TXT
  record is really published (looked up with ``lookup``, the DNS the stand-in is
  given; by default the ``published`` records a test sets). The pending values
  *move* to ``DKIMHost`` / ``DKIMTextValue`` (same host), the pending fields empty,
  ``DKIMVerified`` becomes true and ``DKIMUpdateStatus`` ``Verified``. The key that
  was active, if any, moves to ``DKIMRevokedHost`` / ``DKIMRevokedTextValue`` with
  ``SafeToRemoveRevokedKeyFromDNS`` false. ``DKIMVerified`` stays true even if the
  record later leaves DNS (Postmark does not re-check a verified key on read).
- ``POST /domains/{id}/rotatedkim`` creates a pending key under a new selector
  (``DKIMUpdateStatus`` ``Pending``), or answers ErrorCode 505 when a rotation is
  already pending.
- ``make_revoked_key_safe(id)`` is the test-facing switch for what Postmark decides
  on its own schedule: ``SafeToRemoveRevokedKeyFromDNS`` becomes true. A running
  world's stand-in takes the same switch over HTTP, from ``rehearse.py safe-to-remove``:
  ``POST /_standin/domains/{id}/revoked-key-safe`` (with the account token, like every
  call; 422 when the domain has no revoked key). It is no Postmark path: the product's
  client refuses it before sending a byte.
- ``PUT /domains/{id}/verifyReturnPath`` sets ``ReturnPathDomainVerified`` only when
  the Return-Path CNAME points at ``pm.mtasv.net``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from werkzeug.wrappers import Request, Response

DKIM_KEY_2048 = "k=rsa;p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "x" * 330 + "IDAQAB"
ERROR_ROTATION_PENDING = {"ErrorCode": 505, "Message": "This domain has a DKIM rotation in progress."}
ERROR_NOT_FOUND = {"ErrorCode": 510, "Message": "This domain was not found."}
ERROR_NO_REVOKED_KEY = {"ErrorCode": 0, "Message": "stand-in: this domain has no revoked DKIM key."}
# The stand-in's own switch (no Postmark path): the revoked key becomes safe to remove.
SAFE_TO_REMOVE_PATH = "/_standin/domains/{id}/revoked-key-safe"
RETURN_PATH_TARGET = "pm.mtasv.net"


def dkim_key(serial: int) -> str:
    """A distinct, 2048-bit-sized DKIM TXT value per key serial (longer than one TXT string)."""
    digest = b"".join(hashlib.sha256(f"{serial}:{i}".encode()).digest() for i in range(8))
    return "k=rsa;p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + base64.b64encode(digest)[:330].decode() + "IDAQAB"


ERROR_BAD_TOKEN = {"ErrorCode": 10, "Message": "The account token provided in the request header is invalid."}


def dns_lookup(server: str, port: int) -> Callable[[str, str], list[str]]:
    """Look records up the way Postmark does: over DNS, here at ``server:port`` (dnspython)."""
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server]
    resolver.port = port
    resolver.lifetime = 3.0

    def lookup(name: str, kind: str) -> list[str]:
        try:
            answer = resolver.resolve(name, kind, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers, dns.exception.Timeout):
            return []
        if answer.rrset is None:
            return []
        if kind == "TXT":
            return [b"".join(r.strings).decode() for r in answer.rrset]
        return [r.to_text().rstrip(".") for r in answer.rrset]

    return lookup


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str
    arrived: float = 0.0  # time.monotonic() when it arrived, before the latency
    answered: float = 0.0  # when its answer was ready


@dataclass
class PostmarkStandIn:
    """In-memory Postmark account with its Domains."""

    token: str | None = None
    domains: dict[int, dict] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    failures: list[tuple[str, re.Pattern, list]] = field(default_factory=list)
    race_on_create: bool = False
    next_id: int = 1000
    next_key: int = 0
    # (name, type) -> record data, for tests that tell the stand-in what DNS holds.
    published: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # How verifyDkim / verifyReturnPath look DNS up: (name, type) -> TXT texts or CNAME targets.
    lookup: Callable[[str, str], list[str]] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # A hostile Postmark: every domain's details carry the account token in this field (a test sets it).
    echo_token_into: str | None = None
    # Selectors as Postmark issued them to older domains: one more label ("2015....pm" style).
    dotted_selectors: bool = False
    # hold(): the next matching request waits here until released (a test signals the client meanwhile).
    holds: list[tuple[str, re.Pattern, threading.Event, threading.Event]] = field(default_factory=list)
    # Seconds every request waits before it is served (a round trip to Postmark; 0: none).
    latency_seconds: float = 0.0

    # -- set-up helpers --------------------------------------------------------

    def _new_key(self, name: str) -> tuple[str, str]:
        self.next_key += 1
        selector = f"2015{self.next_key:010d}.pm" if self.dotted_selectors else f"2026{self.next_key:06d}pm"
        return f"{selector}._domainkey.{name}", dkim_key(self.next_key)

    def add_domain(
        self, name: str, return_path: str | None = None, *, active: bool = False, pending: bool = True
    ) -> dict:
        """Put a domain in the account as if registered earlier.

        By default it is new (only a pending key); ``active=True`` gives it a verified
        key as well, and ``pending=False`` drops the pending one (a settled domain).
        """
        self.next_id += 1
        active_host, active_value = self._new_key(name) if active else ("", "")
        pending_host, pending_value = self._new_key(name) if pending else ("", "")
        details = {
            "ID": self.next_id,
            "Name": name,
            "SPFVerified": False,
            "SPFHost": name,
            "SPFTextValue": "v=spf1 a mx include:spf.mtasv.net ~all",
            "DKIMVerified": active,
            "WeakDKIM": False,
            "DKIMHost": active_host,
            "DKIMTextValue": active_value,
            "DKIMPendingHost": pending_host,
            "DKIMPendingTextValue": pending_value,
            "DKIMRevokedHost": "",
            "DKIMRevokedTextValue": "",
            "SafeToRemoveRevokedKeyFromDNS": False,
            "DKIMUpdateStatus": "Pending" if pending else "Verified",
            "ReturnPathDomain": return_path or "",
            "ReturnPathDomainVerified": False,
            "ReturnPathDomainCNAMEValue": RETURN_PATH_TARGET,
        }
        self.domains[self.next_id] = details
        return details

    # -- the lifecycle (also reachable over HTTP) --------------------------------

    def _dns(self, name: str, kind: str) -> list[str]:
        if self.lookup is not None:
            return self.lookup(name, kind)
        return self.published.get((name.lower().rstrip("."), kind), [])

    def verify_dkim(self, domain_id: int) -> dict:
        """Postmark's verifyDkim: promote the pending key if DNS really publishes it."""
        details = self.domains[domain_id]
        host, value = details["DKIMPendingHost"], details["DKIMPendingTextValue"]
        if host and value in self._dns(host, "TXT"):
            if details["DKIMHost"]:
                details["DKIMRevokedHost"] = details["DKIMHost"]
                details["DKIMRevokedTextValue"] = details["DKIMTextValue"]
                details["SafeToRemoveRevokedKeyFromDNS"] = False
            details.update(
                DKIMHost=host,
                DKIMTextValue=value,
                DKIMPendingHost="",
                DKIMPendingTextValue="",
                DKIMVerified=True,
                DKIMUpdateStatus="Verified",
            )
        return details

    def rotate_dkim(self, domain_id: int) -> dict | None:
        """Postmark's rotatedkim: a pending key under a new selector; None (505) if one is pending."""
        details = self.domains[domain_id]
        if details["DKIMPendingHost"]:
            return None
        host, value = self._new_key(details["Name"])
        details.update(DKIMPendingHost=host, DKIMPendingTextValue=value, DKIMUpdateStatus="Pending")
        return details

    def make_revoked_key_safe(self, domain_id: int) -> dict:
        """What Postmark decides on its own schedule: the revoked key may leave DNS."""
        details = self.domains[domain_id]
        details["SafeToRemoveRevokedKeyFromDNS"] = bool(details["DKIMRevokedHost"])
        return details

    def verify_return_path(self, domain_id: int) -> dict:
        """Postmark's verifyReturnPath: verified when the CNAME points at pm.mtasv.net."""
        details = self.domains[domain_id]
        found = [t.lower().rstrip(".") for t in self._dns(details["ReturnPathDomain"], "CNAME")]
        details["ReturnPathDomainVerified"] = bool(details["ReturnPathDomain"]) and found == [RETURN_PATH_TARGET]
        return details

    def only_domain(self) -> dict:
        """The one domain of the account (most tests register exactly one)."""
        (details,) = self.domains.values()
        return details

    def fail(self, method: str, path: str, responses: list[tuple[int, object, dict]]) -> None:
        """Answer the next len(responses) matching calls with these instead."""
        self.failures.append((method, re.compile(path), list(responses)))

    def hold(self, method: str, path: str) -> tuple[threading.Event, threading.Event]:
        """Hold the next matching request until the second event is set; the first is set when it arrives.

        The request is answered as usual once released (a test stops the client meanwhile).
        """
        arrived, released = threading.Event(), threading.Event()
        self.holds.append((method, re.compile(path), arrived, released))
        return arrived, released

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """Recorded requests, filtered by method and a path regex."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path is None or re.fullmatch(path, r.path))
        ]

    # -- the server ------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """werkzeug handler: wait out the latency, hold if told to, record, authenticate, inject failures, serve."""
        arrived = time.monotonic()
        if self.latency_seconds > 0:
            time.sleep(self.latency_seconds)  # outside the lock: this request's thread only
        for hold in list(self.holds):
            method, pattern, held, released = hold
            if method == request.method and pattern.fullmatch(request.path):
                self.holds.remove(hold)
                held.set()
                released.wait(120)
        recorded = Recorded(
            request.method,
            request.path,
            request.query_string.decode(),
            dict(request.headers),
            request.get_data(as_text=True),
            arrived,
        )
        response = self._answer(request, recorded)
        recorded.answered = time.monotonic()
        return response

    def _answer(self, request: Request, recorded: Recorded) -> Response:
        """Record, authenticate, inject failures, then serve (one request at a time)."""
        with self.lock:
            self.requests.append(recorded)
            for method, pattern, queue in self.failures:
                if queue and method == request.method and pattern.fullmatch(request.path):
                    status, body, headers = queue.pop(0)
                    return self._json(body, status, headers)
            supplied = request.headers.get("X-Postmark-Account-Token", "")
            if not supplied or (self.token is not None and supplied != self.token):
                return self._json(ERROR_BAD_TOKEN, 401)
            response = self._route(request)
            if (
                self.echo_token_into
                and response.status_code == 200
                and re.fullmatch(r"/domains(/\d+.*)?", request.path)
            ):
                body = json.loads(response.get_data(as_text=True))
                if isinstance(body, dict) and "Name" in body and "ID" in body:
                    return self._json(self._hostile(body, supplied))
            return response

    def _route(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/domains" and method == "GET":
            count = int(request.args.get("count", 0))
            offset = int(request.args.get("offset", 0))
            if not 1 <= count <= 500:
                return self._json({"ErrorCode": 402, "Message": "count must be 1-500"}, 422)
            ordered = [self._summary(d) for _, d in sorted(self.domains.items())]
            return self._json({"TotalCount": len(ordered), "Domains": ordered[offset : offset + count]})
        if path == "/domains" and method == "POST":
            body = request.get_json(force=True)
            name = body.get("Name", "")
            if self.race_on_create:
                self.race_on_create = False
                self.add_domain(name, body.get("ReturnPathDomain"))
            if any(d["Name"].lower() == name.lower() for d in self.domains.values()):
                return self._json({"ErrorCode": 512, "Message": "This domain already exists."}, 422)
            return self._json(self.add_domain(name, body.get("ReturnPathDomain")))
        match = re.fullmatch(r"/domains/(\d+)(/verifyDkim|/verifyReturnPath|/rotatedkim)?", path)
        action = match.group(2) if match else None
        allowed = {
            None: ("GET", "PUT"),
            "/verifyDkim": ("PUT",),
            "/verifyReturnPath": ("PUT",),
            "/rotatedkim": ("POST",),
        }
        if match and method in allowed[action]:
            domain_id = int(match.group(1))
            if domain_id not in self.domains:
                return self._json(ERROR_NOT_FOUND, 422)
            if action == "/verifyDkim":
                return self._json(self.verify_dkim(domain_id))
            if action == "/verifyReturnPath":
                return self._json(self.verify_return_path(domain_id))
            if action == "/rotatedkim":
                rotated = self.rotate_dkim(domain_id)
                return self._json(ERROR_ROTATION_PENDING, 422) if rotated is None else self._json(rotated)
            details = self.domains[domain_id]
            if method == "PUT":
                details["ReturnPathDomain"] = request.get_json(force=True).get("ReturnPathDomain", "")
                details["ReturnPathDomainVerified"] = False
            return self._json(details)
        if path == "/senders" and method == "GET":
            return self._json({"TotalCount": 0, "SenderSignatures": []})
        safe = re.fullmatch(SAFE_TO_REMOVE_PATH.replace("{id}", r"(\d+)"), path)
        if safe and method == "POST":
            domain_id = int(safe.group(1))
            if domain_id not in self.domains:
                return self._json(ERROR_NOT_FOUND, 422)
            if not self.domains[domain_id]["DKIMRevokedHost"]:
                return self._json(ERROR_NO_REVOKED_KEY, 422)
            return self._json(self.make_revoked_key_safe(domain_id))
        return self._json({"Note": "stand-in: recorded, not a Domains API call"})

    def _hostile(self, details: dict, supplied_token: str) -> dict:
        """The details as a hostile Postmark answers them: the caller's token echoed into one field."""
        if not self.echo_token_into:
            return details
        echoed = dict(details)
        field = self.echo_token_into
        if field.endswith("Host"):
            echoed[field] = f"{supplied_token.lower()}._domainkey.{details['Name']}"
        elif field.endswith("TextValue"):
            echoed[field] = f"k=rsa;p={supplied_token}"
        else:
            echoed[field] = supplied_token
        return echoed

    @staticmethod
    def _summary(details: dict) -> dict:
        keys = ("Name", "SPFVerified", "DKIMVerified", "WeakDKIM", "ReturnPathDomainVerified", "ID")
        return {k: details[k] for k in keys}

    @staticmethod
    def _json(body: object, status: int = 200, headers: dict | None = None) -> Response:
        text = body if isinstance(body, str) else json.dumps(body)
        return Response(text, status=status, headers=headers or {}, content_type="application/json")


def mark_revoked_key_safe(base_url: str, token, domain_id: int) -> dict:
    """Flip a running stand-in's switch over HTTP (``token``: the account token, a ``Secret``); the domain's details."""
    import requests

    session = requests.Session()
    session.trust_env = False  # loopback only: no proxy relays the token
    response = session.post(
        base_url.rstrip("/") + SAFE_TO_REMOVE_PATH.format(id=int(domain_id)),
        headers={"X-Postmark-Account-Token": token.reveal(), "Accept": "application/json"},
        timeout=(5.0, 30.0),
        allow_redirects=False,
    )
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict):
        from tools.lib.errors import ArdaMailError

        message = body.get("Message") if isinstance(body, dict) else None
        raise ArdaMailError(f"the world's Postmark stand-in refused: {message or f'HTTP {response.status_code}'}")
    return body


def main() -> None:
    """Serve the stand-in on 127.0.0.1 until interrupted."""
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(description="Postmark Domains API stand-in on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    args = parser.parse_args()
    standin = PostmarkStandIn(token=os.environ.get("POSTMARK_STANDIN_TOKEN"))
    print(f"Postmark stand-in on http://127.0.0.1:{args.port} (export POSTMARK_API_URL=http://127.0.0.1:{args.port})")
    run_simple("127.0.0.1", args.port, Request.application(standin.handle))


if __name__ == "__main__":
    main()
