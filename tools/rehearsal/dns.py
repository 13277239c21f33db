"""A DNS server on 127.0.0.1 that answers from the emulator's Route 53 zones, live.

It reads moto's Route 53 backend in this process at every query, so a record that
a deploy creates, changes or deletes is what the next query sees. Like the real
DNS tree it follows delegations: a query under the parent zone (``ardamails.com``)
is answered from a partition zone only while the parent holds an NS record for
the partition that names exactly that zone's name servers; without the delegation
(before the stack's custom resource wrote it, or after it removed it) the
partition zone is unreachable. Of several zones with one name (retained ones from
earlier stacks), the delegated one answers.

Served: TXT (split into character-strings as Route 53 stores them), CNAME and NS.
Not modelled: SOA, wildcards, DNSSEC, TTL countdown, caching resolvers.
"""

from __future__ import annotations

import re
import threading

from dnslib import CNAME, NS, QTYPE, RCODE, RR, TXT
from dnslib.server import BaseResolver, DNSLogger, DNSServer

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _name(value: str) -> str:
    return value.lower().rstrip(".")


def _txt_strings(value: str) -> list[str]:
    """Route 53's presentation form (``"a" "b"``) as character-strings."""
    strings = _QUOTED.findall(value)
    return strings or [value]


class Route53Resolver(BaseResolver):
    """Answers from every public zone of every account of the in-process moto server."""

    def __init__(self, ttl: int = 5) -> None:
        self.ttl = ttl
        self.queries: list[tuple[str, str]] = []

    @staticmethod
    def _zones() -> list[tuple[str, object]]:
        from moto.route53.models import route53_backends

        zones = []
        for account in list(route53_backends.keys()):
            backend = route53_backends[account]["aws"]
            for zone in list(backend.zones.values()):
                if not zone.private_zone:
                    zones.append((_name(zone.name), zone))
        return zones

    @staticmethod
    def records(zone, name: str, kind: str | None = None) -> list:
        """The record sets of ``zone`` named ``name`` (of type ``kind``)."""
        return [r for r in list(zone.rrsets) if _name(r.name) == name and (kind is None or r.type == kind)]

    def authority(self, qname: str):
        """The zone that answers for ``qname``, following delegations from the top; None if none."""
        candidates = [(n, z) for n, z in self._zones() if qname == n or qname.endswith("." + n)]
        if not candidates:
            return None
        names = sorted({n for n, _ in candidates}, key=len)
        top = [z for n, z in candidates if n == names[0]]
        current = top[0]
        for child in names[1:]:
            delegation = self.records(current, child, "NS")
            if not delegation:
                continue
            wanted = sorted(_name(v) for v in delegation[0].records)
            for name, zone in candidates:
                own = self.records(zone, name, "NS")
                if name == child and own and sorted(_name(v) for v in own[0].records) == wanted:
                    current = zone
                    break
        return current

    def resolve(self, request, handler):
        reply = request.reply()
        qname = _name(str(request.q.qname))
        kind = QTYPE[request.q.qtype]
        self.queries.append((qname, kind))
        zone = self.authority(qname)
        if zone is None:
            reply.header.rcode = RCODE.REFUSED
            return reply
        found = self.records(zone, qname, kind) or self.records(zone, qname, "CNAME")
        for record in found:
            for value in record.records:
                if record.type == "TXT":
                    data = TXT(_txt_strings(value))
                elif record.type == "CNAME":
                    data = CNAME(_name(value) + ".")
                elif record.type == "NS":
                    data = NS(_name(value) + ".")
                else:
                    continue
                reply.add_answer(RR(qname + ".", getattr(QTYPE, record.type), ttl=self.ttl, rdata=data))
        exists = any(_name(r.name) == qname or _name(r.name).endswith("." + qname) for r in list(zone.rrsets))
        if not found and not exists:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


# socketserver checks for shutdown every poll interval (0.5 s by default): a test that
# starts and stops a server would wait that long each time.
POLL_INTERVAL_SECONDS = 0.02


def start_servers(resolver: BaseResolver, port: int) -> list[DNSServer]:
    """UDP and TCP servers for ``resolver`` on one 127.0.0.1 port, each in a daemon thread."""
    quiet = DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    servers = []
    try:
        for tcp in (False, True):
            server = DNSServer(resolver, port=port, address="127.0.0.1", tcp=tcp, logger=quiet)
            servers.append(server)
            threading.Thread(
                target=server.server.serve_forever, kwargs={"poll_interval": POLL_INTERVAL_SECONDS}, daemon=True
            ).start()
    except OSError:
        stop_servers(servers)
        raise
    return servers


def stop_servers(servers: list[DNSServer]) -> None:
    """Stop and close each server (at most one poll interval)."""
    for server in servers:
        server.server.shutdown()
        server.server.server_close()


class Route53DnsServer:
    """UDP and TCP on one 127.0.0.1 port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.resolver = Route53Resolver()
        self._servers: list[DNSServer] = []

    def start(self) -> None:
        self._servers = start_servers(self.resolver, self.port)

    def stop(self) -> None:
        stop_servers(self._servers)
        self._servers = []
