"""An authoritative DNS stand-in on 127.0.0.1 (dnslib), UDP and TCP on one port.

Records live in a dict the test can change while the server runs:
``zone.set("dev.ardamails.com", "TXT", ["v=spf1 ..."])``, ``zone.remove(...)``.
TXT values longer than 255 characters are served as several character-strings,
as Route 53 does.
"""

from __future__ import annotations

import threading

from dnslib import CNAME, NS, QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver

from tools.rehearsal.dns import start_servers, stop_servers

_MAKERS = {
    "TXT": lambda value: TXT([value[i : i + 255] for i in range(0, len(value), 255)] or [""]),
    "CNAME": CNAME,
    "NS": NS,
}


class ZoneStandIn(BaseResolver):
    """Answers from ``records``: {(name, type): [values]}; names lowercase, no trailing dot."""

    def __init__(self, ttl: int = 60) -> None:
        self.records: dict[tuple[str, str], list[str]] = {}
        self.ttl = ttl
        self.lock = threading.Lock()
        self.queries: list[tuple[str, str]] = []
        self._servers: list = []
        self.port = 0

    def set(self, name: str, kind: str, values: list[str]) -> None:
        with self.lock:
            self.records[(name.lower().rstrip("."), kind)] = list(values)

    def remove(self, name: str, kind: str) -> None:
        with self.lock:
            self.records.pop((name.lower().rstrip("."), kind), None)

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        kind = QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((name, kind))
            values = self.records.get((name, kind), [])
            known = any(n == name for n, _ in self.records)
        for value in values:
            reply.add_answer(RR(name + ".", getattr(QTYPE, kind), ttl=self.ttl, rdata=_MAKERS[kind](value)))
        if not values and not known:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply

    def start(self, port: int) -> None:
        self.port = port
        self._servers = start_servers(self, port)

    def stop(self) -> None:
        stop_servers(self._servers)
        self._servers = []
