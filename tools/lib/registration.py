"""Register a partition's mail domain with Postmark, idempotently.

Find the domain by name (paging ``GET /domains`` through ``TotalCount``); create it
with the Return-Path domain ``pm-bounces.<domain>`` when absent (a concurrent
creation, ErrorCode 512, is looked up again); correct a differing Return-Path
with ``PUT /domains/{id}``; then read the details. Creates no Sender Signature and
no Server.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from instances import rules
from templates.dkim import SELECTOR
from templates.mail_dns import RETURN_PATH_TARGET, return_path_domain
from tools.lib.errors import ArdaMailError
from tools.lib.journal import Journal
from tools.lib.logger import holds_secret
from tools.lib.output import console
from tools.lib.postmark_client import (
    DKIM_KEY_FIELDS,
    DomainExists,
    PostmarkClient,
    PostmarkError,
    RotationInProgress,
)

LOG = logging.getLogger(__name__)
# What a domain's details hold and a listing's summary does not: the DKIM keys' hosts and values, the Return-Path.
DKIM_DETAIL_FIELDS = (*DKIM_KEY_FIELDS, "ReturnPathDomain")
PAGE_SIZE = 500
MAX_PAGES = 100  # 50,000 domains: far past any account's


@dataclass(frozen=True)
class DkimKey:
    """One DKIM key Postmark wants published: active, pending, or revoked but not yet safe to remove."""

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
    dkim_update_status: str = ""
    # Postmark's SafeToRemoveRevokedKeyFromDNS: the revoked key (if any) may leave DNS.
    revoked_key_removable: bool = False
    # The revoked key Postmark still reports once it is safe to remove (not published).
    removable_key: DkimKey | None = None

    def key(self, state: str) -> DkimKey | None:
        """The ``active``, ``pending`` or ``revoked`` DKIM key that must be in DNS, if any."""
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
            "dkim_update_status": self.dkim_update_status,
            "revoked_key_removable": self.revoked_key_removable,
            "return_path_verified": self.return_path_verified,
            "dkim_keys": [k.__dict__ for k in self.dkim_keys],
            "return_path_domain": self.return_path_domain,
            "return_path_cname": self.return_path_cname,
            "records": self.records(),
        }


def find_domain(client: PostmarkClient, name: str) -> dict | None:
    """The domain summary whose Name matches ``name`` (case-insensitively), if any.

    Pages through ``GET /domains`` as far as ``TotalCount`` says, but never further
    than ``MAX_PAGES`` and never past a page that repeats one already seen: an
    answer that pages forever is not Postmark's.
    """
    wanted = name.lower()
    offset, seen = 0, set()
    for _ in range(MAX_PAGES):
        page = client.list_domains(count=PAGE_SIZE, offset=offset)
        domains = page.get("Domains") or []
        for domain in domains:
            if str(domain.get("Name", "")).lower() == wanted:
                return domain
        ids = tuple(str(domain.get("ID")) for domain in domains)
        if ids and ids in seen:
            raise ArdaMailError(
                f"Postmark GET /domains answered the same page twice (offset {offset}); not Postmark's paging: "
                "check POSTMARK_API_URL and any proxy"
            )
        seen.add(ids)
        offset += len(domains)
        if not domains or offset >= int(page.get("TotalCount", 0)):
            return None
    raise ArdaMailError(
        f"Postmark GET /domains went on past {MAX_PAGES * PAGE_SIZE} domains without {name}; "
        "not an account this tool can page through: check POSTMARK_API_URL"
    )


# The shapes of what Postmark answers and this tool publishes or prints: anything else is refused
# before it can reach a parameter, a DNS record, the terminal or a file.
_SELECTOR = re.compile(SELECTOR)  # one or more DNS labels: Postmark's older selectors hold a dot
_DKIM_VALUE = re.compile(r"(v=DKIM1; ?)?k=rsa; ?(t=[a-z:]+; ?)?p=[A-Za-z0-9+/]{16,4000}={0,2}")
_UPDATE_STATUS = re.compile(r"[A-Za-z]{0,32}")


def _refuse_secret(domain: str, field: str, value: str) -> None:
    """A reply that echoes a secret this run knows (the token) is never published, deployed or shown."""
    if holds_secret(value):
        raise ArdaMailError(
            f"Postmark's reply for {domain} holds the account token in {field}; refusing to publish or show it: "
            "check the domain in Postmark's UI, and rotate the token if it was exposed"
        )


def _shown(value: object) -> str:
    """A value from Postmark's reply, as an error message may quote it: its repr, at most 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _dkim_key(state: str, host: str | None, value: str | None, domain: str) -> DkimKey | None:
    if not host and not value:
        return None
    _refuse_secret(domain, f"the {state} DKIM key", f"{host} {value}")
    suffix = f"._domainkey.{domain}"
    selector = (host or "")[: -len(suffix)] if (host or "").lower().endswith(suffix) else ""
    if not host or not value or not _SELECTOR.fullmatch(selector) or not _DKIM_VALUE.fullmatch(value):
        raise ArdaMailError(
            f"Postmark's {state} DKIM key for {domain} is not publishable: the host must be "
            f"'<selector>{suffix}' and the value 'k=rsa;p=<base64 key>'; check the domain in Postmark's UI"
        )
    return DkimKey(state=state, selector=selector, host=host.lower(), value=value)


