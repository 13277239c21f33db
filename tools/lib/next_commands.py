"""The commands a tool prints for the operator to run next, so that they run as printed.

- In a rehearsal world (the environment ``tools/rehearse.py up`` writes) the world's
  zones are reachable only through the world's DNS server: every printed verify
  command carries ``--resolver`` with it. The world is recognised by the two variables
  its env file always sets together: ``REHEARSAL_RESOLVER`` (its DNS server,
  ``127.0.0.1:PORT``) and ``AWS_ENDPOINT_URL`` on 127.0.0.1 (its AWS emulator). One of
  them alone is not a world: a shell that points at real AWS and still holds a stale
  ``REHEARSAL_RESOLVER`` gets no ``--resolver`` it would then need to drop.
- A command printed by a run carries that run's own options (``--profile``,
  ``--region``, ``--resolver``, ``--no-postmark``) and never a ``--wait`` beyond what
  verify accepts (``MAX_WAIT_SECONDS``).
"""

from __future__ import annotations

import ipaddress
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

REHEARSAL_RESOLVER_ENV = "REHEARSAL_RESOLVER"
# verify --wait: longer than Route 53's negative caching (its SOA: min(TTL 900, MINIMUM 86400) = 900 s, RFC 2308).
RECOMMENDED_WAIT_SECONDS = 960.0
# The longest --wait verify accepts: an hour is four times the propagation it waits for.
MAX_WAIT_SECONDS = 3600.0


def rehearsal_resolver(environ: Mapping[str, str] | None = None) -> str | None:
    """The rehearsal world's DNS server (``127.0.0.1:PORT``) when this environment is one, else None."""
    env = os.environ if environ is None else environ
    resolver = env.get(REHEARSAL_RESOLVER_ENV, "").strip()
    host, _, port = resolver.partition(":")  # as verify's --resolver reads it: IP[:PORT]
    if host == "localhost" or not (is_loopback(host) and port.isdigit() and 0 < int(port) < 65536):
        return None
    try:
        endpoint_host = urlsplit(env.get("AWS_ENDPOINT_URL", "").strip()).hostname or ""
    except ValueError:
        return None
    return resolver if is_loopback(endpoint_host) else None


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is this machine (``localhost`` or a loopback address)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class NextCommands:
    """deploy.py and verify_partition_mail.py for one partition, with the options this run was given."""

    infrastructure: str
    partition: str
    resolver: str | None = None
    aws_options: tuple[str, ...] = ()  # ("--profile", "p", "--region", "r") as given
    no_postmark: bool = False

    @classmethod
    def for_run(
        cls,
        infrastructure: str,
        partition: str,
        *,
        resolver: str | None = None,
        profile: str | None = None,
        region: str | None = None,
        no_postmark: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> NextCommands:
        """The commands as this run would rerun them: its ``--resolver``, else the rehearsal world's."""
        aws = (("--profile", profile) if profile else ()) + (("--region", region) if region else ())
        return cls(infrastructure, partition, resolver or rehearsal_resolver(environ), aws, no_postmark)

    def deploy(self) -> str:
        """``python deploy.py <infrastructure> <partition>`` (with --profile/--region when given)."""
        return shlex.join(["python", "deploy.py", self.infrastructure, self.partition, *self.aws_options])

    def verify(self, wait: float = RECOMMENDED_WAIT_SECONDS) -> str:
        """``python tools/verify_partition_mail.py ... --wait N``, N within verify's bounds."""
        argv = ["python", "tools/verify_partition_mail.py", self.infrastructure, self.partition, *self.aws_options]
        if self.resolver:
            argv += ["--resolver", self.resolver]
        if self.no_postmark:
            argv.append("--no-postmark")
        return shlex.join([*argv, "--wait", f"{min(max(wait, 0.0), MAX_WAIT_SECONDS):g}"])
