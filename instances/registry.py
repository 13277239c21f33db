"""Load and validate the instance files: the one source of infrastructure facts.

Layout, one folder per infrastructure::

    instances/<Infrastructure>/infrastructure.toml   account, region, PlatformRoot facts
    instances/<Infrastructure>/<partition>.toml      one file per active partition

A partition is active exactly when its file exists. Every value is checked here,
once, and a bad one stops the load with a sentence naming the file, the field, the
value and what was expected.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from instances import rules
from instances.errors import ConfigError, UnknownTarget

DEFAULT_ROOT = Path(__file__).resolve().parent
INFRASTRUCTURE_FILE = "infrastructure.toml"
# Non-prod partitions share this 1Password item (the PostmarkNonProd account);
# prod must use its own so a non-prod token can never send prod mail, or vice versa.
POSTMARK_NON_PROD_ITEM = "PostmarkNonProd"


class PartitionId(StrEnum):
    """The partitions a mail domain can be rolled out to, in rollout order."""

    DEV = "dev"
    STAGE = "stage"
    DEMO = "demo"
    PROD = "prod"

    @property
    def is_prod(self) -> bool:
        """True for the production partition."""
        return self is PartitionId.PROD


PARTITION_IDS = tuple(p.value for p in PartitionId)
# Slugs no tenant may take at the mail root: each is, or will be, a partition's zone.
RESERVED_SLUGS = frozenset(PARTITION_IDS)


def is_reserved_slug(slug: str) -> bool:
    """Whether a tenant slug at the mail root is reserved for a partition."""
    return slug.lower() in RESERVED_SLUGS


@dataclass(frozen=True)
class Infrastructure:
    """Facts of one infrastructure (AWS account) and of its PlatformRoot parent zone."""

    name: str
    account_id: str
    region: str
    parent_zone_name: str
    delegation_role_arn: str
    source: Path

    @property
    def platform_root_account_id(self) -> str:
        """The PlatformRoot account, read from the delegation role ARN (stated once)."""
        return rules.role_arn_account(self.delegation_role_arn)


@dataclass(frozen=True)
class PartitionConfig:
    """One active partition of one infrastructure."""

    partition: PartitionId
    infrastructure: Infrastructure
    mail_domain: str
    postmark_token_ref: str
    dns_records_principal: str
    dmarc_policy: str
    dmarc_report_address: str
    record_ttl: int
    ns_ttl: int
    tags: tuple[tuple[str, str], ...]
    source: Path
    # Named operator gates that must be recorded before the rollout starts this partition.
    requires_gates: tuple[str, ...] = ()

    @property
    def stack_name(self) -> str:
        """``<infrastructure>-<partition lowercased>-Email``."""
        return stack_name(self.infrastructure.name, self.partition.value)


def stack_name(infrastructure: str, partition: str) -> str:
    """The CloudFormation stack name of a partition's mail stack."""
    return f"{infrastructure}-{partition.lower()}-Email"


@dataclass(frozen=True)
class Registry:
    """Every infrastructure and every active partition found under one root."""

    infrastructures: Mapping[str, Infrastructure]
    partitions: Mapping[str, PartitionConfig]

    def partition(self, name: str) -> PartitionConfig:
        """The active partition called ``name``, or UnknownTarget naming the choices."""
        if name not in PARTITION_IDS:
            raise UnknownTarget(f"unknown partition {name!r}: expected one of {', '.join(PARTITION_IDS)}")
        if name not in self.partitions:
            raise UnknownTarget(
                f"partition {name!r} is not active in any infrastructure "
                f"(active: {', '.join(self.partitions) or 'none'}); "
                f"add instances/<Infrastructure>/{name}.toml to activate it"
            )
        return self.partitions[name]

    def lookup(self, infrastructure: str, partition: str) -> PartitionConfig:
        """The partition ``partition`` of ``infrastructure``, with errors naming the choices."""
        if infrastructure not in self.infrastructures:
            raise UnknownTarget(
                f"unknown infrastructure {infrastructure!r}: expected one of "
                f"{', '.join(sorted(self.infrastructures)) or 'none'}"
            )
        if partition not in PARTITION_IDS:
            raise UnknownTarget(f"unknown partition {partition!r}: expected one of {', '.join(PARTITION_IDS)}")
        config = self.partitions.get(partition)
        if config is None or config.infrastructure.name != infrastructure:
            where = (
                f"it is active in {config.infrastructure.name}" if config else "it is not active in any infrastructure"
            )
            raise UnknownTarget(f"partition {partition!r} is not active in infrastructure {infrastructure!r} ({where})")
        return config


