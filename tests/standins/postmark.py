"""A stateful stand-in for Postmark's account API (Domains), served on 127.0.0.1.

Used by the tests through pytest-httpserver, and runnable on its own for a local
rehearsal:

    python tests/standins/postmark.py --port 8025

It keeps domains in memory, checks ``X-Postmark-Account-Token`` (any non-empty
token, or exactly ``$POSTMARK_STANDIN_TOKEN`` when set), records every request, and
can be told to fail: ``fail(method, path, [(status, body, headers), ...])``.
Calls to anything but the Domains API and ``GET /senders`` are recorded and
answered 200 so that a test can prove they were never made.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import threading
from dataclasses import dataclass, field

from werkzeug.wrappers import Request, Response

DKIM_KEY_2048 = "k=rsa;p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" + "x" * 330 + "IDAQAB"
ERROR_BAD_TOKEN = {"ErrorCode": 10, "Message": "The account token provided in the request header is invalid."}


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: str


@dataclass
class PostmarkStandIn:
    """In-memory Postmark account with its Domains."""

    token: str | None = None
    domains: dict[int, dict] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    failures: list[tuple[str, re.Pattern, list]] = field(default_factory=list)
    race_on_create: bool = False
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- set-up helpers --------------------------------------------------------

    def add_domain(
        self, name: str, return_path: str | None = None, *, active: bool = False, pending: bool = True
    ) -> dict:
        """Put a domain in the account as if registered earlier."""
        self.next_id += 1
        selector = f"2026{self.next_id:010d}pm"
        details = {
            "ID": self.next_id,
            "Name": name,
            "SPFVerified": False,
            "SPFHost": name,
            "SPFTextValue": "v=spf1 a mx include:spf.mtasv.net ~all",
            "DKIMVerified": False,
            "WeakDKIM": False,
            "DKIMHost": f"{selector}._domainkey.{name}" if active else "",
            "DKIMTextValue": DKIM_KEY_2048 if active else "",
            "DKIMPendingHost": f"{selector}p._domainkey.{name}" if pending else "",
            "DKIMPendingTextValue": DKIM_KEY_2048.replace("x", "y") if pending else "",
            "DKIMRevokedHost": "",
            "DKIMRevokedTextValue": "",
            "SafeToRemoveRevokedKeyFromDNS": False,
            "DKIMUpdateStatus": "Pending" if pending else "Verified",
            "ReturnPathDomain": return_path or "",
            "ReturnPathDomainVerified": False,
            "ReturnPathDomainCNAMEValue": "pm.mtasv.net",
        }
        self.domains[self.next_id] = details
        return details

    def fail(self, method: str, path: str, responses: list[tuple[int, object, dict]]) -> None:
        """Answer the next len(responses) matching calls with these instead."""
        self.failures.append((method, re.compile(path), list(responses)))

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        """Recorded requests, filtered by method and a path regex."""
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (path is None or re.fullmatch(path, r.path))
        ]

    # -- the server ------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """werkzeug handler: record, authenticate, inject failures, then serve."""
        with self.lock:
            self.requests.append(
                Recorded(
                    request.method,
                    request.path,
                    request.query_string.decode(),
                    dict(request.headers),
                    request.get_data(as_text=True),
                )
            )
            for method, pattern, queue in self.failures:
                if queue and method == request.method and pattern.fullmatch(request.path):
                    status, body, headers = queue.pop(0)
                    return self._json(body, status, headers)
            supplied = request.headers.get("X-Postmark-Account-Token", "")
            if not supplied or (self.token is not None and supplied != self.token):
                return self._json(ERROR_BAD_TOKEN, 401)
            return self._route(request)

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
        match = re.fullmatch(r"/domains/(\d+)(/verifyDkim|/verifyReturnPath)?", path)
        if match and (method == "GET" or method == "PUT"):
            details = self.domains.get(int(match.group(1)))
            if details is None:
                return self._json({"ErrorCode": 510, "Message": "This domain was not found."}, 422)
            if method == "PUT" and not match.group(2):
                details["ReturnPathDomain"] = request.get_json(force=True).get("ReturnPathDomain", "")
            return self._json(details)
        if path == "/senders" and method == "GET":
            return self._json({"TotalCount": 0, "SenderSignatures": []})
        return self._json({"Note": "stand-in: recorded, not a Domains API call"})

    @staticmethod
    def _summary(details: dict) -> dict:
        keys = ("Name", "SPFVerified", "DKIMVerified", "WeakDKIM", "ReturnPathDomainVerified", "ID")
        return {k: details[k] for k in keys}

    @staticmethod
    def _json(body: object, status: int = 200, headers: dict | None = None) -> Response:
        text = body if isinstance(body, str) else json.dumps(body)
        return Response(text, status=status, headers=headers or {}, content_type="application/json")


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
