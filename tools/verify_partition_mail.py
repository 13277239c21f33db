"""Prove that a deployed partition's mail domain works: DNS as intended, Postmark verified.

    python tools/verify_partition_mail.py <infrastructure> <partition>
        [--resolver IP[:PORT]] [--wait SECONDS] [--no-postmark] [--json] [--profile P] [--debug]

The `dig` checks and Postmark's verdict in one command. Each row carries its
V-check ID from docs/verification.md, PASS or FAIL, and one line saying what was
expected and what was found. Exit 0 only when every check passes.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from the checkout

from instances.registry import PartitionConfig, load_registry  # noqa: E402
from templates.dkim import join_txt_strings  # noqa: E402
from templates.mail_dns import RETURN_PATH_TARGET, SPF_VALUE, dmarc_value, return_path_domain  # noqa: E402
from templates.partition_email import (  # noqa: E402
    DKIM_SLOT_NUMBERS,
    EXPORTED_OUTPUTS,
    O_ZONE_ID,
    dkim_selector_parameter,
    dkim_value_parameter,
)
from tools.lib.cli import report_error, report_unexpected  # noqa: E402
from tools.lib.errors import ArdaMailError  # noqa: E402
from tools.lib.logger import redact, setup_logging  # noqa: E402

LOG = logging.getLogger("verify")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_CODES = """exit codes:
  0  every check passed
  1  at least one check failed, or AWS / 1Password / Postmark could not be read
  2  bad arguments, unknown infrastructure or partition, bad instance config"""

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
        import dns.resolver

        self.resolver = dns.resolver.Resolver(configure=resolver_spec is None)
        if resolver_spec:
            host, _, port = resolver_spec.partition(":")
            self.resolver.nameservers = [host]
            self.resolver.port = int(port or 53)
        self.resolver.lifetime = 5.0
        self.resolver.cache = None

    def query(self, name: str, kind: str) -> list[str]:
        """Record data for ``name``/``kind``: TXT strings joined, names lowercased without the dot."""
        import dns.exception
        import dns.resolver

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


def run_dns_checks(checks, dns: Dns, wait: float, sleep=time.sleep, clock=time.monotonic) -> list[Check]:
    """Run every check; with ``wait`` > 0 retry the failed ones with backoff until time runs out."""
    results = {i: check(dns) for i, check in enumerate(checks)}
    deadline = clock() + wait
    delay = 1.0
    while wait > 0 and not all(r.passed for r in results.values()) and clock() < deadline:
        pause = min(delay, max(0.0, deadline - clock())) * random.uniform(0.8, 1.0)
        LOG.info(
            "waiting %.1fs for %d DNS check(s) to pass (propagation)",
            pause,
            sum(not r.passed for r in results.values()),
        )
        sleep(pause)
        delay = min(delay * 2, 30.0)
        for i, check in enumerate(checks):
            if not results[i].passed:
                results[i] = check(dns)
    return [results[i] for i in range(len(checks))]


def deploy_command(config: PartitionConfig) -> str:
    """The command that brings the stack's DNS in line with Postmark."""
    return f"python deploy.py {config.infrastructure.name} {config.partition.value}"


