"""Accounts inside the moto server: credentials by assumed role, and PlatformRoot's parent zone.

moto files every resource under the account of the credentials that made it; an
assumed role's temporary credentials belong to the role's account. That is how
the tests and the deploy benchmark get a PlatformRoot account and an Alpha002
account on one server.
"""

from __future__ import annotations

import functools
import os
import uuid

import boto3
import botocore.session

PLATFORM_ROOT_ROLE = "arn:aws:iam::444455556666:role/ArdaMailsNsDelegation"
# The operator role the world creates in each infrastructure account, holding exactly
# the documented operator policy (tools/lib/permissions.py).
OPERATOR_ROLE_NAME = "RehearsalOperator"
ALPHA002_DEPLOYER_ROLE = f"arn:aws:iam::111122223333:role/{OPERATOR_ROLE_NAME}"
# A role IAM does not hold: the world's staff, the account's administrator (see iam_world).
STAFF_ROLE_NAME = "RehearsalWorldStaff"


def staff(account_id: str) -> dict[str, str]:
    """Administrator credentials in ``account_id``: the world's own set-up, or "someone else" in a test.

    The same ones until the emulator is reset (``reset``): the set-up of a world asks for the same account's
    several times, and an administrator's session is never refused, changed or taken away.
    """
    key = (account_id, tuple(os.environ.get(name) for name in _CLIENT_ENV))
    if key not in _STAFF_SESSIONS:
        _STAFF_SESSIONS[key] = credentials(f"arn:aws:iam::{account_id}:role/{STAFF_ROLE_NAME}")
        _STAFF_KEYS[_STAFF_SESSIONS[key]["AWS_ACCESS_KEY_ID"]] = account_id
    return dict(_STAFF_SESSIONS[key])


def reset(endpoint: str, timeout: float = 30) -> None:
    """The emulator at ``endpoint`` emptied (moto's ``/moto-api/reset``), and the sessions kept of it forgotten."""
    import requests

    requests.post(f"{endpoint}/moto-api/reset", timeout=timeout).raise_for_status()
    _STAFF_SESSIONS.clear()
    _STAFF_KEYS.clear()


# The staff's sessions of the emulator's present state, by account and caller (``staff``; ``reset`` forgets them),
# and the account of each of their access keys.
_STAFF_SESSIONS: dict[tuple, dict[str, str]] = {}
_STAFF_KEYS: dict[str, str] = {}
# What a boto3 client takes from the environment when it is made.
_CLIENT_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
)


@functools.lru_cache(maxsize=8)
def _sts(environment: tuple[str | None, ...]):
    """One STS client per endpoint and caller: the tests assume roles several times for every world."""
    return boto3.client("sts")


def credentials(role_arn: str) -> dict[str, str]:
    """Temporary credentials of ``role_arn``, as AWS_* environment variables."""
    caller = tuple(os.environ.get(name) for name in _CLIENT_ENV)
    creds = _sts(caller).assume_role(RoleArn=role_arn, RoleSessionName="standin")["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }


def client(service: str, creds: dict[str, str], region: str | None = None):
    """A boto3 client acting with ``creds`` (in ``region``; default: the environment's).

    One per service, credentials, region and AWS_* settings: the world's set-up and the tests
    ask for the same ones again and again, and making a client costs more than a call. A staff
    session's client is one per account, kept across resets: each emulator state gives the staff
    new keys, which the client signs with from then on (a world's set-up made four clients anew).
    """
    settings = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_") and k not in creds))
    account = _STAFF_KEYS.get(creds["AWS_ACCESS_KEY_ID"])
    if account is not None:
        made, keys = _staff_client(service, account, region, settings)
        keys.access_key, keys.secret_key = creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"]
        keys.token = creds["AWS_SESSION_TOKEN"]
        return made
    return _client(service, creds["AWS_ACCESS_KEY_ID"], creds["AWS_SECRET_ACCESS_KEY"], creds["AWS_SESSION_TOKEN"],
                   region, settings)  # fmt: skip


@functools.lru_cache(maxsize=64)
def _staff_client(service: str, account: str, region: str | None, settings: tuple[tuple[str, str], ...]):
    """A client of a staff session of ``account``, and the credentials it signs with (``client`` sets them)."""
    core = _staff_session(account, settings)
    made = boto3.Session(botocore_session=core).client(service, **({"region_name": region} if region else {}))
    return made, core.get_credentials()


@functools.lru_cache(maxsize=16)
def _staff_session(account: str, settings: tuple[tuple[str, str], ...]) -> botocore.session.Session:
    core = botocore.session.get_session()
    core.set_credentials("staff-of-" + account, "set-before-each-use")
    return core


@functools.lru_cache(maxsize=64)
def _client(service: str, key: str, secret: str, token: str, region: str | None, settings: tuple[tuple[str, str], ...]):
    return boto3.client(
        service,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        **({"region_name": region} if region else {}),
    )


def create_parent_zone(name: str = "ardamails.com") -> tuple[str, dict[str, str]]:
    """PlatformRoot's public parent zone; its ID and PlatformRoot's credentials."""
    root = staff(PLATFORM_ROOT_ROLE.split(":")[4])
    zone = client("route53", root).create_hosted_zone(Name=name, CallerReference=str(uuid.uuid4()))
    return zone["HostedZone"]["Id"].split("/")[-1], root


def serve_route53_zone(dns_zone, route53, zone_id: str) -> None:
    """Make the DNS stand-in answer for a Route 53 zone exactly as the zone now stands.

    Every name of the zone's domain is replaced: records the zone no longer holds
    disappear from DNS too. TXT values are joined the way resolvers join strings.
    """
    from templates.dkim import join_txt_strings

    zone = route53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"].lower().rstrip(".")
    with dns_zone.lock:
        for key in [k for k in dns_zone.records if k[0] == zone or k[0].endswith("." + zone)]:
            del dns_zone.records[key]
    pages = route53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
    for record in (r for page in pages for r in page["ResourceRecordSets"]):
        if record["Type"] not in ("TXT", "CNAME", "NS"):
            continue
        values = [v["Value"] for v in record.get("ResourceRecords", [])]
        if record["Type"] == "TXT":
            values = [join_txt_strings(v) for v in values]
        else:
            values = [v.rstrip(".") for v in values]
        dns_zone.set(record["Name"], record["Type"], values)


def change_record(route53, zone_id: str, action: str, name: str, kind: str, values: list[str], ttl: int = 300) -> None:
    """One record set CREATEd, UPSERTed or DELETEd in the emulator's Route 53, as a person or another tool would."""
    record = {"Name": name, "Type": kind, "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values]}
    route53.change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": action, "ResourceRecordSet": record}]}
    )
