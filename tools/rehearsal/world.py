"""The rehearsal world on 127.0.0.1: AWS emulator, Postmark, DNS and ``op``, built from instances/.

- **AWS**: a moto server in this process with the documented CloudFormation
  patches (``moto_compat``). Each infrastructure's account is reached with
  assumed-role credentials of that account; the PlatformRoot account named in each
  ``delegation_role_arn`` holds the parent zone and the delegation role (created
  with a trust policy for the infrastructure accounts).
- **DNS**: ``Route53DnsServer`` answers from the emulator's zones, live, following
  the parent's delegations. Each DMARC report domain gets a zone of its own that
  authorises every partition's reports (RFC 7489 §7.1), as its owner would.
- **Postmark**: the stateful stand-in (``postmark.PostmarkStandIn``) with the DKIM
  lifecycle; ``verifyDkim`` and ``verifyReturnPath`` look records up in the world's
  DNS, so verification is earned, not granted.
- **1Password**: ``bin/op`` first on PATH, answering each instance's
  ``postmark_token_ref`` with a fake token from a file only this world knows.

``World.env(infrastructure)`` is everything a shell needs to run the runbook in it;
``World.set_latency(seconds)`` makes every AWS and Postmark request cost a round trip.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import tempfile
import threading
import uuid
from pathlib import Path

BIN = Path(__file__).resolve().parent / "bin"
REGION = "us-east-1"
# Credentials of the world's own process (moto's default account); never real ones.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAREHEARSAL0000000", "AWS_SECRET_ACCESS_KEY": "rehearsal-only-secret"}
# An account of its own for the DMARC report domains' owner.
REPORT_DOMAIN_ACCOUNT = "999900001111"


def populate(registry, *, empty: bool = False) -> dict[str, str]:
    """The accounts' fixed resources: parent zones with their delegation roles, report domains; each parent
    zone's ID by its name.

    Shared by the rehearsal world, the deploy benchmark and the end-to-end tests. ``empty``: the emulator was
    just reset, so nothing is looked up before it is made (five requests of sixteen, for every test's world).
    """
    zones = create_platform_roots(registry, empty=empty)
    create_operators(registry, empty=empty)
    create_report_domains(registry, empty=empty)
    return zones


def create_platform_roots(registry, *, empty: bool = False) -> dict[str, str]:
    """Each PlatformRoot account's parent zone and its delegation role, holding the documented policy; the zones'
    IDs by name."""
    from instances import rules
    from templates import permissions
    from tools.rehearsal.aws import client, staff

    accounts = [i.account_id for i in registry.infrastructures.values()]
    zones: dict[str, str] = {}
    made: set[tuple[str, str]] = set()  # (account, zone or role name): made by this call (infrastructures share)
    for infra in registry.infrastructures.values():
        account = rules.role_arn_account(infra.delegation_role_arn)
        route53 = client("route53", staff(account))
        if empty and (account, infra.parent_zone_name) in made:
            zone_id = zones[infra.parent_zone_name]
        else:
            listed = [] if empty else route53.list_hosted_zones_by_name(DNSName=infra.parent_zone_name)["HostedZones"]
            found = [z["Id"] for z in listed if z["Name"].rstrip(".") == infra.parent_zone_name]
            if found:
                zone_id = found[0].split("/")[-1]
            else:
                created = route53.create_hosted_zone(Name=infra.parent_zone_name, CallerReference=str(uuid.uuid4()))
                zone_id = created["HostedZone"]["Id"].split("/")[-1]
        role_name = infra.delegation_role_arn.split(":role/", 1)[1].split("/")[-1]
        trust = permissions.as_dict(permissions.delegation_role_trust(accounts))
        policy = permissions.as_dict(permissions.delegation_role_policy(zone_id, infra.parent_zone_name))
        fresh = empty and (account, role_name) not in made
        _put_role(client("iam", staff(account)), role_name, trust, policy, empty=fresh)
        zones[infra.parent_zone_name] = zone_id
        made |= {(account, infra.parent_zone_name), (account, role_name)}
    return zones


def create_operators(registry, *, empty: bool = False) -> None:
    """Each infrastructure account's operator role, holding exactly the documented operator policy."""
    from templates import permissions
    from tools.rehearsal.aws import OPERATOR_ROLE_NAME, client, staff

    made: set[str] = set()  # the accounts whose operator role this call made
    for infra in registry.infrastructures.values():
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{infra.account_id}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        policy = permissions.as_dict(permissions.operator_policy(infra.account_id, infra.region, infra.name))
        fresh = empty and infra.account_id not in made
        _put_role(client("iam", staff(infra.account_id)), OPERATOR_ROLE_NAME, trust, policy, empty=fresh)
        made.add(infra.account_id)


def _put_role(iam, name: str, trust: dict, policy: dict, *, empty: bool = False) -> None:
    """A role with one inline policy, created (``empty``: IAM holds no role yet) or brought back to exactly
    these documents."""
    if empty or not any(r["RoleName"] == name for r in iam.list_roles()["Roles"]):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    else:
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=name, PolicyName="documented", PolicyDocument=json.dumps(policy))


