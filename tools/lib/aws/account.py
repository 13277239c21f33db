"""The account guard every AWS-using command runs first: one endpoint set, then the configured account.

Step 2 of a deploy, and the first thing verify and rollout do (through
``tools.lib.aws.clients.Aws.check_account``). Two checks, in order:

1. **One endpoint set.** The credentials decide the account on AWS itself, so the
   services a run uses may talk to AWS's own endpoints (each service's, in the
   target region), or all to one other endpoint (an emulator or a gateway). What is
   refused is a mix: ``AWS_ENDPOINT_URL_CLOUDFORMATION`` (or a profile's
   ``services`` section) sending one service somewhere else, where an STS answer
   from the real endpoint says nothing about who answers the change set. Nothing
   has been called when this refuses.
2. **The configured account.** STS's caller identity must be the account the
   instance config names.

Both refuse (exit 3) with the endpoints or accounts named and what to change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from instances.registry import PartitionConfig
from tools.lib.errors import Refused
from tools.lib.output import console

# Hosts of AWS's own endpoints (standard, FIPS, dual-stack; the China partition).
_AWS_HOST = re.compile(r"^(?:[a-z0-9-]+\.)+(?:amazonaws\.com|amazonaws\.com\.cn|api\.aws)$")
# Services with one endpoint for every region (no region in their host).
GLOBAL_SERVICES = frozenset({"route53", "iam"})
# The services a deploy calls besides STS (and so a rollout, whose children deploy).
DEPLOY_SERVICES = ("cloudformation", "route53", "secretsmanager")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port or ''}"


def endpoint_problem(endpoints: Mapping[str, str], region: str) -> str | None:
    """Why ``endpoints`` (service → endpoint URL) are not one endpoint set for ``region``, or None."""
    hosts = {service: (urlsplit(url).hostname or "").lower() for service, url in endpoints.items()}
    aws = {service for service, host in hosts.items() if _AWS_HOST.match(host)}
    if aws == set(endpoints):
        elsewhere = [
            f"{service} → {endpoints[service]}"
            for service, host in sorted(hosts.items())
            if service not in GLOBAL_SERVICES
            and f".{region}." not in f".{host}."
            and host != f"{service}.amazonaws.com"
        ]
        if elsewhere:
            return f"AWS endpoints outside the target region {region}: {', '.join(elsewhere)}"
        return None
    if not aws and len({_origin(url) for url in endpoints.values()}) == 1:
        return None
    listed = ", ".join(f"{service} → {url}" for service, url in sorted(endpoints.items()))
    return f"the AWS services of this run answer from different endpoints ({listed})"


def check_endpoints(endpoints: Mapping[str, str], region: str, refusing: str) -> None:
    """Refuse unless ``endpoints`` (service → URL) are one endpoint set (see the module's docstring). Calls nothing."""
    problem = endpoint_problem(endpoints, region)
    if problem:
        raise Refused(
            f"{refusing}: {problem}; one run must talk to one account: unset the per-service endpoint settings "
            "(AWS_ENDPOINT_URL_<SERVICE>, or a 'services' section of the AWS profile) or point them all at one "
            "endpoint; nothing was called"
        )


def check_identity(identity: dict, config: PartitionConfig, refusing: str) -> dict:
    """Refuse unless STS's caller ``identity`` is in the account ``config`` names; the identity."""
    infra = config.infrastructure
    if identity["Account"] != infra.account_id:
        raise Refused(
            f"{refusing}: the AWS credentials are for account {identity['Account']} ({identity.get('Arn', '?')}), "
            f"but {infra.name}/infrastructure.toml names {infra.account_id}; switch --profile or credentials"
        )
    console().progress(f"{config.stack_name}: AWS identity {identity.get('Arn')} in account {identity['Account']}")
    return identity