def read_stack(config: PartitionConfig, profile: str | None) -> tuple[list[str], dict[str, str]]:
    """The zone's name servers (through the stack's exports) and the deployed DKIM parameters."""
    from tools.lib.aws_errors import aws_call
    from tools.lib.aws_session import BOTO_CONFIG, open_session

    where = config.stack_name
    session = open_session(profile, config.infrastructure.region, where)
    with aws_call("reading the stack", where):
        stacks = session.client("cloudformation", config=BOTO_CONFIG).describe_stacks(StackName=where)["Stacks"]
    stack = stacks[0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [name for name in EXPORTED_OUTPUTS if name not in outputs]
    if missing:
        raise ArdaMailError(f"{where}: the stack lacks the exports {', '.join(missing)}; deploy it first")
    with aws_call("route53 get-hosted-zone", where):
        zone = session.client("route53", config=BOTO_CONFIG).get_hosted_zone(Id=outputs[O_ZONE_ID])
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
    return zone["DelegationSet"]["NameServers"], parameters


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


def postmark_registration(config: PartitionConfig):
    """A Postmark client and what Postmark holds for the domain (read-only)."""
    from tools.lib import op_resolver
    from tools.lib.postmark_client import PostmarkClient
    from tools.lib.registration import lookup_registration

    client = PostmarkClient(op_resolver.resolve(config.postmark_token_ref))
    registration = lookup_registration(client, config.mail_domain)
    if registration is None:
        raise ArdaMailError(
            f"{config.stack_name}: {config.mail_domain} is not registered with Postmark; run: "
            f"python tools/register_partition_mail_signature.py {config.infrastructure.name} {config.partition.value}"
        )
    return client, registration


def postmark_verdict(client, registration, next_deploy: str) -> list[Check]:
    """Ask Postmark to verify DKIM and Return-Path now, then read its verdict.

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
    ]


def verify(config: PartitionConfig, args: argparse.Namespace, dns: Dns) -> list[Check]:
    """Every check for one partition: DNS first, then Postmark's verdict on it."""
    name_servers, parameters = read_stack(config, args.profile)
    if args.no_postmark:
        client = registration = None
        keys = dkim_from_parameters(config, parameters)
    else:
        client, registration = postmark_registration(config)
        keys = dkim_from_registration(registration)
    next_deploy = deploy_command(config)
    results = run_dns_checks(_dns_checks(config, name_servers, keys, next_deploy), dns, args.wait)
    if registration is not None:
        results += postmark_verdict(client, registration, next_deploy)
    return results


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="verify_partition_mail.py",
        description="Check a deployed partition's mail DNS and Postmark's verification.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("infrastructure", help="e.g. Alpha002")
    parser.add_argument("partition", help="dev, stage, demo or prod")
    parser.add_argument("--resolver", metavar="IP[:PORT]", help="send every DNS query to this server")
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="retry failed DNS checks this long")
    parser.add_argument("--no-postmark", action="store_true", help="DNS only; DKIM expected from the stack")
    parser.add_argument("--json", action="store_true", help='print {"checks": [...]} instead of a table')
    parser.add_argument("--profile", help="AWS profile (default: the standard boto3 chain)")
    parser.add_argument("--debug", action="store_true", help="verbose logs and tracebacks (secrets stay redacted)")
    args = parser.parse_args(argv)
    if args.wait < 0:
        parser.error(f"--wait must be zero or more seconds, got: {args.wait:g}")
    if args.resolver:
        host, _, port = args.resolver.partition(":")
        import ipaddress

        try:
            ipaddress.ip_address(host)
            if port and not 0 < int(port) < 65536:
                raise ValueError
        except ValueError:
            parser.error(f"--resolver must be IP[:PORT] such as 127.0.0.1:5353, got: {args.resolver!r}")
    return args


def render_table(config: PartitionConfig, checks: list[Check]) -> str:
    """The rows as an aligned table with a summary line."""
    widths = [max(len(c.id) for c in checks), max(len(c.check) for c in checks)]
    lines = [f"{c.id:<{widths[0]}}  {c.check:<{widths[1]}}  {c.status}  {c.detail}" for c in checks]
    failed = sum(not c.passed for c in checks)
    lines.append(f"{config.stack_name}: {len(checks) - failed}/{len(checks)} checks passed")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point: the checks, then an exit code."""
    args = parse_args(argv)
    setup_logging(args.debug)
    config = None
    try:
        config = load_registry().lookup(args.infrastructure, args.partition)
        checks = verify(config, args, Dns(args.resolver))
    except ArdaMailError as exc:
        return report_error("verify", exc, config.stack_name if config else None)
    except Exception as exc:  # noqa: BLE001 - the one top-level handler: one redacted line, never a traceback
        return report_unexpected("verify", exc, config.stack_name if config else None)
    if args.json:
        print(json.dumps({"checks": [asdict(c) for c in checks]}, indent=2))
    else:
        print(redact(render_table(config, checks)))
    return EXIT_OK if all(c.passed for c in checks) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
