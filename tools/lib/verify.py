"""Prove that a deployed partition's mail domain works: DNS as intended, Postmark verified.

The checks behind ``tools/verify_partition_mail.py``: each row carries its V-check
ID from docs/verification.md, PASS or FAIL, and one line saying what was expected,
what was found and what to do. DNS checks are closures, so ``--wait`` re-runs only
the failed ones; the clock is handed in, so tests never wait.

Every wait is a ``tools.lib.poll.poll`` against one deadline (``--wait`` seconds from the
start of the checks): DNS rounds, then Postmark rounds. Each round is given the time
left, but never less than one look (``DNS_LOOK_SECONDS``, ``POSTMARK_LOOK_SECONDS``),
and bounds every query and call in it by that: the DNS queries of a round run at once,
each with that lifetime; the Postmark calls of a round share it. The last round starts
early enough to end by the deadline; so ``--wait 0`` with a resolver that never answers
is one DNS look (about ``DNS_LOOK_SECONDS``), not a timeout per query.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

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
from tools.lib import threads
from tools.lib.aws.clients import Aws
from tools.lib.aws.cloudformation import Stack, outputs, parameter_values
from tools.lib.clock import REAL, Clock
from tools.lib.errors import ArdaMailError, UsageError
from tools.lib.next_commands import MAX_WAIT_SECONDS, NextCommands
from tools.lib.output import console
from tools.lib.poll import Backoff, poll
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

# One DNS query's lifetime at most (dnspython's default lifetime).
QUERY_SECONDS = 5.0
# The least a round is given (with --wait 0, or at the deadline): one look, each query its full lifetime.
DNS_LOOK_SECONDS = QUERY_SECONDS
# The least a round of Postmark calls (verifyDkim, verifyReturnPath, the domain) is given: several attempts each.
POSTMARK_LOOK_SECONDS = 30.0
# Propagation: look again soon, then less and less often; jitter so that verifies run together do not ask in step.
DNS_BACKOFF = Backoff(1.0, factor=2.0, cap=30.0, jitter=0.2)
# Postmark looks DNS up itself, on its own schedule: ask it less often.
POSTMARK_BACKOFF = Backoff(5.0, factor=2.0, cap=60.0)

# What a failing row asks of the operator, most urgent first (the error line names the first that applies).
RESOLVER, DEPLOY, WAIT = "resolver", "deploy", "wait"


def check_wait(seconds: float) -> None:
    """``--wait`` must be a finite number of seconds from 0 to ``MAX_WAIT_SECONDS`` (nan and inf are neither)."""
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise UsageError(f"--wait must be 0 to {MAX_WAIT_SECONDS:g} seconds, got: {seconds:g}")


class ChecksFailed(ArdaMailError):
    """At least one check failed: the table says which and why, the error line names them and the next step."""


@dataclass(frozen=True)
class Check:
    """One verified fact."""

    id: str
    check: str
    status: str
    detail: str
    # What a failure asks of the operator (RESOLVER, DEPLOY, WAIT; "" when the detail is all there is to say).
    remedy: str = field(default="", compare=False)

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    def to_dict(self) -> dict[str, str]:
        """The row as ``--json`` and the rollout's evidence hold it."""
        return {"id": self.id, "check": self.check, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class DkimExpectation:
    """A DKIM key that must be in DNS (or, ``present=False``, must have left it): where and what."""

    state: str
    host: str
    value: str
    present: bool = True


class Dns:
    """Small dnspython wrapper: answers as lists of strings, absence as an empty list.

    ``within(seconds)`` is the same resolver with each query bounded by that many
    seconds; every answer is remembered, so ``replaying()`` can check new expectations
    against what DNS just said without asking again.
    """

    def __init__(self, resolver_spec: str | None) -> None:
        self.resolver = dns.resolver.Resolver(configure=resolver_spec is None)
        if resolver_spec:
            host, _, port = resolver_spec.partition(":")
            self.resolver.nameservers = [host]
            self.resolver.port = int(port or 53)
        self.resolver.lifetime = QUERY_SECONDS
        self.resolver.cache = None
        self.lifetime = QUERY_SECONDS
        self.replay = False
        self.answers: dict[tuple[str, str], list[str]] = {}  # shared by every view

    def describe(self) -> str:
        """Which resolver answers: ``127.0.0.1:5353``, or the system's."""
        if self.resolver.nameservers and getattr(self.resolver, "port", 53) != 53:
            return f"{self.resolver.nameservers[0]}:{self.resolver.port}"
        return ", ".join(str(n) for n in self.resolver.nameservers) or "the system resolver"

    def within(self, seconds: float) -> Dns:
        """This resolver, each query given at most ``seconds`` (and never more than ``QUERY_SECONDS``)."""
        view = copy.copy(self)
        view.lifetime = max(0.001, min(QUERY_SECONDS, seconds))
        return view

    def replaying(self) -> Dns:
        """This resolver, answering a question already asked with its last answer."""
        view = copy.copy(self)
        view.replay = True
        return view

    def query(self, name: str, kind: str) -> list[str]:
        """Record data for ``name``/``kind``: TXT strings joined, names lowercased without the dot."""
        key = (name.lower().rstrip("."), kind)
        if self.replay and key in self.answers:
            return list(self.answers[key])
        found = self._ask(name, kind)
        self.answers[key] = found
        return list(found)

    def _ask(self, name: str, kind: str) -> list[str]:
        try:
            answer = self.resolver.resolve(name, kind, raise_on_no_answer=False, lifetime=self.lifetime)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
            return []
        except dns.exception.Timeout:
            # Shown as what was found, so the row fails with the reason in its detail.
            return [f"{NO_ANSWER} {self.lifetime:.3g}s>"]
        if answer.rrset is None:
            return []
        if kind == "TXT":
            return [b"".join(r.strings).decode("utf-8", "replace") for r in answer.rrset]
        return [r.to_text().lower().rstrip(".") for r in answer.rrset]


NO_ANSWER = "<no answer within"


def _unanswered(found: list[str]) -> bool:
    """The resolver did not answer the question in time (not: it answered "nothing")."""
    return any(f.startswith(NO_ANSWER) for f in found)


def _at_once(calls: list[Callable[[], Check]]) -> list[Check]:
    """Each call in a thread of its own, all waited for: a round of queries lasts as long as its slowest one.

    Every call is a DNS query bounded by its lifetime, so the joins end; a failure is
    raised here, in the caller's thread, where the frame reports it.
    """
    if len(calls) <= 1:
        return [call() for call in calls]
    results: list[Check | None] = [None] * len(calls)
    failures: list[BaseException] = []

    def run(index: int, call: Callable[[], Check]) -> None:
        try:
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - handed to the caller's thread and raised there
            failures.append(exc)

    for thread in [threads.start(run, i, call) for i, call in enumerate(calls)]:
        thread.join()
    if failures:
        raise failures[0]
    return [r for r in results if r is not None]


def _dns_checks(
    config: PartitionConfig, name_servers: list[str], dkim: list[DkimExpectation], commands: NextCommands
) -> list[Callable[[Dns], Check]]:
    """One closure per DNS check, so --wait can re-run just the failed ones."""
    domain = config.mail_domain
    dmarc = dmarc_value(config.dmarc_policy, config.dmarc_report_address)
    report_domain = config.dmarc_report_address.split("@", 1)[1]
    return_path = return_path_domain(domain)

    def ns(dns: Dns) -> Check:
        expected = sorted(n.lower().rstrip(".") for n in name_servers)
        found = sorted(dns.query(domain, "NS"))
        return _row(dns, V_NS, f"NS delegation of {domain}", found == expected, _detail(expected, found), found)

    def spf(dns: Dns) -> Check:
        answer = dns.query(domain, "TXT")
        found = [t for t in answer if t.startswith("v=spf1")] or [t for t in answer if t.startswith(NO_ANSWER)]
        return _row(dns, V_SPF, f"SPF TXT at {domain}", found == [SPF_VALUE], _detail([SPF_VALUE], found), found)

    def dmarc_check(dns: Dns) -> Check:
        found = dns.query(f"_dmarc.{domain}", "TXT")
        return _row(dns, V_DMARC, f"DMARC TXT at _dmarc.{domain}", found == [dmarc], _detail([dmarc], found), found)

    def dkim_check(key: DkimExpectation) -> Callable[[Dns], Check]:
        def run(dns: Dns) -> Check:
            found = dns.query(key.host, "TXT")
            if not key.present:
                ok = key.value not in found
                return _row(
                    dns,
                    V_DKIM_REMOVED,
                    f"DKIM (revoked, safe to remove) gone from {key.host}",
                    ok,
                    _detail(["nothing"], [_short(f) for f in found]),
                    found,
                    f"; Postmark says the revoked key is safe to remove: run {commands.deploy()}",
                    DEPLOY,
                )
            ok = key.value in found
            detail = _detail([_short(key.value)], [_short(f) for f in found])
            if ok and key.state == "revoked":
                detail += "; keep it until Postmark says SafeToRemoveRevokedKeyFromDNS"
            return _row(
                dns,
                DKIM_CHECK_IDS.get(key.state, V_DKIM),
                f"DKIM ({key.state}) TXT at {key.host}",
                ok,
                detail,
                found,
                f"; publish it: run {commands.deploy()}, then {commands.verify()}",
                DEPLOY,
            )

        return run

    def return_path_check(dns: Dns) -> Check:
        found = dns.query(return_path, "CNAME")
        ok = found == [RETURN_PATH_TARGET]
        detail = _detail([RETURN_PATH_TARGET], found)
        return _row(dns, V_RETURN_PATH, f"Return-Path CNAME at {return_path}", ok, detail, found)

    def report_auth(dns: Dns) -> Check:
        host = f"{domain}._report._dmarc.{report_domain}"
        found = dns.query(host, "TXT")
        ok = any(t.replace(" ", "").startswith("v=DMARC1") for t in found)
        advice = f"; without it {report_domain} receives no aggregate reports for {domain} (RFC 7489 §7.1)"
        return _row(dns, V_REPORT_AUTH, f"DMARC report authorisation at {host}", ok, _detail(["v=DMARC1"], found),
                    found, advice)  # fmt: skip

    checks = [ns, spf, dmarc_check, *(dkim_check(k) for k in dkim), return_path_check]
    if report_domain != domain and not report_domain.endswith("." + domain):
        checks.append(report_auth)
    return checks


def _row(
    dns: Dns, check_id: str, check: str, ok: bool, detail: str, found: list[str], advice: str = "", remedy: str = ""
) -> Check:
    """A DNS row; a failure gets ``advice`` and ``remedy``, unless the resolver did not answer at all."""
    if ok:
        return Check(check_id, check, "PASS", detail)
    if _unanswered(found):
        # Nothing is known about the record: deploying or waiting for propagation may be wrong advice.
        return Check(check_id, check, "FAIL", f"{detail}; {dns.describe()} did not answer in time", RESOLVER)
    return Check(check_id, check, "FAIL", detail + advice, remedy)


def _status(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _short(text: str, keep: int = 24) -> str:
    return text if len(text) <= 2 * keep + 3 else f"{text[:keep]}...{text[-keep:]} ({len(text)} chars)"


def _detail(expected: list[str], found: list[str]) -> str:
    def show(values: list[str]) -> str:
        return ", ".join(repr(v) for v in values) if values else "nothing"

    return f"expected {show(expected)}; found {show(found)}"


def run_dns_checks(checks, dns: Dns, *, clock: Clock = REAL, deadline: float) -> list[Check]:
    """Every check; the failed ones again, with backoff, until all pass or ``deadline`` comes (one round at least).

    Each round is given the time left (at least ``DNS_LOOK_SECONDS``), and its queries
    run at once, each bounded by it.
    """
    results: list[Check | None] = [None] * len(checks)

    def round_(budget: float) -> list[Check]:
        todo = [i for i, row in enumerate(results) if row is None or not row.passed]
        bounded = dns.within(budget)
        for i, row in zip(todo, _at_once([_bind(checks[i], bounded) for i in todo]), strict=True):
            results[i] = row
        return [row for row in results if row is not None]

    def waiting(rows: list[Check], elapsed: float, pause: float) -> None:
        failing = ", ".join(sorted({r.id for r in rows if not r.passed}))
        console().progress(f"waiting {pause:.1f}s for {failing} to pass through {dns.describe()} (propagation)")

    return poll(
        round_,
        clock=clock,
        deadline=deadline,
        interval=DNS_BACKOFF,
        done=lambda rows: all(r.passed for r in rows),
        least=DNS_LOOK_SECONDS,
        heartbeat=waiting,
    ).value


def _bind(check: Callable[[Dns], Check], dns: Dns) -> Callable[[], Check]:
    return lambda: check(dns)


def negative_caching_seconds(config: PartitionConfig, aws: Aws, zone_id: str) -> int | None:
    """How long a resolver may cache "no such record" for the zone: min(SOA TTL, SOA MINIMUM) (RFC 2308 §5)."""
    listed = aws.call(
        "route53",
        "list_resource_record_sets",
        what="(SOA)",
        HostedZoneId=zone_id,
        StartRecordName=config.mail_domain,
        StartRecordType="SOA",
        MaxItems="1",
    )["ResourceRecordSets"]
    for record in listed:
        fields = (record.get("ResourceRecords") or [{}])[0].get("Value", "").split()
        if record.get("Type") == "SOA" and len(fields) == 7 and fields[6].isdigit():
            return min(int(record.get("TTL", 0)), int(fields[6]))
    return None


def read_stack(config: PartitionConfig, aws: Aws) -> tuple[list[str], dict[str, str], str]:
    """The zone's name servers (through the stack's exports), the deployed DKIM parameters, the zone's ID."""
    where = config.stack_name
    stack = Stack(aws, where).describe()
    if stack is None:
        raise ArdaMailError(f"{where}: no such stack; deploy it first")
    found = outputs(stack)
    missing = [name for name in EXPORTED_OUTPUTS if name not in found]
    if missing:
        raise ArdaMailError(f"{where}: the stack lacks the exports {', '.join(missing)}; deploy it first")
    zone = aws.call("route53", "get_hosted_zone", Id=found[O_ZONE_ID])
    return zone["DelegationSet"]["NameServers"], parameter_values(stack), found[O_ZONE_ID]


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


def postmark_verdict(client, registration, commands: NextCommands) -> tuple[list[Check], dict]:
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
        advice, remedy = "", ""
    elif pending:
        advice = (
            f"; Postmark has not yet seen the pending key at {pending}: if its DNS row above fails, run "
            f"{commands.deploy()}; otherwise wait for DNS to propagate: {commands.verify()}"
        )
        remedy = WAIT
    else:
        advice, remedy = "; check the domain's DKIM in Postmark's UI", ""
    rp_ok = details.get("ReturnPathDomainVerified") is True
    rp_advice = "" if rp_ok else f"; check the Return-Path row above, wait for DNS, and rerun: {commands.verify()}"
    return [
        Check(
            V_POSTMARK_DKIM,
            "Postmark DKIM verified",
            _status(dkim_ok),
            f"expected DKIMVerified true and DKIMUpdateStatus 'Verified'; {found} "
            f"(domain ID {registration.domain_id}){advice}",
            remedy,
        ),
        Check(
            V_POSTMARK_RETURN_PATH,
            "Postmark Return-Path verified",
            _status(rp_ok),
            f"expected ReturnPathDomainVerified true; found {str(rp_ok).lower()}{rp_advice}",
            "" if rp_ok else WAIT,
        ),
    ], details


def published_names(aws: Aws, zone_id: str) -> set[str]:
    """Every record name the partition's zone holds in Route 53 (what is published, whatever DNS shows)."""
    listed = aws.items("route53", "list_resource_record_sets", "ResourceRecordSets", HostedZoneId=zone_id)
    return {r["Name"].lower().rstrip(".") for r in listed}


def _explain_missing(
    config: PartitionConfig, aws: Aws, zone_id: str, wait: float, results: list[Check], dns: Dns, commands: NextCommands
) -> list[Check]:
    """Rows of records DNS did not show: published in Route 53 but not visible yet, or not published at all."""
    missing = [r for r in results if not r.passed and r.detail.split("; found ", 1)[-1].startswith("nothing")]
    if not missing:
        return results
    published = published_names(aws, zone_id)
    negative = negative_caching_seconds(config, aws, zone_id)
    explained = []
    for row in results:
        if row not in missing:
            explained.append(row)
            continue
        host = row.check.rsplit(" at ", 1)[-1].lower().rstrip(".")
        detail, remedy = row.detail, row.remedy
        if host in published:  # the advice to deploy was wrong: Route 53 holds it, DNS does not show it yet
            detail = detail.split("; publish it:", 1)[0]
            detail += f"; Route 53 holds it, but {dns.describe()} does not show it yet"
            remedy = WAIT
        if negative and wait < negative:
            cached = (
                f"; a resolver that asked before the record was published may answer 'not found' for up to "
                f"{negative}s (the zone's SOA, RFC 2308)"
            )
            if negative + 60 <= MAX_WAIT_SECONDS:
                detail += f"{cached}: rerun {commands.verify(negative + 60)} before concluding"
            else:
                detail += f"{cached}: wait that long, then rerun {commands.verify(MAX_WAIT_SECONDS)}"
        explained.append(replace(row, detail=detail, remedy=remedy))
    return explained


def verify(
    config: PartitionConfig,
    aws: Aws,
    dns: Dns,
    *,
    wait: float,
    postmark: bool = True,
    clock: Clock = REAL,
    commands: NextCommands | None = None,
) -> list[Check]:
    """Every check for one partition: DNS first, then Postmark's verdict on it, all within ``wait`` seconds.

    ``commands`` are what the rows' advice names (default: this partition's, plain).
    """
    commands = commands or NextCommands.for_run(config.infrastructure.name, config.partition.value)
    name_servers, parameters, zone_id = read_stack(config, aws)
    if postmark:
        client, registration = postmark_registration(config, clock)
        keys = dkim_from_registration(registration)
    else:
        client = registration = None
        keys = dkim_from_parameters(config, parameters)
    deadline = clock.monotonic() + wait
    results = run_dns_checks(_dns_checks(config, name_servers, keys, commands), dns, clock=clock, deadline=deadline)
    verdict: list[Check] = []
    if registration is not None:
        dns_ok = all(r.passed for r in results)

        def ask(budget: float) -> tuple[list[Check], dict]:
            with client.within(budget):
                return postmark_verdict(client, registration, commands)

        def waiting(answer, elapsed: float, pause: float) -> None:
            console().progress(
                f"waiting {pause:.0f}s for Postmark to verify {config.mail_domain} (it looks DNS up itself)"
            )

        # Postmark looks DNS up itself, later than we did: under --wait, ask it again until it agrees.
        # While our own DNS rows fail, once is enough: Postmark cannot see what is not there.
        verdict, details = poll(
            ask,
            clock=clock,
            deadline=deadline,
            interval=POSTMARK_BACKOFF,
            done=lambda answer: not dns_ok or all(c.passed for c in answer[0]),
            least=POSTMARK_LOOK_SECONDS,
            heartbeat=waiting,
        ).value
        # Verifying can change each key's role (a pending key becomes active, the old one revoked):
        # the rows report the roles Postmark holds now, checked against what DNS just answered
        # (a host not asked yet is asked, once).
        final_keys = dkim_from_registration(registration_from(config.mail_domain, registration.domain_id, details))
        if final_keys != keys:
            checks = _dns_checks(config, name_servers, final_keys, commands)
            results = run_dns_checks(checks, dns.replaying(), clock=clock, deadline=-math.inf)
    # Once, on the DNS rows as reported: what Route 53 holds, how long negative caching may hide it.
    return _explain_missing(config, aws, zone_id, wait, results, dns, commands) + verdict


def failure(checks: list[Check], commands: NextCommands, dns: Dns, wait: float) -> ChecksFailed | None:
    """The error a run with failing rows ends with: which failed, and the one next step that applies first."""
    failed = [c for c in checks if not c.passed]
    if not failed:
        return None
    # Postmark's rows fail with the DNS rows they depend on: what those rows need comes first.
    dns_failed = [c for c in failed if c.id not in (V_POSTMARK_DKIM, V_POSTMARK_RETURN_PATH)]
    remedies = {c.remedy for c in dns_failed or failed}
    if RESOLVER in remedies:
        todo = f"{dns.describe()} did not answer in time: check it and the network, then rerun {commands.verify(wait)}"
    elif DEPLOY in remedies:
        todo = f"run {commands.deploy()}, then {commands.verify()}"
    elif WAIT in remedies:
        todo = f"DNS or Postmark has not caught up yet: {commands.verify()}"
    else:
        todo = "each failing row above says what was expected and what was found"
        todo += f"; once it is put right: {commands.verify()}"
    names = ", ".join(f"{c.id} {c.check}" for c in failed)
    return ChecksFailed(f"{len(failed)} check(s) failed: {names}; {todo}")
