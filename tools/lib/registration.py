"""Register a partition's mail domain with Postmark, idempotently.

Find the domain by name (paging ``GET /domains`` through ``TotalCount``); create it
with the Return-Path domain ``pm-bounces.<domain>`` when absent (a concurrent
creation, ErrorCode 512, is looked up again); correct a differing Return-Path
with ``PUT /domains/{id}``; then read the details. Creates no Sender Signature and
no Server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from templates.mail_dns import RETURN_PATH_TARGET, return_path_domain
from tools.lib.errors import ArdaMailError
from tools.lib.postmark_client import DomainExists, PostmarkClient

LOG = logging.getLogger(__name__)
PAGE_SIZE = 500


@dataclass(frozen=True)
class DkimKey:
    """One DKIM key Postmark wants published: active, or pending during a rotation."""

    state: str
    selector: str
    host: str
    value: str


@dataclass(frozen=True)
class Registration:
    """What Postmark holds for the domain, and what DNS must publish for it."""

    domain: str
    domain_id: int
    dkim_keys: tuple[DkimKey, ...]
    return_path_domain: str
    return_path_cname: str
    dkim_verified: bool
    return_path_verified: bool
    created: bool
    return_path_updated: bool

    def key(self, state: str) -> DkimKey | None:
        """The ``active`` or ``pending`` DKIM key, if Postmark has one."""
        return next((k for k in self.dkim_keys if k.state == state), None)

    def records(self) -> list[dict[str, str]]:
        """The DNS records to publish: each DKIM key, and the Return-Path CNAME."""
        rows = [
            {"host": k.host, "type": "TXT", "value": k.value, "purpose": f"DKIM ({k.state})"} for k in self.dkim_keys
        ]
        rows.append(
            {
                "host": self.return_path_domain,
                "type": "CNAME",
                "value": self.return_path_cname,
                "purpose": "Return-Path",
            }
        )
        return rows

    def to_dict(self) -> dict:
        """A JSON-ready view for ``--json``."""
        return {
            "domain": self.domain,
            "domain_id": self.domain_id,
            "created": self.created,
            "return_path_updated": self.return_path_updated,
            "dkim_verified": self.dkim_verified,
            "return_path_verified": self.return_path_verified,
            "dkim_keys": [k.__dict__ for k in self.dkim_keys],
            "return_path_domain": self.return_path_domain,
            "return_path_cname": self.return_path_cname,
            "records": self.records(),
        }


def find_domain(client: PostmarkClient, name: str) -> dict | None:
    """The domain summary whose Name matches ``name`` (case-insensitively), if any."""
    wanted = name.lower()
    offset = 0
    while True:
        page = client.list_domains(count=PAGE_SIZE, offset=offset)
        domains = page.get("Domains") or []
        for domain in domains:
            if str(domain.get("Name", "")).lower() == wanted:
                return domain
        offset += len(domains)
        if not domains or offset >= int(page.get("TotalCount", 0)):
            return None


def _dkim_key(state: str, host: str | None, value: str | None, domain: str) -> DkimKey | None:
    if not host and not value:
        return None
    suffix = f"._domainkey.{domain}"
    if not host or not value or not host.lower().endswith(suffix):
        raise ArdaMailError(
            f"Postmark's {state} DKIM key for {domain} is not publishable: host {host!r} must end in "
            f"{suffix!r} and come with a value; check the domain in Postmark's UI"
        )
    return DkimKey(state=state, selector=host[: -len(suffix)], host=host.lower(), value=value)


def register_domain(client: PostmarkClient, domain: str) -> Registration:
    """Make sure Postmark knows ``domain`` with the right Return-Path; its DNS needs."""
    wanted_return_path = return_path_domain(domain)
    created = updated = False
    summary = find_domain(client, domain)
    if summary is None:
        try:
            LOG.info("%s: registering with Postmark (Return-Path %s)", domain, wanted_return_path)
            summary = client.create_domain(domain, wanted_return_path)
            created = True
        except DomainExists:
            LOG.info("%s: registered meanwhile by someone else; looking it up again", domain)
            summary = find_domain(client, domain)
            if summary is None:
                raise ArdaMailError(
                    f"Postmark says {domain} already exists (ErrorCode 512) but it is not in this "
                    "account's domain list: it belongs to another Postmark account; remove it there first"
                ) from None
    else:
        LOG.info("%s: already registered with Postmark (ID %s)", domain, summary.get("ID"))
    domain_id = int(summary["ID"])
    details = client.get_domain(domain_id)
    current = str(details.get("ReturnPathDomain") or "")
    if current.lower() != wanted_return_path:
        LOG.info("%s: Return-Path is %r, setting %s", domain, current, wanted_return_path)
        details = client.edit_domain(domain_id, wanted_return_path)
        updated = True
        details = client.get_domain(domain_id)
        if str(details.get("ReturnPathDomain") or "").lower() != wanted_return_path:
            raise ArdaMailError(
                f"Postmark kept Return-Path {details.get('ReturnPathDomain')!r} for {domain} after "
                f"it was asked to use {wanted_return_path}; set it in Postmark's UI and retry"
            )
    return _from_details(domain, domain_id, details, created=created, updated=updated)


def lookup_registration(client: PostmarkClient, domain: str) -> Registration | None:
    """What Postmark holds for ``domain`` without changing anything; None if unregistered."""
    summary = find_domain(client, domain)
    if summary is None:
        return None
    domain_id = int(summary["ID"])
    return _from_details(domain, domain_id, client.get_domain(domain_id), created=False, updated=False)


def _from_details(domain: str, domain_id: int, details: dict, *, created: bool, updated: bool) -> Registration:
    keys = tuple(
        key
        for key in (
            _dkim_key("active", details.get("DKIMHost"), details.get("DKIMTextValue"), domain),
            _dkim_key("pending", details.get("DKIMPendingHost"), details.get("DKIMPendingTextValue"), domain),
        )
        if key is not None
    )
    return Registration(
        domain=domain,
        domain_id=domain_id,
        dkim_keys=keys,
        return_path_domain=str(details.get("ReturnPathDomain") or ""),
        return_path_cname=str(details.get("ReturnPathDomainCNAMEValue") or RETURN_PATH_TARGET),
        dkim_verified=bool(details.get("DKIMVerified")),
        return_path_verified=bool(details.get("ReturnPathDomainVerified")),
        created=created,
        return_path_updated=updated,
    )
