"""Custom resource: delegate a partition zone from the PlatformRoot parent zone.

Inlined into the PartitionEmail template as the Lambda function's ``index.py``, so it
uses only the standard library and the boto3 that the Lambda runtime provides.

Per CloudFormation request:

- Create / Update: assume the PlatformRoot role, find the public parent zone by name
  and UPSERT the NS record. Both refuse to overwrite an NS record of that name that
  holds other name servers than this resource writes (or, for an Update in place,
  wrote before): it belongs to someone else (another stack, or a hand-made
  delegation), and taking it over would break their mail. The one exception is the
  rollback of such a refused Update (the stack reads ``UPDATE_ROLLBACK_IN_PROGRESS``):
  it leaves the record alone and succeeds, so the stack is not left
  ``UPDATE_ROLLBACK_FAILED`` for an update that wrote nothing.
  The physical ID names the record, so a rename (a new record name or parent zone)
  gets a new physical ID and CloudFormation's cleanup phase sends a Delete for the
  old one: the record moves, and a failed update rolls back through the same two
  requests.
- Delete: remove the NS record, but only while it still holds the name servers this
  resource wrote. A record that is already gone, or that now points elsewhere (some
  other stack took the name over), is left alone and the delete succeeds.

What each permission buys. The PlatformRoot role, at the least CDK's grant set for
a cross-account zone delegation role:

- ``route53:ListHostedZonesByName`` on ``*``: finds the parent zone by name;
- ``route53:ChangeResourceRecordSets`` on the parent zone, limited to NS records
  and UPSERT/DELETE: writes and removes the delegation.

With only these, Create and Update cannot see whether someone else already
delegates the name: they say so in the log and the response (``ownership not
checked``) and write the record. Delete sends the record exactly as this resource
wrote it; Route 53 refuses a DELETE that does not match, so someone else's record
(or one edited by hand) is left in place. Recommended on top:

- ``route53:ListResourceRecordSets`` on the parent zone: Create, rename and Update
  refuse to take over someone else's delegation, and Delete reads before it deletes.

The function's own role: ``cloudformation:DescribeStacks`` on its own stack, to tell
the rollback of a refused Update from an Update (see above).

Every request that carries a ResponseURL is answered, also on unexpected errors and
malformed events, with a body under CloudFormation's 4096-byte limit, so a stack
never waits out the custom resource timeout. Every AWS call is bounded by the
function's remaining time. STS is called in the Route 53 signing region of the
role's partition (us-east-1 for aws): its endpoint is enabled in every account, and
its credentials work for Route 53, also when the function runs in an opt-in region.
The waiting for Route 53 to sync (``route53:GetChange``) is deliberately not done
with the upstream role: the PlatformRoot role grants record writes only, and
CloudFormation does not need it.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

LOG = logging.getLogger()
LOG.setLevel(logging.INFO)

# IAM is eventually consistent: a role or trust policy created moments ago can
# refuse AssumeRole for a while. Retry AccessDenied up to this long.
ASSUME_ROLE_RETRY_SECONDS = 120.0
# Time kept in reserve to answer CloudFormation before Lambda stops the function.
RESPONSE_RESERVE_SECONDS = 20.0
# PlatformRoot's CloudTrail shows the session name: which partition's record, which request.
ROLE_SESSION_PREFIX = "arda-ns-"
_SESSION_UNSAFE = re.compile(r"[^\w+=,.@-]")
# CloudFormation rejects response bodies over 4096 bytes (bytes of the JSON, not characters).
MAX_RESPONSE_BYTES = 4096
MAX_REASON_LENGTH = 1000
# Route 53 is global; its requests are signed for one region per partition.
ROUTE53_SIGNING_REGION = {"aws": "us-east-1", "aws-cn": "cn-northwest-1", "aws-us-gov": "us-gov-west-1"}


def boto_config(seconds_left: float) -> Config:
    """Timeouts and retries that fit in the time the function has left."""
    read = max(1.0, min(20.0, seconds_left / 3))
    return Config(connect_timeout=min(5.0, read), read_timeout=read, retries={"mode": "standard", "max_attempts": 3})


class DelegationError(Exception):
    """A request that cannot be carried out; its message goes to CloudFormation."""


def _fqdn(name: str) -> str:
    return name.lower().rstrip(".") + "."


def _properties(event: dict) -> dict:
    """Validated resource properties: the parent zone, the record, its values and TTL."""
    props = event.get("ResourceProperties") or {}
    missing = [
        key for key in ("AssumeRoleArn", "ParentZoneName", "RecordName", "NameServers", "TTL") if not props.get(key)
    ]
    if missing:
        raise DelegationError(f"missing resource properties: {', '.join(missing)}")
    parent = _fqdn(props["ParentZoneName"])
    record = _fqdn(props["RecordName"])
    # Never let a property point the NS record at the parent's apex (or elsewhere):
    # that would take the whole mail root off the air.
    if not record.endswith("." + parent):
        raise DelegationError(
            f"RecordName {props['RecordName']!r} is not a name below ParentZoneName {props['ParentZoneName']!r}"
        )
    name_servers = props["NameServers"]
    if not isinstance(name_servers, list) or not all(isinstance(ns, str) for ns in name_servers):
        raise DelegationError(f"NameServers must be a list of host names, got {name_servers!r}")
    try:
        ttl = int(props["TTL"])
    except (TypeError, ValueError):
        raise DelegationError(f"TTL must be a whole number, got {props['TTL']!r}") from None
    return {
        "role_arn": props["AssumeRoleArn"],
        "parent": parent,
        "record": record,
        "name_servers": sorted(_fqdn(ns) for ns in name_servers),
        "ttl": ttl,
    }


def physical_id(props: dict) -> str:
    """The physical resource ID: the record and the zone it lives in."""
    return f"ns-delegation/{props['parent'].rstrip('.')}/{props['record'].rstrip('.')}"


def session_name(props: dict, event: dict) -> str:
    """The role session name: the record (the partition) and CloudFormation's request ID (the run).

    AssumeRole allows 2-64 characters of ``[\\w+=,.@-]``; anything else becomes '-'.
    """
    record = _SESSION_UNSAFE.sub("-", props["record"].rstrip("."))[:36]
    request = _SESSION_UNSAFE.sub("-", str(event.get("RequestId") or "no-request-id"))[:20]
    return f"{ROLE_SESSION_PREFIX}{record}@{request}"[:64]


def assume_parent_role(
    sts, role_arn: str, deadline: float, sleep=time.sleep, clock=time.monotonic, session: str = "arda-ns"
):
    """Credentials of the PlatformRoot role (as ``session``), retrying AccessDenied until ``deadline``."""
    delay = 2.0
    while True:
        try:
            return sts.assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code != "AccessDenied" or clock() + delay > deadline:
                raise DelegationError(
                    f"could not assume {role_arn} ({code}): {exc.response.get('Error', {}).get('Message', '')}"
                ) from None
            LOG.info("AssumeRole %s denied, retrying in %.0fs (IAM propagation)", role_arn, delay)
            sleep(delay + random.uniform(0, 1))
            delay = min(delay * 2, 15.0)


def find_public_zone(route53, name: str) -> str:
    """The ID of the one public hosted zone called ``name``."""
    zones = []
    kwargs = {"DNSName": name}
    while True:
        page = route53.list_hosted_zones_by_name(**kwargs)
        for zone in page["HostedZones"]:
            if zone["Name"] == name and not zone.get("Config", {}).get("PrivateZone", False):
                zones.append(zone["Id"].split("/")[-1])
        # Results are sorted by name: once past ``name`` no further page can match.
        if not page.get("IsTruncated") or page.get("NextDNSName") != name:
            break
        kwargs = {"DNSName": page["NextDNSName"], "HostedZoneId": page["NextHostedZoneId"]}
    if not zones:
        raise DelegationError(f"no public hosted zone named {name} is visible to the PlatformRoot role")
    if len(zones) > 1:
        raise DelegationError(
            f"{len(zones)} public hosted zones are named {name} ({', '.join(zones)}); "
            "delete the extra ones so the delegation has one parent"
        )
    return zones[0]


class Unreadable(Exception):
    """The PlatformRoot role may not list the parent zone's records (CDK's grant set does not)."""


def current_delegation(route53, zone_id: str, record: str) -> dict | None:
    """The NS record set named ``record`` in the parent zone, if there is one.

    ``Unreadable`` when the role may not call ``route53:ListResourceRecordSets``.
    """
    try:
        page = route53.list_resource_record_sets(
            HostedZoneId=zone_id, StartRecordName=record, StartRecordType="NS", MaxItems="1"
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("AccessDenied", "AccessDeniedException"):
            raise Unreadable() from None
        raise
    return next(
        (r for r in page.get("ResourceRecordSets", []) if _fqdn(r["Name"]) == record and r["Type"] == "NS"),
        None,
    )


def _old_name_servers(event: dict) -> list[str]:
    """The name servers this resource wrote before an Update (its OldResourceProperties), sorted FQDNs."""
    old = (event.get("OldResourceProperties") or {}) if event.get("RequestType") == "Update" else {}
    servers = old.get("NameServers") if isinstance(old, dict) else None
    return sorted(_fqdn(str(ns)) for ns in servers) if isinstance(servers, list) else []


def foreign_delegation(route53, zone_id: str, props: dict, ours_before: list[str]) -> str:
    """The other name servers the parent delegates the name to (someone else's record), or "".

    The record is this resource's when it is absent or holds the name servers it is
    about to write or (an Update in place) wrote before. Create, rename and Update
    follow the one rule: never take over a delegation someone else made.
    """
    current = current_delegation(route53, zone_id, props["record"])
    if current is None:
        return ""
    values = sorted(_fqdn(r["Value"]) for r in current.get("ResourceRecords", []))
    if values in (props["name_servers"], ours_before):
        return ""
    return ", ".join(values)


UNCHECKED = (
    "%s: the PlatformRoot role may not read the parent zone's records (route53:ListResourceRecordSets): "
    "whether someone else delegates this name was NOT checked; grant the role route53:ListResourceRecordSets "
    "on the parent zone (README: PlatformRoot's delegation role) to refuse taking over another delegation"
)


def stack_rolling_back(session, event: dict, left) -> bool:
    """Whether the stack that sent ``event`` is rolling an update back (its own status, read-only).

    When it cannot be read, no: the request is refused, as it would be otherwise.
    """
    stack_id = str(event.get("StackId", ""))
    parts = stack_id.split(":")
    if len(parts) < 6 or parts[2] != "cloudformation":
        return False
    try:
        cloudformation = session.client("cloudformation", region_name=parts[3], config=boto_config(left("status")))
        stacks = cloudformation.describe_stacks(StackName=stack_id).get("Stacks") or []
    except ClientError as exc:
        LOG.warning("cannot read the stack's status (%s): treated as not rolling back", exc)
        return False
    return bool(stacks) and stacks[0].get("StackStatus") == "UPDATE_ROLLBACK_IN_PROGRESS"


def upsert_delegation(route53, zone_id: str, props: dict) -> None:
    """Write (or overwrite) the NS record in the parent zone."""
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Comment": "Arda partition mail delegation",
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": props["record"],
                        "Type": "NS",
                        "TTL": props["ttl"],
                        "ResourceRecords": [{"Value": ns} for ns in props["name_servers"]],
                    },
                }
            ],
        },
    )


def delete_delegation(route53, zone_id: str, props: dict) -> str:
    """Remove the NS record if it still holds our name servers; say what happened."""
    try:
        current = current_delegation(route53, zone_id, props["record"])
    except Unreadable:
        # Unread, the record is deleted as this resource wrote it: Route 53 refuses a DELETE
        # that does not match the record exactly, so someone else's is still left alone.
        current = {
            "Name": props["record"],
            "Type": "NS",
            "TTL": props["ttl"],
            "ResourceRecords": [{"Value": ns} for ns in props["name_servers"]],
        }
        try:
            _delete(route53, zone_id, current)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "InvalidChangeBatch":
                raise
            LOG.warning("NS record %s is not as this resource wrote it (or gone): left in place", props["record"])
            return "not as written (gone, or changed by someone else), left in place"
        return "deleted"
    if current is None:
        return "already gone"
    values = sorted(_fqdn(r["Value"]) for r in current.get("ResourceRecords", []))
    if values != props["name_servers"]:
        LOG.warning(
            "NS record %s now holds %s, not %s: left in place",
            props["record"],
            values,
            props["name_servers"],
        )
        return "changed by someone else, left in place"
    try:
        _delete(route53, zone_id, current)  # DELETE must repeat the record exactly: send what was read
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "InvalidChangeBatch" and "not found" in error.get("Message", ""):
            return "already gone"
        raise
    return "deleted"


def _delete(route53, zone_id: str, record: dict) -> None:
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Comment": "Arda partition mail delegation removed",
            "Changes": [{"Action": "DELETE", "ResourceRecordSet": record}],
        },
    )


def handle(event: dict, session, remaining_seconds: float, sleep=time.sleep, clock=time.monotonic) -> tuple[str, dict]:
    """Carry out one request; return the physical ID and the response data."""
    request = event["RequestType"]
    if request == "Delete" and not event.get("PhysicalResourceId", "").startswith("ns-delegation/"):
        # A Create that failed before writing anything reports a non-delegation ID;
        # its rollback Delete has nothing to remove.
        return event["PhysicalResourceId"], {"Result": "nothing to delete"}
    props = _properties(event)
    if request == "Delete" and event["PhysicalResourceId"] != physical_id(props):
        return event["PhysicalResourceId"], {"Result": "nothing to delete"}
    started = clock()
    budget = max(0.0, remaining_seconds - RESPONSE_RESERVE_SECONDS)
    deadline = started + budget

    def left(step: str) -> float:
        seconds = deadline - clock()
        if seconds <= 1.0:
            raise DelegationError(f"out of time before {step}: the function must keep time to answer CloudFormation")
        return seconds

    signing_region = ROUTE53_SIGNING_REGION.get(props["role_arn"].split(":")[1], "us-east-1")
    sts = session.client("sts", region_name=signing_region, config=boto_config(left("AssumeRole")))
    assume_deadline = started + min(ASSUME_ROLE_RETRY_SECONDS, budget)
    creds = assume_parent_role(
        sts, props["role_arn"], assume_deadline, sleep=sleep, clock=clock, session=session_name(props, event)
    )
    route53 = session.client(
        "route53",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        config=boto_config(left("Route 53")),
    )
    zone_id = find_public_zone(route53, props["parent"])
    if request in ("Create", "Update"):
        left("reading the parent's NS record")
        try:
            foreign = foreign_delegation(route53, zone_id, props, _old_name_servers(event))
            checked = True
        except Unreadable:
            LOG.warning(UNCHECKED, props["record"])
            foreign, checked = "", False
        if foreign and request == "Update" and stack_rolling_back(session, event, left):
            # Refusing the rollback too would leave the stack UPDATE_ROLLBACK_FAILED; the
            # update that started it was refused before it wrote anything.
            LOG.warning("%s: rolling back, someone else's delegation (%s) left in place", props["record"], foreign)
            return physical_id(props), {"ParentZoneId": zone_id, "Result": "someone else's, left in place"}
        if foreign:
            raise DelegationError(
                f"{props['parent']} already delegates {props['record']} to other name servers ({foreign}); "
                "another stack or a hand-made record owns it: remove that delegation (or the stack that made it) "
                "first, then deploy again"
            )
        left("writing the NS record")
        upsert_delegation(route53, zone_id, props)
        result = "upserted" if checked else "upserted (ownership not checked: no ListResourceRecordSets)"
    elif request == "Delete":
        left("removing the NS record")
        result = delete_delegation(route53, zone_id, props)
    else:
        raise DelegationError(f"unknown RequestType {request!r}")
    LOG.info("%s %s in %s: %s", request, props["record"], zone_id, result)
    return physical_id(props), {"ParentZoneId": zone_id, "Result": result}


def response_body(event: dict, status: str, reason: str, resource_id: str, data: dict) -> bytes:
    """The JSON answer, under CloudFormation's 4096-byte limit however long or non-ASCII the reason."""
    reason = reason[:MAX_REASON_LENGTH]
    while True:
        body = json.dumps(
            {
                "Status": status,
                "Reason": reason,
                "PhysicalResourceId": str(resource_id)[:512],
                "StackId": str(event.get("StackId", ""))[:512],
                "RequestId": str(event.get("RequestId", ""))[:512],
                "LogicalResourceId": str(event.get("LogicalResourceId", ""))[:512],
                "NoEcho": False,
                "Data": data,
            }
        ).encode()
        if len(body) <= MAX_RESPONSE_BYTES:
            return body
        if data:
            data = {}  # the reason matters more than the data
            continue
        # A character is 1 to 6 bytes of JSON (\uXXXX): cutting a sixth of the overflow in
        # characters never cuts too much, and each pass shrinks the overflow by a sixth at least.
        overflow = len(body) - MAX_RESPONSE_BYTES
        reason = reason.removesuffix("...")
        reason = reason[: max(0, len(reason) - max(1, overflow // 6) - 3)] + "..."


def send_response(event: dict, status: str, reason: str, resource_id: str, data: dict) -> None:
    """PUT the answer to CloudFormation's pre-signed URL, retrying transient failures."""
    body = response_body(event, status, reason, resource_id, data)
    request = urllib.request.Request(
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    for attempt in range(1, 4):
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
            return
        except OSError as exc:
            LOG.warning("answering CloudFormation failed (attempt %d): %s", attempt, exc)
            if attempt == 3:
                raise
            time.sleep(attempt)


def handler(event, context, session=None, sleep=time.sleep):
    """Lambda entry point: handle the request and always answer CloudFormation."""
    LOG.info(
        "%s %s %s",
        event.get("RequestType"),
        event.get("LogicalResourceId"),
        event.get("PhysicalResourceId", ""),
    )
    if not isinstance(event, dict) or not event.get("ResponseURL"):
        LOG.error("no ResponseURL in the event: nothing can be answered")
        return
    remaining = context.get_remaining_time_in_millis() / 1000.0 if context else 300.0
    resource_id = event.get("PhysicalResourceId") or f"ns-delegation-failed/{event.get('RequestId', 'unknown')}"
    try:
        resource_id, data = handle(event, session or boto3.Session(), remaining, sleep=sleep)
        status, reason = "SUCCESS", ""
    except Exception as exc:  # noqa: BLE001 - every failure must still reach CloudFormation
        LOG.exception("request failed")
        status, reason, data = "FAILED", f"{type(exc).__name__}: {exc}", {}
    send_response(
        event,
        status,
        reason or f"See CloudWatch log stream {getattr(context, 'log_stream_name', '')}",
        resource_id,
        data,
    )