@dataclass(frozen=True)
class Found:
    """What Postmark holds for a domain, read without changing anything: its summary and details (None: unknown)."""

    summary: dict | None
    details: dict | None


def read_domain(client: PostmarkClient, domain: str, known_id: int | None = None) -> Found:
    """``domain``'s entry in the account's list and its details, as Postmark answers now (a read, nothing changed).

    ``known_id``: the ID Postmark gave the domain before (``tools.lib.postmark_ids``), a hint: its
    details are asked for directly, one round trip instead of the listing's two, and taken only
    when Postmark names ``domain`` there (case-insensitively) under that very ID. A hint that does
    not hold (gone, another domain's, a malformed answer, a refusal) is dropped, and the domain is
    found by name as without one: a stale hint costs a round trip, never changes what is found.
    Postmark down fails at the hinted request, once (see ``_details_if_named``).
    """
    if known_id is not None:
        details = _details_if_named(client, domain, known_id)
        if details is not None:
            return Found({"ID": known_id, "Name": details["Name"]}, details)
    summary = find_domain(client, domain)
    if summary is None:
        return Found(None, None)
    return Found(summary, client.get_domain(int(summary["ID"])))


def _details_if_named(client: PostmarkClient, domain: str, domain_id: int) -> dict | None:
    """``GET /domains/{domain_id}`` when Postmark names ``domain`` there under that ID; None for anything else.

    A refusal or an odd answer (an ID this account does not hold, a rejected token, a malformed reply) is one
    round trip: the listing is asked as without a hint, and says what it says. An outage (no answer, 5xx, 429,
    each already retried up to the call's deadline) fails here: the listing would wait it out a second time.
    """
    try:
        details = client.get_domain(domain_id)
    except PostmarkError as exc:
        if exc.outage:
            raise
        LOG.debug("%s: Postmark ID %s not taken (%s); finding the domain by name", domain, domain_id, exc)
        return None
    if details.get("ID") != domain_id or not _names(details, domain):
        LOG.debug("%s: Postmark ID %s names another domain; finding the domain by name", domain, domain_id)
        return None
    return details