def create_report_domains(registry, *, empty: bool = False) -> None:
    """Each DMARC report domain's zone, authorising every partition's reports (RFC 7489 §7.1)."""
    from tools.rehearsal.aws import change_record, client, staff

    route53 = client("route53", staff(REPORT_DOMAIN_ACCOUNT))
    zones: dict[str, str] = {}
    for config in registry.partitions.values():
        report_domain = config.dmarc_report_address.split("@", 1)[1]
        if report_domain == config.mail_domain or report_domain.endswith("." + config.mail_domain):
            continue
        if report_domain not in zones:
            listed = [] if empty else route53.list_hosted_zones_by_name(DNSName=report_domain)["HostedZones"]
            found = [z["Id"] for z in listed if z["Name"].rstrip(".") == report_domain]
            if found:
                zones[report_domain] = found[0]
            else:
                created = route53.create_hosted_zone(Name=report_domain, CallerReference=str(uuid.uuid4()))
                zones[report_domain] = created["HostedZone"]["Id"]
        name = f"{config.mail_domain}._report._dmarc.{report_domain}"
        change_record(route53, zones[report_domain], "UPSERT", name, "TXT", ['"v=DMARC1"'])


def delegated(parent_zone: str, name: str) -> bool:
    """Whether the emulator's parent zone holds an NS record for ``name``."""
    from tools.rehearsal.dns import Route53Resolver

    parent = Route53Resolver().authority(parent_zone)
    return parent is not None and bool(Route53Resolver.records(parent, name, "NS"))