class _Table:
    """Reads one TOML table, field by field, and rejects what it did not read."""

    def __init__(self, source: str, data: Mapping[str, Any], prefix: str = "") -> None:
        self._source = source
        self._data = data
        self._prefix = prefix
        self._read: list[str] = []

    def field(self, key: str, rule: Callable[[Any], str | None]) -> Any:
        """The value at ``key`` after ``rule`` accepts it."""
        self._read.append(key)
        name = self._prefix + key
        if key not in self._data:
            raise ConfigError(f"{self._source}: {name} is required and must {rule(None)}")
        value = self._data[key]
        problem = rule(value)
        if problem:
            raise ConfigError(f"{self._source}: {name} must {problem}, got: {value!r}")
        return value

    def table(self, key: str) -> _Table:
        """The sub-table at ``key``."""
        value = self.field(key, lambda v: None if isinstance(v, dict) else "be a table")
        return _Table(self._source, value, f"{self._prefix}{key}.")

    def close(self) -> None:
        """Fail on any key that no field() call asked for."""
        unknown = sorted(set(self._data) - set(self._read))
        if unknown:
            raise ConfigError(
                f"{self._source}: unknown key {self._prefix + unknown[0]!r} "
                f"(expected only: {', '.join(self._prefix + k for k in self._read)})"
            )


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(DEFAULT_ROOT.parent))
    except ValueError:
        return str(path)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{_display(path)}: is not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{_display(path)}: must be UTF-8 text, got byte {exc.object[exc.start]:#04x} at offset {exc.start}"
        ) from None
    except RecursionError:
        raise ConfigError(f"{_display(path)}: nests tables or arrays too deeply to be an instance file") from None
    except OSError as exc:
        raise ConfigError(f"{_display(path)}: must be a readable file ({exc.strerror or exc})") from None


def _load_infrastructure(folder: Path) -> Infrastructure:
    path = folder / INFRASTRUCTURE_FILE
    source = _display(path)
    top = _Table(source, _read_toml(path))
    account_id = top.field("account_id", rules.account_id)
    region = top.field("region", rules.region)
    root = top.table("platform_root")
    parent_zone = root.field("parent_zone", rules.parent_zone)
    role_arn = root.field("delegation_role_arn", rules.role_arn)
    root.close()
    top.close()
    problem = rules.arn_in_partition(role_arn, region)
    if problem:
        raise ConfigError(f"{source}: platform_root.delegation_role_arn must {problem}, got: {role_arn!r}")
    if rules.role_arn_account(role_arn) == account_id:
        raise ConfigError(
            f"{source}: platform_root.delegation_role_arn must be a role in the PlatformRoot "
            f"account, not in this infrastructure's own account, got: {role_arn!r}"
        )
    return Infrastructure(
        name=folder.name,
        account_id=account_id,
        region=region,
        parent_zone_name=parent_zone,
        delegation_role_arn=role_arn,
        source=path,
    )