def register_domain(
    client: PostmarkClient, domain: str, journal: Journal | None = None, found: Found | None = None
) -> Registration:
    """Make sure Postmark knows ``domain`` with the right Return-Path; its DNS needs.

    ``found``: what ``read_domain`` read moments ago (read again when not given).
    Each change (the creation, a Return-Path correction) is recorded in ``journal``
    as it is made: it cannot be undone, and the run's last line says it happened.
    """
    journal = journal or Journal()
    wanted_return_path = return_path_domain(domain)
    created = updated = False
    found = found if found is not None else read_domain(client, domain)
    summary = found.summary
    if summary is None:
        try:
            console().progress(f"{domain}: registering with Postmark (Return-Path {wanted_return_path})")
            with journal.attempt(
                f"Postmark domain {domain}",
                done=f"registered {domain} with Postmark (rerunning is safe)",
                unsure=f"a Postmark registration of {domain} may have completed (rerunning is safe)",
                check=lambda: (
                    f"registered {domain} with Postmark (rerunning is safe)"
                    if find_domain(client, domain) is not None
                    else f"Postmark shows no registration of {domain}: nothing was registered"
                ),
            ):
                summary = client.create_domain(domain, wanted_return_path)
            created = True
        except DomainExists:
            console().progress(f"{domain}: registered meanwhile by someone else; looking it up again")
            summary = find_domain(client, domain)
            if summary is None:
                # Postmark's API reference: 512 "This domain already exists" is about *this* account's
                # domains; it is not a claim by another account. The listing has not caught up with it.
                raise ArdaMailError(
                    f"Postmark says {domain} already exists in this Postmark account (ErrorCode 512), but the "
                    "account's domain list does not show it yet; rerun in a minute (registration is safe to "
                    "rerun); if it persists, find the domain in Postmark's web app (Sender Signatures) or ask "
                    "Postmark support"
                ) from None
    else:
        console().progress(f"{domain}: already registered with Postmark (ID {summary.get('ID')})")
    domain_id = int(summary["ID"])
    details = found.details if found.details is not None and not created else _details_after(client, domain, summary)
    current = str(details.get("ReturnPathDomain") or "")
    if current.lower() != wanted_return_path:
        console().progress(f"{domain}: Return-Path is {current!r}, setting {wanted_return_path}")
        with journal.attempt(
            f"Return-Path of {domain}",
            done=f"set the Return-Path of {domain} at Postmark to {wanted_return_path}",
            unsure=f"the Return-Path of {domain} at Postmark may have been set to {wanted_return_path}",
            check=lambda: (
                f"set the Return-Path of {domain} at Postmark to {wanted_return_path}"
                if str(client.get_domain(domain_id).get("ReturnPathDomain") or "").lower() == wanted_return_path
                else f"Postmark still shows the Return-Path of {domain} unchanged: rerun to set it"
            ),
        ):
            details = client.edit_domain(domain_id, wanted_return_path)
        updated = True
        details = client.get_domain(domain_id)
        if str(details.get("ReturnPathDomain") or "").lower() != wanted_return_path:
            raise ArdaMailError(
                f"Postmark kept Return-Path {_shown(details.get('ReturnPathDomain'))} for {domain} after "
                f"it was asked to use {wanted_return_path}; set it in Postmark's UI and retry"
            )
    return _from_details(domain, domain_id, details, created=created, updated=updated)


def _names(answer: dict, domain: str) -> bool:
    """Postmark's answer is about ``domain`` (its names are case-insensitive)."""
    return str(answer.get("Name") or "").lower() == domain.lower()


def _details_after(client: PostmarkClient, domain: str, answer: dict) -> dict:
    """The domain's details, once this run created it or found it registered meanwhile.

    Postmark answers ``POST /domains`` with the new domain's details, the same fields as
    ``GET /domains/{id}`` (the API reference's "Create a domain"; its OpenAPI description,
    postmarkapp.com/swagger/account.yml, gives both the one ``DomainExtendedInformation``
    schema; support article 1113 shows the body). That answer is used when it names this
    domain and carries its DKIM fields: asking again would cost the operator a round trip
    for what this run already holds. Anything less (a listing's summary, an answer that
    names another domain) is read with ``GET /domains/{id}``.
    """
    if _names(answer, domain) and all(field in answer for field in DKIM_DETAIL_FIELDS):
        return answer
    return client.get_domain(int(answer["ID"]))


def lookup_registration(client: PostmarkClient, domain: str, found: Found | None = None) -> Registration | None:
    """What Postmark holds for ``domain`` without changing anything (``found``, or read now); None if unregistered."""
    found = found if found is not None else read_domain(client, domain)
    if found.summary is None or found.details is None:
        return None
    return _from_details(domain, int(found.summary["ID"]), found.details, created=False, updated=False)


def registration_from(domain: str, domain_id: int, details: dict) -> Registration:
    """The keys and their roles as one ``GET /domains/{id}`` answer (e.g. right after verifying) says."""
    return _from_details(domain, domain_id, details, created=False, updated=False)


