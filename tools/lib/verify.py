"""Prove that a deployed partition's mail domain works: DNS as intended, Postmark verified.

The checks behind ``tools/verify_partition_mail.py``: each row carries its V-check
ID from docs/verification.md, PASS or FAIL, and one line saying what was expected,
what was found and what to do. DNS checks are closures, so ``--wait`` re-runs only
the failed ones; the clock is handed in, so tests never wait.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace

import dns.exception
import dns.resolver

from instances.registry import PartitionConfig
from templates.dkim import join_txt_strings
from templates.mail_dns import RETURN_PATH_TARGET, SPF_VALUE, dmarc_value, return_path_domain
from templates.partition_email import (
    DKIM_SLOT_NUMBERS,
    EXPORTED_OUTPUTS,
    O_ZONE_ID,
    dkim_selector_parameter,
    dkim_value_parameter,
)
from tools.lib.aws_errors import aws_call
from tools.lib.aws_session import BOTO_CONFIG
from tools.lib.clock import REAL, Clock
from tools.lib.deploy.cloudformation import outputs, parameter_values
from tools.lib.errors import ArdaMailError
from tools.lib.postmark_client import PostmarkClient
from tools.lib.registration import lookup_registration, registration_from

LOG = logging.getLogger("verify")

# V-check IDs of docs/verification.md that this tool proves, one per check kind.
V_NS = "V-PART-003"
V_SPF = "V-PART-004"
V_DMARC = "V-PART-005"
V_DKIM = "V-PART-006"
V_DKIM_PENDING = "V-PART-007"
V_RETURN_PATH = "V-PART-008"
V_REPORT_AUTH = "V-PART-009"
V_POSTMARK_DKIM = "V-PART-010"
V_POSTMARK_RETURN_PATH = "V-PART-011"
V_DKIM_REVOKED = "V-PART-021"
V_DKIM_REMOVED = "V-PART-022"
# The row of each key state; "slot <n>" keys (--no-postmark) are whatever the stack publishes.
DKIM_CHECK_IDS = {"active": V_DKIM, "pending": V_DKIM_PENDING, "revoked": V_DKIM_REVOKED}
CHECK_IDS = (
    V_NS,
    V_SPF,
    V_DMARC,
    V_DKIM,
    V_DKIM_PENDING,
    V_DKIM_REVOKED,
    V_DKIM_REMOVED,
    V_RETURN_PATH,
    V_REPORT_AUTH,
    V_POSTMARK_DKIM,
    V_POSTMARK_RETURN_PATH,
)


@dataclass(frozen=True)
class Check:
    """One verified fact."""

    id: str
    check: str
    status: str
    detail: str

    @property
    def passed(self) -> bool:
        return self.status == "PASS"


@dataclass(frozen=True)
class DkimExpectation:
    """A DKIM key that must be in DNS (or, ``present=False``, must have left it): where and what."""

    state: str
    host: str
    value: str
    present: bool = True


class Dns:
    """Small dnspython wrapper: answers as lists of strings, absence as an empty list."""

    def __init__(self, resolver_spec: str | None) -> None:
        self.resolver = dns.resolver.Resolver(configure=resolver_spec is None)
        if resolver_spec:
            host, _, port = resolver_spec.partition(":")
            self.resolver.nameservers = [host]
            self.resolver.port = int(port or 53)
        self.resolver.lifetime = 5.0
        self.resolver.cache = None

    def describe(self) -> str:
        """Which resolver answers: ``127.0.0.1:5353``, or the system's."""
        if self.resolver.nameservers and getattr(self.resolver, "port", 53) != 53:
            return f"{self.resolver.nameservers[0]}:{self.resolver.port}"
        return ", ".join(str(n) for n in self.resolver.nameservers) or "the system resolver"

    def query(self, name: str, kind: str) -> list[str]:
        """Record data for ``name``/``kind``: TXT strings joined, names lowercased without the dot."""
        try:
            answer = self.resolver.resolve(name, kind, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
            return []
        except dns.exception.Timeout:
            # Shown as what was found, so the row fails with the reason in its detail.
            return [f"<no answer within {self.resolver.lifetime:.0f}s>"]
        if answer.rrset is None:
            return []
        if kind == "TXT":
            return [b"".join(r.strings).decode("utf-8", "replace") for r in answer.rrset]
        return [r.to_text().lower().rstrip(".") for r in answer.rrset]


def _dns_checks(
    config: PartitionConfig, name_servers: list[str], dkim: list[DkimExpectation], next_deploy: str
) -> list[Callable[[Dns], Check]]:
    """One closure per DNS check, so --wait can re-run just the failed ones."""
    domain = config.mail_domain
    dmarc = dmarc_value(config.dmarc_policy, config.dmarc_report_address)
    report_domain = config.dmarc_report_address.split("@", 1)[1]
    return_path = return_path_domain(domain)

    def ns(dns: Dns) -> Check:
        expected = sorted(n.lower().rstrip(".") for n in name_servers)
        found = sorted(dns.query(domain, "NS"))
        ok = found == expected
        return Check(V_NS, f"NS delegation of {domain}", _status(ok), _detail(expected, found))

    def spf(dns: Dns) -> Check:
        found = [t for t in dns.query(domain, "TXT") if t.startswith("v=spf1")]
        ok = found == [SPF_VALUE]
        return Check(V_SPF, f"SPF TXT at {domain}", _status(ok), _detail([SPF_VALUE], found))

    def dmarc_check(dns: Dns) -> Check:
        found = dns.query(f"_dmarc.{domain}", "TXT")
        ok = found == [dmarc]
        return Check(V_DMARC, f"DMARC TXT at _dmarc.{domain}", _status(ok), _detail([dmarc], found))

    def dkim_check(key: DkimExpectation) -> Callable[[Dns], Check]:
        def run(dns: Dns) -> Check:
            found = dns.query(key.host, "TXT")
            if not key.present:
                ok = key.value not in found
                detail = _detail(["nothing"], [_short(f) for f in found])
                if not ok:
                    detail += f"; Postmark says the revoked key is safe to remove: run {next_deploy}"
                return Check(
                    V_DKIM_REMOVED, f"DKIM (revoked, safe to remove) gone from {key.host}", _status(ok), detail
                )
            ok = key.value in found
            detail = _detail([_short(key.value)], [_short(f) for f in found])
            if not ok:
                detail += f"; publish it: run {next_deploy}, then rerun this with --wait"
            elif key.state == "revoked":
                detail += "; keep it until Postmark says SafeToRemoveRevokedKeyFromDNS"
            return Check(
                DKIM_CHECK_IDS.get(key.state, V_DKIM), f"DKIM ({key.state}) TXT at {key.host}", _status(ok), detail
            )

        return run

    def return_path_check(dns: Dns) -> Check:
        found = dns.query(return_path, "CNAME")
        ok = found == [RETURN_PATH_TARGET]
        return Check(
            V_RETURN_PATH, f"Return-Path CNAME at {return_path}", _status(ok), _detail([RETURN_PATH_TARGET], found)
        )

    def report_auth(dns: Dns) -> Check:
        host = f"{domain}._report._dmarc.{report_domain}"
        found = dns.query(host, "TXT")
        ok = any(t.replace(" ", "").startswith("v=DMARC1") for t in found)
        detail = _detail(["v=DMARC1"], found)
        if not ok:
            detail += f"; without it {report_domain} receives no aggregate reports for {domain} (RFC 7489 §7.1)"
        return Check(V_REPORT_AUTH, f"DMARC report authorisation at {host}", _status(ok), detail)

    checks = [ns, spf, dmarc_check, *(dkim_check(k) for k in dkim), return_path_check]
    if report_domain != domain and not report_domain.endswith("." + domain):
        checks.append(report_auth)
    return checks


def _status(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _short(text: str, keep: int = 24) -> str:
    return text if len(text) <= 2 * keep + 3 else f"{text[:keep]}...{text[-keep:]} ({len(text)} chars)"


def _detail(expected: list[str], found: list[str]) -> str:
    def show(values: list[str]) -> str:
        return ", ".join(repr(v) for v in values) if values else "nothing"

    return f"expected {show(expected)}; found {show(found)}"


def run_dns_checks(checks, dns: Dns, wait: float, clock: Clock = REAL, deadline: float | None = None) -> list[Check]:
    """Run every check; with ``wait`` > 0 retry the failed ones with backoff until time runs out."""
    results = {i: check(dns) for i, check in enumerate(checks)}
    deadline = clock.monotonic() + wait if deadline is None else deadline
    delay = 1.0
    while wait > 0 and not all(r.passed for r in results.values()) and clock.monotonic() < deadline:
        pause = min(delay, max(0.0, deadline - clock.monotonic())) * random.uniform(0.8, 1.0)
        LOG.info(
            "waiting %.1fs for %s to pass through %s (propagation)",
            pause,
            ", ".join(sorted({r.id for r in results.values() if not r.passed})),
            dns.describe(),
        )
        clock.sleep(pause)
        delay = min(delay * 2, 30.0)
        for i, check in enumerate(checks):
            if not results[i].passed:
                results[i] = check(dns)
    return [results[i] for i in range(len(checks))]


def deploy_command(config: PartitionConfig) -> str:
    """The command that brings the stack's DNS in line with Postmark."""
    return f"python deploy.py {config.infrastructure.name} {config.partition.value}"


def negative_caching_seconds(config: PartitionConfig, session, zone_id: str) -> int | None:
    """How long a resolver may cache "no such record" for the zone: min(SOA TTL, SOA MINIMUM) (RFC 2308 §5)."""
    with aws_call("route53 list-resource-record-sets (SOA)", config.stack_name):
        listed = session.client("route53", config=BOTO_CONFIG).list_resource_record_sets(
            HostedZoneId=zone_id, StartRecordName=config.mail_domain, StartRecordType="SOA", MaxItems="1"
        )["ResourceRecordSets"]
    for record in listed:
        fields = (record.get("ResourceRecords") or [{}])[0].get("Value", "").split()
        if record.get("Type") == "SOA" and len(fields) == 7 and fields[6].isdigit():
            return min(int(record.get("TTL", 0)), int(fields[6]))
    return None


def read_stack(config: PartitionConfig, session) -> tuple[list[str], dict[str, str], str]:
    """The zone's name servers (through the stack's exports), the deployed DKIM parameters, the zone's ID."""
    where = config.stack_name
    with aws_call("reading the stack", where):
        client = session.client("cloudformation", region_name=config.infrastructure.region, config=BOTO_CONFIG)
        stacks = client.describe_stacks(StackName=where)["Stacks"]
    if not stacks:
        raise ArdaMailError(f"{where}: no such stack; deploy it first")
    found = outputs(stacks[0])
    missing = [name for name in EXPORTED_OUTPUTS if name not in found]
    if missing:
        raise ArdaMailError(f"{where}: the stack lacks the exports {', '.join(missing)}; deploy it first")
    with aws_call("route53 get-hosted-zone", where):
        zone = session.client("route53", config=BOTO_CONFIG).get_hosted_zone(Id=found[O_ZONE_ID])
    return zone["DelegationSet"]["NameServers"], parameter_values(stacks[0]), found[O_ZONE_ID]


def dkim_from_parameters(config: PartitionConfig, parameters: dict[str, str]) -> list[DkimExpectation]:
    """The DKIM keys the deployed stack publishes, slot by slot (for --no-postmark)."""
    keys = []
    for slot in DKIM_SLOT_NUMBERS:
        selector = parameters.get(dkim_selector_parameter(slot))
        if selector:
            host = f"{selector}._domainkey.{config.mail_domain}".lower()
            value = join_txt_strings(parameters.get(dkim_value_parameter(slot), ""))
            keys.append(DkimExpectation(f"slot {slot}", host, value))
    return keys


def dkim_from_registration(registration) -> list[DkimExpectation]:
    """Every key Postmark needs in DNS, and a revoked key it says may now leave DNS."""
    keys = [DkimExpectation(k.state, k.host, k.value) for k in registration.dkim_keys]
    gone = registration.removable_key
    if gone is not None and all(k.host != gone.host for k in registration.dkim_keys):
        keys.append(DkimExpectation("revoked", gone.host, gone.value, present=False))
    return keys


def postmark_registration(config: PartitionConfig, clock: Clock = REAL):
    """A Postmark client and what Postmark holds for the domain (read-only)."""
    client = PostmarkClient.resolved(config.postmark_token_ref, config.stack_name, clock)
    registration = lookup_registration(client, config.mail_domain)
    if registration is None:
        raise ArdaMailError(
            f"{config.stack_name}: {config.mail_domain} is not registered with Postmark; run: "
            f"python tools/register_partition_mail_signature.py {config.infrastructure.name} {config.partition.value}"
        )
    return client, registration


def postmark_verdict(client, registration, next_deploy: str) -> tuple[list[Check], dict]:
    """Ask Postmark to verify DKIM and Return-Path now, then read its verdict (and the domain as it now stands).

    ``DKIMVerified`` alone is not enough: it stays true after a record is removed and
    while a rotation's new key waits, so ``DKIMUpdateStatus`` must be ``Verified`` too.
    """
    client.verify_dkim(registration.domain_id)
    client.verify_return_path(registration.domain_id)
    details = client.get_domain(registration.domain_id)
    verified = details.get("DKIMVerified") is True
    update_status = str(details.get("DKIMUpdateStatus") or "")
    pending = str(details.get("DKIMPendingHost") or "")
    dkim_ok = verified and update_status == "Verified" and not pending
    found = f"found DKIMVerified {str(verified).lower()}, DKIMUpdateStatus {update_status or 'empty'!r}"
    if dkim_ok:
        advice = ""
    elif pending:
        advice = (
            f"; Postmark has not yet seen the pending key at {pending}: if its DNS row above fails, run "
            f"{next_deploy}; otherwise wait for DNS to propagate and rerun with --wait"
        )
    else:
        advice = "; check the domain's DKIM in Postmark's UI"
    rp_ok = details.get("ReturnPathDomainVerified") is True
    return [
        Check(
            V_POSTMARK_DKIM,
            "Postmark DKIM verified",
            _status(dkim_ok),
            f"expected DKIMVerified true and DKIMUpdateStatus 'Verified'; {found} "
            f"(domain ID {registration.domain_id}){advice}",
        ),
        Check(
            V_POSTMARK_RETURN_PATH,
            "Postmark Return-Path verified",
            _status(rp_ok),
            f"expected ReturnPathDomainVerified true; found {str(rp_ok).lower()}"
            + ("" if rp_ok else "; check the Return-Path row above, wait for DNS, and rerun with --wait"),
        ),
    ], details


def published_names(config: PartitionConfig, session, zone_id: str) -> set[str]:
    """Every record name the partition's zone holds in Route 53 (what is published, whatever DNS shows)."""
    with aws_call("route53 list-resource-record-sets", config.stack_name):
        pages = (
            session.client("route53", config=BOTO_CONFIG)
            .get_paginator("list_resource_record_sets")
            .paginate(HostedZoneId=zone_id, PaginationConfig={"MaxItems": 20_000})
        )
        return {r["Name"].lower().rstrip(".") for page in pages for r in page["ResourceRecordSets"]}


def _explain_missing(
    config: PartitionConfig, session, zone_id: str, wait: float, results: list[Check], dns: Dns | None = None
) -> list[Check]:
    """Rows of records DNS did not show: published in Route 53 but not visible yet, or not published at all."""
    missing = [r for r in results if not r.passed and r.detail.split("; found ", 1)[-1].startswith("nothing")]
    if not missing:
        return results
    published = published_names(config, session, zone_id)
    negative = negative_caching_seconds(config, session, zone_id)
    through = dns.describe() if dns is not None else "this resolver"
    explained = []
    for row in results:
        if row not in missing:
            explained.append(row)
            continue
        host = row.check.rsplit(" at ", 1)[-1].lower().rstrip(".")
        detail = row.detail
        if host in published:  # the advice to deploy was wrong: Route 53 holds it, DNS does not show it yet
            detail = detail.split("; publish it:", 1)[0] + f"; Route 53 holds it, but {through} does not show it yet"
        if negative and wait < negative:
            detail += (
                f"; a resolver that asked before the record was published may answer 'not found' for up to "
                f"{negative}s (the zone's SOA, RFC 2308): rerun with --wait {negative + 60} or more before concluding"
            )
        explained.append(replace(row, detail=detail))
    return explained


def verify(
    config: PartitionConfig, session, dns: Dns, *, wait: float, postmark: bool = True, clock: Clock = REAL
) -> list[Check]:
    """Every check for one partition: DNS first, then Postmark's verdict on it."""
    name_servers, parameters, zone_id = read_stack(config, session)
    if postmark:
        client, registration = postmark_registration(config, clock)
        keys = dkim_from_registration(registration)
    else:
        client = registration = None
        keys = dkim_from_parameters(config, parameters)
    next_deploy = deploy_command(config)
    deadline = clock.monotonic() + wait
    results = run_dns_checks(_dns_checks(config, name_servers, keys, next_deploy), dns, wait, clock, deadline)
    verdict: list[Check] = []
    if registration is not None:
        verdict, details = postmark_verdict(client, registration, next_deploy)
        delay = 5.0
        # Postmark looks DNS up itself, later than we did: under --wait, ask it again until it agrees.
        while (
            wait > 0
            and all(r.passed for r in results)
            and not all(c.passed for c in verdict)
            and clock.monotonic() < deadline
        ):
            LOG.info("waiting %.0fs for Postmark to verify %s (it looks DNS up itself)", delay, config.mail_domain)
            clock.sleep(min(delay, max(0.0, deadline - clock.monotonic())))
            delay = min(delay * 2, 60.0)
            verdict, details = postmark_verdict(client, registration, next_deploy)
        # Verifying can change each key's role (a pending key becomes active, the old one revoked):
        # the rows report the roles Postmark holds now, checked again through DNS if they changed.
        final_keys = dkim_from_registration(registration_from(config.mail_domain, registration.domain_id, details))
        if final_keys != keys:
            results = run_dns_checks(_dns_checks(config, name_servers, final_keys, next_deploy), dns, 0, clock)
    # Once, on the DNS rows as reported: what Route 53 holds, how long negative caching may hide it.
    return _explain_missing(config, session, zone_id, wait, results, dns) + verdict