def _load_partition(path: Path, infra: Infrastructure) -> PartitionConfig:
    source = _display(path)
    partition = PartitionId(path.stem)
    top = _Table(source, _read_toml(path))
    top.field(
        "infrastructure",
        lambda v: None if v == infra.name else f"name the folder it is in, {infra.name!r}",
    )
    expected_domain = f"{partition.value}.{infra.parent_zone_name}"
    mail_domain = top.field(
        "mail_domain",
        lambda v: None if v == expected_domain else f"be the partition under the parent zone, {expected_domain!r}",
    )
    token_ref = top.field("postmark_token_ref", rules.op_reference)
    principal = top.field("dns_records_principal", rules.principal_arn)
    dmarc = top.table("dmarc")
    dmarc_policy = dmarc.field("policy", rules.dmarc_policy)
    report_address = dmarc.field("report_address", rules.email_address)
    dmarc.close()
    ttl = top.table("ttl")
    record_ttl = ttl.field("records", rules.ttl)
    ns_ttl = ttl.field("ns_delegation", rules.ttl)
    ttl.close()
    tag_table = top.field("tags", rules.tags)
    gates: tuple[str, ...] = ()
    if "rollout" in top._data:
        rollout = top.table("rollout")
        gates = tuple(rollout.field("requires_gates", rules.gate_names))
        rollout.close()
    top.close()

    item = rules.op_reference_item(token_ref)
    if partition.is_prod and item == POSTMARK_NON_PROD_ITEM:
        raise ConfigError(
            f"{source}: postmark_token_ref must name prod's own 1Password item, "
            f"not the shared {POSTMARK_NON_PROD_ITEM!r} one, got: {token_ref!r}"
        )
    if not partition.is_prod and item != POSTMARK_NON_PROD_ITEM:
        raise ConfigError(
            f"{source}: postmark_token_ref must name the shared {POSTMARK_NON_PROD_ITEM!r} "
            f"1Password item for a non-prod partition, got: {token_ref!r}"
        )
    problem = rules.arn_in_partition(principal, infra.region)
    if problem:
        raise ConfigError(f"{source}: dns_records_principal must {problem}, got: {principal!r}")
    principal_account = principal.split(":")[4]
    if principal_account != infra.account_id:
        raise ConfigError(
            f"{source}: dns_records_principal must be in this infrastructure's account "
            f"{infra.account_id}, got: {principal!r}"
        )
    return PartitionConfig(
        partition=partition,
        infrastructure=infra,
        mail_domain=mail_domain,
        postmark_token_ref=token_ref,
        dns_records_principal=principal,
        dmarc_policy=dmarc_policy,
        dmarc_report_address=report_address,
        record_ttl=record_ttl,
        ns_ttl=ns_ttl,
        tags=tuple(sorted(tag_table.items())),
        source=path,
        requires_gates=gates,
    )


def load_registry(root: Path = DEFAULT_ROOT) -> Registry:
    """Read every instance file under ``root``; the first bad value raises ConfigError."""
    infrastructures: dict[str, Infrastructure] = {}
    partitions: dict[str, PartitionConfig] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        if not (folder / INFRASTRUCTURE_FILE).is_file():
            raise ConfigError(f"{_display(folder)}: has no {INFRASTRUCTURE_FILE}")
        problem = rules.infrastructure_name(folder.name)
        if problem:
            raise ConfigError(
                f"{_display(folder)}: the folder's name is the infrastructure's name and must {problem}, "
                f"got: {folder.name!r}"
            )
        infra = _load_infrastructure(folder)
        infrastructures[infra.name] = infra
        for path in sorted(folder.glob("*.toml")):
            if path.name == INFRASTRUCTURE_FILE:
                continue
            if path.stem not in PARTITION_IDS:
                raise ConfigError(
                    f"{_display(path)}: file name must be a partition, one of "
                    f"{', '.join(p + '.toml' for p in PARTITION_IDS)}, got: {path.name!r}"
                )
            config = _load_partition(path, infra)
            other = partitions.get(config.partition.value)
            if other is not None:
                # Both stacks would write the same NS delegation into the parent zone.
                raise ConfigError(
                    f"{_display(path)}: partition {config.partition.value!r} is already active "
                    f"in {other.infrastructure.name} ({_display(other.source)}); a partition's "
                    f"mail domain can be delegated to one infrastructure only"
                )
            partitions[config.partition.value] = config
    ordered = {p: partitions[p] for p in PARTITION_IDS if p in partitions}
    return Registry(infrastructures=infrastructures, partitions=ordered)