def _from_details(domain: str, domain_id: int, details: dict, *, created: bool, updated: bool) -> Registration:
    """The keys to publish: active, pending, and revoked until Postmark says it is safe to remove."""
    # A JSON boolean in the API; Postmark's Node SDK types it as a string, so accept "true" too.
    removable = str(details.get("SafeToRemoveRevokedKeyFromDNS")).lower() == "true"
    return_path = str(details.get("ReturnPathDomain") or "")
    cname = str(details.get("ReturnPathDomainCNAMEValue") or RETURN_PATH_TARGET)
    update_status = str(details.get("DKIMUpdateStatus") or "")
    for field, value in (
        ("ReturnPathDomain", return_path),
        ("ReturnPathDomainCNAMEValue", cname),
        ("DKIMUpdateStatus", update_status),
    ):
        _refuse_secret(domain, field, value)
    if return_path and rules.domain_name(return_path.lower()) is not None:
        raise ArdaMailError(f"Postmark's ReturnPathDomain for {domain} must be a domain name; check Postmark's UI")
    if rules.domain_name(cname.lower().rstrip(".")) is not None:
        raise ArdaMailError(f"Postmark's ReturnPathDomainCNAMEValue for {domain} must be a host name, not published")
    if not _UPDATE_STATUS.fullmatch(update_status):
        raise ArdaMailError(f"Postmark's DKIMUpdateStatus for {domain} must be a single word; check Postmark's UI")
    found = [
        _dkim_key("active", details.get("DKIMHost"), details.get("DKIMTextValue"), domain),
        _dkim_key("pending", details.get("DKIMPendingHost"), details.get("DKIMPendingTextValue"), domain),
        _dkim_key("revoked", details.get("DKIMRevokedHost"), details.get("DKIMRevokedTextValue"), domain),
    ]
    keys: list[DkimKey] = []
    removable_key = None
    for key in found:
        if key is None:
            continue
        if key.state == "revoked" and removable:
            removable_key = key
            continue
        twin = next((k for k in keys if k.host == key.host), None)
        if twin is not None:
            if twin.value != key.value:
                raise ArdaMailError(
                    f"Postmark reports two different DKIM values at {key.host} for {domain} ({twin.state} and "
                    f"{key.state}); one TXT name cannot publish both: check the domain in Postmark's UI"
                )
            continue
        keys.append(key)
    return Registration(
        domain=domain,
        domain_id=domain_id,
        dkim_keys=tuple(keys),
        return_path_domain=return_path,
        return_path_cname=cname,
        dkim_verified=bool(details.get("DKIMVerified")),
        return_path_verified=bool(details.get("ReturnPathDomainVerified")),
        created=created,
        return_path_updated=updated,
        dkim_update_status=update_status,
        revoked_key_removable=removable,
        removable_key=removable_key,
    )


@dataclass(frozen=True)
class Rotation:
    """The outcome of asking Postmark for a DKIM rotation."""

    registration: Registration
    started: bool  # False: a rotation was already pending (ErrorCode 505), nothing changed

    @property
    def pending_key(self) -> DkimKey | None:
        """The new key Postmark waits to see in DNS."""
        return self.registration.key("pending")


def _rotation_sentence(client: PostmarkClient, domain: str, domain_id: int) -> str:
    """What Postmark shows of a rotation whose answer was lost: a pending key, or none."""
    pending = _from_details(domain, domain_id, client.get_domain(domain_id), created=False, updated=False)
    key = pending.key("pending")
    if key is None:
        return f"Postmark shows no DKIM rotation of {domain}: nothing was started"
    return f"a DKIM rotation of {domain} is pending at Postmark (new key {key.selector}); rerunning is safe"


def rotate_dkim(client: PostmarkClient, domain: str, journal: Journal | None = None) -> Rotation:
    """Start a DKIM rotation of a registered ``domain`` (journaled); one already pending is a no-op."""
    journal = journal or Journal()
    registration = lookup_registration(client, domain)
    if registration is None:
        raise ArdaMailError(f"{domain} is not registered with Postmark; deploy the partition before rotating DKIM")
    try:
        with journal.attempt(
            f"DKIM rotation of {domain}",
            done=f"started a DKIM rotation of {domain} at Postmark",
            unsure=f"a DKIM rotation of {domain} may have started at Postmark (rerunning is safe)",
            check=lambda: _rotation_sentence(client, domain, registration.domain_id),
        ):
            client.rotate_dkim(registration.domain_id)
        started = True
        console().progress(f"{domain}: DKIM rotation started")
    except RotationInProgress:
        started = False
        console().progress(f"{domain}: a DKIM rotation is already pending (ErrorCode 505); nothing changed")
    registration = _from_details(
        domain, registration.domain_id, client.get_domain(registration.domain_id), created=False, updated=False
    )
    if registration.key("pending") is None:
        raise ArdaMailError(
            f"Postmark accepted the DKIM rotation of {domain} but reports no pending key; "
            "check the domain in Postmark's UI before deploying"
        )
    return Rotation(registration, started)
