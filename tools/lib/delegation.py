"""Whether public DNS delegates a partition's domain to a hosted zone: asked the way verify asks.

The purge (``deploy.py --destroy --purge-retained``) must never delete a zone the parent
still delegates to: ``ardamails.com`` would go on pointing ``dev.ardamails.com`` at name
servers that no longer serve it (a dangling delegation, the subdomain-takeover kind). The
question is put to a resolver (the system's, or ``--resolver IP[:PORT]``), as verify's
V-PART NS check does; an answer that cannot be had (a timeout, a failing server) is
``None``, and the caller refuses: a check that cannot answer never clears the way.
"""

from __future__ import annotations

import ipaddress

import dns.exception
import dns.resolver

from tools.lib.errors import UsageError

LIFETIME_SECONDS = 5.0


def parse_resolver(spec: str, option: str = "--resolver") -> tuple[str, int]:
    """``IP[:PORT]`` (an IPv6 address in brackets when a port follows) as (address, port); UsageError otherwise."""
    text = spec.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        address = str(ipaddress.ip_address(host))
        number = int(port)
    except ValueError:
        raise UsageError(f"{option} must be IP[:PORT] such as 127.0.0.1:5353, got: {spec!r}") from None
    if not 0 < number < 65536:
        raise UsageError(f"{option} must be IP[:PORT] with a port from 1 to 65535, got: {spec!r}")
    return address, number


def resolver_for(spec: str | None) -> dns.resolver.Resolver:
    """A resolver without a cache: the system's, or the one ``spec`` names."""
    resolver = dns.resolver.Resolver(configure=spec is None)
    if spec:
        address, port = parse_resolver(spec)
        resolver.nameservers, resolver.port = [address], port
    resolver.lifetime = LIFETIME_SECONDS
    resolver.cache = None
    return resolver


def delegated_name_servers(domain: str, spec: str | None) -> set[str] | None:
    """The name servers DNS gives for ``domain`` (lowercase, no final dot); empty when none; None: no answer."""
    try:
        answer = resolver_for(spec).resolve(domain, "NS", raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return set()
    except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.NoResolverConfiguration):
        return None
    if answer.rrset is None:
        return set()
    return {r.to_text().lower().rstrip(".") for r in answer.rrset}