def free_port() -> int:
    """A port no one on 127.0.0.1 listens on now (TCP; the DNS server retries UDP clashes)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class World:
    """Start, describe and stop the local world for the instances under ``instances_root``."""

    def __init__(self, instances_root: Path | None = None) -> None:
        from instances.registry import DEFAULT_ROOT, load_registry

        self.registry = load_registry(instances_root or DEFAULT_ROOT)
        self.scratch = tempfile.TemporaryDirectory(prefix="arda-rehearsal-")
        self.moto = None
        self.moto_url = ""
        self.postmark = None
        self.postmark_url = ""
        self._postmark_server = None
        self.dns = None
        self.secrets_file = Path(self.scratch.name) / "op-secrets.json"
        self.tokens: dict[str, str] = {}

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> World:
        """Start every server and create the accounts' fixed resources."""
        self._start_aws()
        self._start_dns()
        self._start_postmark()
        self._write_op_secrets()
        populate(self.registry)
        return self

    def stop(self) -> None:
        """Stop every server (idempotent) and forget the scratch files."""
        if self._postmark_server is not None:
            self._postmark_server.shutdown()
            self._postmark_server.server_close()
            self._postmark_server = None
        if self.dns is not None:
            self.dns.stop()
            self.dns = None
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        self.scratch.cleanup()

    def __enter__(self) -> World:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- the servers ------------------------------------------------------------------

    def _start_aws(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

        from tools.rehearsal import moto_compat

        moto_compat.apply()
        port = free_port()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.moto.start()
        self.moto_url = f"http://127.0.0.1:{port}"
        # This process's own boto3 calls (and the custom resource's handler, which runs
        # inside the emulator) go to the emulator, never to AWS.
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            os.environ.pop(name, None)
        os.environ.update(
            # moto's catalogue of public AMIs, loaded again for every account the purge's region listing touches:
            # nothing of the world is an EC2 instance.
            MOTO_EC2_LOAD_DEFAULT_AMIS="false",
            AWS_ENDPOINT_URL=self.moto_url,
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            **LOCAL_CREDENTIALS,
        )

    def _start_dns(self) -> None:
        from tools.rehearsal.dns import Route53DnsServer

        for _ in range(5):
            try:
                self.dns = Route53DnsServer(free_port())
                self.dns.start()
                return
            except OSError:  # the UDP twin of a free TCP port can be taken: try another
                self.dns = None
        raise RuntimeError("no free port for the DNS server on 127.0.0.1")

    def _start_postmark(self) -> None:
        from werkzeug.serving import make_server
        from werkzeug.wrappers import Request

        from tools.rehearsal.postmark import PostmarkStandIn, dns_lookup

        self.postmark = PostmarkStandIn(lookup=dns_lookup("127.0.0.1", self.dns.port))
        self._postmark_server = make_server("127.0.0.1", 0, Request.application(self.postmark.handle), threaded=True)
        self.postmark_url = f"http://127.0.0.1:{self._postmark_server.server_port}"
        threading.Thread(target=self._postmark_server.serve_forever, daemon=True).start()

    def _write_op_secrets(self) -> None:
        for config in self.registry.partitions.values():
            ref = config.postmark_token_ref
            self.tokens.setdefault(ref, f"rehearsal-{secrets.token_hex(16)}")
        self.secrets_file.write_text(json.dumps(self.tokens), encoding="utf-8")
        self.secrets_file.chmod(0o600)

    def set_latency(self, seconds: float) -> None:
        """Every client's AWS request and every Postmark request waits ``seconds`` before it is served (0: none).

        A round trip to AWS or Postmark, per request: requests sent at the same time wait at the same time.
        """
        from tools.rehearsal.moto_compat import CONTROLS

        CONTROLS.latency_seconds = seconds  # the emulator runs in this process (moto patch 21)
        if self.postmark is not None:
            self.postmark.latency_seconds = seconds

    # -- what a shell needs ---------------------------------------------------------------

    def infrastructure(self, name: str | None):
        """The named infrastructure, or the only (first) one."""
        from tools.lib.errors import UsageError

        if name is None:
            return next(iter(self.registry.infrastructures.values()))
        if name not in self.registry.infrastructures:
            known = ", ".join(self.registry.infrastructures)
            raise UsageError(f"--infrastructure must be one of {known}, got: {name!r}")
        return self.registry.infrastructures[name]

    def env(self, infrastructure: str | None = None) -> dict[str, str]:
        """Credentials of the infrastructure's account and every endpoint of the world."""
        from tools.lib.next_commands import REHEARSAL_RESOLVER_ENV
        from tools.rehearsal.aws import OPERATOR_ROLE_NAME, credentials

        infra = self.infrastructure(infrastructure)
        return {
            **credentials(f"arn:aws:iam::{infra.account_id}:role/{OPERATOR_ROLE_NAME}"),
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_DEFAULT_REGION": infra.region,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "POSTMARK_API_URL": self.postmark_url,
            "OP_STANDIN_SECRETS": str(self.secrets_file),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            REHEARSAL_RESOLVER_ENV: f"127.0.0.1:{self.dns.port}",
        }

    def answers(self) -> bool:
        """Every server answers: the emulator, Postmark (with a world token) and DNS."""
        import dns.resolver
        import requests

        try:
            requests.get(f"{self.moto_url}/moto-api/data.json", timeout=5).raise_for_status()
            token = next(iter(self.tokens.values()), "rehearsal-probe")
            requests.get(
                f"{self.postmark_url}/domains",
                params={"count": 1, "offset": 0},
                headers={"X-Postmark-Account-Token": token},
                timeout=5,
            ).raise_for_status()
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers, resolver.port, resolver.lifetime = ["127.0.0.1"], self.dns.port, 3.0
            parent = next(iter(self.registry.infrastructures.values())).parent_zone_name
            resolver.resolve(parent, "NS")
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            return False
        return True
