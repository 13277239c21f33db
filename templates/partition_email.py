"""The PartitionEmail stack: one partition's mail domain, records, secrets and roles.

Props in, template out: ``PartitionEmail(props).template`` is a plain
``troposphere.Template``; this module reads no files, environment or clock
(the Lambda handler's source is read once, by ``generate.py``'s render step, and
handed in through the props).

What deleting the stack does, chosen deliberately:

- The hosted zone is **retained** (on delete and on replacement). Its name servers
  are what the parent delegation and every tenant's verified DKIM depend on, and
  tenant records written at runtime by the DNS-records role would make a delete
  fail half-way. The NS delegation custom resource *is* deleted, so a retained
  zone is no longer reachable; the runbook says how to remove it by hand.
- The Postmark token secret is **deleted**: it is a copy of the 1Password item.
- The webhook secret is **retained**: it is generated here and tenants' Postmark
  webhooks authenticate with it; losing it silently would break every webhook.
- Records, roles, the function and its log group are deleted with the stack.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from awacs import cloudformation as awacs_cloudformation
from awacs import logs as awacs_logs
from awacs import route53 as awacs_route53
from awacs import sts as awacs_sts
from awacs.aws import (
    Allow,
    Condition,
    ForAllValuesStringEquals,
    ForAllValuesStringLike,
    ForAllValuesStringNotLike,
    Policy,
    Principal,
    Statement,
)
from troposphere import (
    And,
    Equals,
    Export,
    GetAtt,
    Join,
    Not,
    Or,
    Output,
    Parameter,
    Ref,
    StackId,
    Tags,
    Template,
)
from troposphere.awslambda import Code, Function, LoggingConfig
from troposphere.cloudformation import AWSCustomObject
from troposphere.iam import Policy as RolePolicy
from troposphere.iam import Role
from troposphere.logs import LogGroup
from troposphere.route53 import HostedZone, HostedZoneConfiguration, RecordSetType
from troposphere.secretsmanager import GenerateSecretString, Secret

from instances import rules
from instances.registry import PARTITION_IDS, stack_name
from templates import dkim
from templates.errors import PropsError
from templates.mail_dns import RETURN_PATH_TARGET, SPF_VALUE, dmarc_value, return_path_domain

# The interface version of this template: bump it when a parameter or an export
# changes meaning. Consumers can read it from the CfnIoMarker output.
# v2: the DKIM parameters are role-less slots (DkimSlot<n>Selector/Value).
INTERFACE_VERSION = "partition-email/v2"

LAMBDA_RUNTIME = "python3.12"
# The handler retries AssumeRole for two minutes; leave room for Route 53 and the answer.
LAMBDA_TIMEOUT_SECONDS = 180
# How long CloudFormation waits for the custom resource's answer: a crashed handler costs
# minutes, not CloudFormation's default hour. The function's own timeout plus a margin.
DELEGATION_SERVICE_TIMEOUT_SECONDS = LAMBDA_TIMEOUT_SECONDS + 120
LOG_RETENTION_DAYS = 90

# Parameters
P_TOKEN = "PostmarkAccountToken"


# DKIM slots (see templates/dkim.py for why keys keep their slot): parameters,
# condition and record of slot n.
def dkim_selector_parameter(slot: int) -> str:
    """Logical ID of slot ``slot``'s selector parameter (slots count from 1)."""
    return f"DkimSlot{slot}Selector"


def dkim_value_parameter(slot: int) -> str:
    """Logical ID of slot ``slot``'s TXT value parameter."""
    return f"DkimSlot{slot}Value"


def dkim_condition(slot: int) -> str:
    """Logical ID of the condition that publishes slot ``slot``."""
    return f"HasDkimSlot{slot}"


def dkim_record(slot: int) -> str:
    """Logical ID of slot ``slot``'s record."""
    return f"DkimSlot{slot}Record"


DKIM_SLOT_NUMBERS = tuple(range(1, dkim.DKIM_SLOTS + 1))

# Resources
R_ZONE = "MailHostedZone"
R_SPF = "SpfRecord"
R_DMARC = "DmarcRecord"
R_RETURN_PATH = "ReturnPathRecord"
R_DELEGATION_LOGS = "NsDelegationLogGroup"
R_DELEGATION_ROLE = "NsDelegationFunctionRole"
R_DELEGATION_FUNCTION = "NsDelegationFunction"
R_DELEGATION = "NsDelegation"
R_TOKEN_SECRET = "PostmarkAccountTokenSecret"
R_WEBHOOK_SECRET = "WebhookSecret"
R_DNS_ROLE = "DnsRecordsRole"
# Outputs (the logical ID is the export's <Name>)
O_MAIL_DOMAIN = "MailDomainName"
O_ZONE_ID = "MailHostedZoneId"
O_DNS_ROLE = "DnsRecordsRoleArn"
O_TOKEN_SECRET = "PostmarkAccountTokenSecretArn"
O_WEBHOOK_SECRET = "WebhookSecretArn"
O_RETURN_PATH = "ReturnPathDomain"
O_MARKER = "CfnIoMarker"
EXPORTED_OUTPUTS = (O_MAIL_DOMAIN, O_ZONE_ID, O_DNS_ROLE, O_TOKEN_SECRET, O_WEBHOOK_SECRET, O_RETURN_PATH)
# The secrets' names below the stack's own prefix (``<stack>/<name>``): the operator's policy
# scopes every secret action by these names (templates/permissions.py, secret_arn_pattern).
TOKEN_SECRET_NAME = "PostmarkAccountToken"
WEBHOOK_SECRET_NAME = "WebhookCredential"
# Record types the runtime writes for tenants (DKIM TXT, Return-Path CNAME).
RUNTIME_RECORD_TYPES = ("TXT", "CNAME")

_INFRASTRUCTURE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,30}")


class CustomNsDelegation(AWSCustomObject):
    """``Custom::NsDelegation``: the NS record of this zone in the parent zone."""

    resource_type = "Custom::NsDelegation"
    props = {
        "ServiceToken": (str, True),
        "AssumeRoleArn": (str, True),
        "ParentZoneName": (str, True),
        "RecordName": (str, True),
        "NameServers": (list, True),
        "TTL": (str, True),
        "ServiceTimeout": (str, False),
    }


def stack_policy() -> dict:
    """The stack policy: no update may replace or delete the hosted zone or the webhook secret.

    Replacing the zone would change its name servers (breaking the delegation and every
    tenant's verified DKIM); replacing the webhook secret would break every tenant's
    webhook. deploy.py sets this policy after every deploy; docs/operator-runbook.md,
    "Stack protections", gives the override procedure.
    """
    return {
        "Statement": [
            {"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Action": ["Update:Replace", "Update:Delete"],
                "Principal": "*",
                "Resource": [f"LogicalResourceId/{R_ZONE}", f"LogicalResourceId/{R_WEBHOOK_SECRET}"],
            },
        ]
    }


def secret_name(stack: str, name: str) -> str:
    """A secret's name, ``<stack>/<name>``: Secrets Manager adds ``-`` and six random characters in its ARN."""
    return f"{stack}/{name}"


def partition_tags(tags: tuple[tuple[str, str], ...], infrastructure: str, partition: str) -> dict[str, str]:
    """A partition's own tags plus the two that say whose it is (on resources and on the stack)."""
    return {**dict(tags), "arda:infrastructure": infrastructure, "arda:partition": partition}


@dataclass(frozen=True)
class PartitionEmailProps:
    """Everything the PartitionEmail stack is built from (immutable)."""

    infrastructure: str
    partition: str
    account_id: str
    mail_domain: str
    parent_zone_name: str
    delegation_role_arn: str
    dns_records_principal: str
    dmarc_policy: str
    dmarc_report_address: str
    record_ttl: int
    ns_ttl: int
    delegation_handler_source: str
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def stack_name(self) -> str:
        """``<infrastructure>-<partition lowercased>-Email``."""
        return stack_name(self.infrastructure, self.partition)

    @property
    def return_path_domain(self) -> str:
        """The Return-Path (bounce) domain Postmark is told to use."""
        return return_path_domain(self.mail_domain)

    @property
    def dmarc_value(self) -> str:
        """The DMARC policy record text."""
        return dmarc_value(self.dmarc_policy, self.dmarc_report_address)

    def export_name(self, name: str) -> str:
        """``<infrastructure>-<partition>-API-<Name>``."""
        return f"{self.infrastructure}-{self.partition}-API-{name}"


def validate_props(props: PartitionEmailProps) -> None:
    """Raise PropsError naming the first field that breaks a rule."""

    def check(name: str, value: object, problem: str | None) -> None:
        if problem:
            raise PropsError(f"PartitionEmailProps.{name} must {problem}, got: {value!r}")

    check(
        "infrastructure",
        props.infrastructure,
        None
        if isinstance(props.infrastructure, str) and _INFRASTRUCTURE.fullmatch(props.infrastructure)
        else "be a name of letters and digits starting with a letter, such as 'Alpha002'",
    )
    check(
        "partition",
        props.partition,
        None if props.partition in PARTITION_IDS else f"be one of {', '.join(PARTITION_IDS)}",
    )
    check("account_id", props.account_id, rules.account_id(props.account_id))
    check("parent_zone_name", props.parent_zone_name, rules.domain_name(props.parent_zone_name))
    check(
        "mail_domain",
        props.mail_domain,
        None
        if props.mail_domain == f"{props.partition}.{props.parent_zone_name}"
        else f"be '<partition>.<parent_zone_name>', here {props.partition + '.' + props.parent_zone_name!r}",
    )
    check("delegation_role_arn", props.delegation_role_arn, rules.role_arn(props.delegation_role_arn))
    check("dns_records_principal", props.dns_records_principal, rules.principal_arn(props.dns_records_principal))
    check("dmarc_policy", props.dmarc_policy, rules.dmarc_policy(props.dmarc_policy))
    check("dmarc_report_address", props.dmarc_report_address, rules.email_address(props.dmarc_report_address))
    check("record_ttl", props.record_ttl, rules.ttl(props.record_ttl))
    check("ns_ttl", props.ns_ttl, rules.ttl(props.ns_ttl))
    check(
        "delegation_handler_source",
        "<source>",
        None
        if isinstance(props.delegation_handler_source, str) and "def handler(" in props.delegation_handler_source
        else "be Python source that defines handler(event, context)",
    )
    check("tags", props.tags, rules.tags(dict(props.tags)) if isinstance(props.tags, tuple) else "be a tuple of pairs")


class PartitionEmail:
    """The partition mail stack; ``.template`` is the built troposphere Template."""

    def __init__(self, props: PartitionEmailProps) -> None:
        validate_props(props)
        self.props = props
        self.template = Template(
            Description=(
                f"Arda partition mail: {props.mail_domain} for {props.infrastructure} "
                f"({INTERFACE_VERSION}). Generated by generate.py; do not edit."
            )
        )
        self._tags = Tags(partition_tags(props.tags, props.infrastructure, props.partition))
        self._add_parameters()
        zone = self._add_hosted_zone()
        self._add_delegation(zone)
        self._add_mail_records(zone)
        self._add_token_secret()
        self._add_webhook_secret()
        self._add_dns_records_role(zone)
        self._add_marker()

    # -- parameters -------------------------------------------------------

    def _add_parameters(self) -> None:
        t = self.template
        self.token = t.add_parameter(
            Parameter(
                P_TOKEN,
                Type="String",
                NoEcho=True,
                MinLength=1,
                Description="Postmark account API token (from 1Password; never logged).",
            )
        )
        self.dkim_slots = []
        for slot in DKIM_SLOT_NUMBERS:
            selector = t.add_parameter(
                Parameter(
                    dkim_selector_parameter(slot),
                    Type="String",
                    Default="",
                    AllowedPattern=dkim.SELECTOR_PATTERN,
                    ConstraintDescription="one or more DNS labels (the selector only, without ._domainkey)",
                    Description=f"DKIM slot {slot}: selector of a key Postmark needs published; empty when unused.",
                )
            )
            value = t.add_parameter(
                Parameter(
                    dkim_value_parameter(slot),
                    Type="String",
                    Default="",
                    AllowedPattern=dkim.TXT_RECORD_PATTERN,
                    MaxLength=dkim.MAX_TXT_RECORD_LENGTH,
                    ConstraintDescription='quoted TXT strings of at most 255 characters: "..." "..."',
                    Description=f"DKIM slot {slot}: Postmark's TXT value, already split into quoted strings.",
                )
            )
            t.add_condition(dkim_condition(slot), Not(Equals(Ref(selector), "")))
            self.dkim_slots.append((selector, value, dkim_condition(slot)))
        # A selector without its value (or the reverse) would publish a broken key,
        # and two slots with one selector would claim one record name.
        for selector, value, condition_id in self.dkim_slots:
            t.add_rule(
                f"{condition_id}Complete",
                {
                    "Assertions": [
                        {
                            "Assert": Or(
                                And(_rule_equals_empty(selector), _rule_equals_empty(value)),
                                And(Not(_rule_equals_empty(selector)), Not(_rule_equals_empty(value))),
                            ),
                            "AssertDescription": (
                                f"{selector.title} and {value.title} must both be set or both be empty"
                            ),
                        }
                    ]
                },
            )
        numbered = zip(DKIM_SLOT_NUMBERS, self.dkim_slots, strict=True)
        for (a, (first, _, _)), (b, (second, _, _)) in itertools.combinations(numbered, 2):
            t.add_rule(
                f"DkimSlots{a}And{b}Differ",
                {
                    "Assertions": [
                        {
                            "Assert": Or(_rule_equals_empty(first), Not(Equals(Ref(first), Ref(second)))),
                            "AssertDescription": f"{first.title} must differ from {second.title}",
                        }
                    ]
                },
            )

    # -- resources --------------------------------------------------------

    def _add_hosted_zone(self) -> HostedZone:
        p = self.props
        zone = self.template.add_resource(
            HostedZone(
                R_ZONE,
                Name=p.mail_domain,
                HostedZoneConfig=HostedZoneConfiguration(
                    Comment=f"Arda partition mail domain ({p.infrastructure} {p.partition})"
                ),
                HostedZoneTags=self._tags,
                DeletionPolicy="Retain",
                UpdateReplacePolicy="Retain",
            )
        )
        self._export(O_MAIL_DOMAIN, p.mail_domain, "The partition's mail domain.")
        self._export(O_ZONE_ID, Ref(zone), "Hosted zone ID of the mail domain.")
        return zone

    def _add_delegation(self, zone: HostedZone) -> None:
        p = self.props
        t = self.template
        log_group = t.add_resource(LogGroup(R_DELEGATION_LOGS, RetentionInDays=LOG_RETENTION_DAYS, Tags=self._tags))
        role = t.add_resource(
            Role(
                R_DELEGATION_ROLE,
                Description=f"Runs the NS delegation of {p.mail_domain} into {p.parent_zone_name}.",
                AssumeRolePolicyDocument=Policy(
                    Version="2012-10-17",
                    Statement=[
                        Statement(
                            Sid="LambdaAssumesRole",
                            Effect=Allow,
                            Principal=Principal("Service", "lambda.amazonaws.com"),
                            Action=[awacs_sts.AssumeRole],
                        )
                    ],
                ),
                Policies=[
                    RolePolicy(
                        PolicyName="NsDelegation",
                        PolicyDocument=Policy(
                            Version="2012-10-17",
                            Statement=[
                                Statement(
                                    Sid="AssumePlatformRootDelegationRole",
                                    Effect=Allow,
                                    Action=[awacs_sts.AssumeRole],
                                    Resource=[p.delegation_role_arn],
                                ),
                                Statement(
                                    Sid="WriteOwnLogs",
                                    Effect=Allow,
                                    Action=[awacs_logs.CreateLogStream, awacs_logs.PutLogEvents],
                                    Resource=[GetAtt(log_group, "Arn")],
                                ),
                                # Only to tell the rollback of a refused Update from an Update
                                # (templates/ns_delegation_handler.py): this stack's own status.
                                Statement(
                                    Sid="ReadOwnStackStatus",
                                    Effect=Allow,
                                    Action=[awacs_cloudformation.DescribeStacks],
                                    Resource=[StackId],
                                ),
                            ],
                        ),
                    )
                ],
                Tags=self._tags,
            )
        )
        function = t.add_resource(
            Function(
                R_DELEGATION_FUNCTION,
                Description=f"Custom resource: NS delegation of {p.mail_domain} in PlatformRoot.",
                Runtime=LAMBDA_RUNTIME,
                Handler="index.handler",
                Timeout=LAMBDA_TIMEOUT_SECONDS,
                MemorySize=128,
                Role=GetAtt(role, "Arn"),
                Code=Code(ZipFile=p.delegation_handler_source),
                LoggingConfig=LoggingConfig(LogGroup=Ref(log_group)),
                Tags=self._tags,
            )
        )
        t.add_resource(
            CustomNsDelegation(
                R_DELEGATION,
                ServiceToken=GetAtt(function, "Arn"),
                AssumeRoleArn=p.delegation_role_arn,
                ParentZoneName=p.parent_zone_name,
                RecordName=p.mail_domain,
                NameServers=GetAtt(zone, "NameServers"),
                TTL=str(p.ns_ttl),
                ServiceTimeout=str(DELEGATION_SERVICE_TIMEOUT_SECONDS),
            )
        )

    def _add_mail_records(self, zone: HostedZone) -> None:
        p = self.props
        t = self.template

        def record(title, name, kind, value, condition=None):
            return t.add_resource(
                RecordSetType(
                    title,
                    HostedZoneId=Ref(zone),
                    Name=name,
                    Type=kind,
                    TTL=str(p.record_ttl),
                    ResourceRecords=[value],
                    **({"Condition": condition} if condition else {}),
                )
            )

        record(R_SPF, p.mail_domain, "TXT", f'"{SPF_VALUE}"')
        record(R_DMARC, f"_dmarc.{p.mail_domain}", "TXT", f'"{p.dmarc_value}"')
        record(R_RETURN_PATH, p.return_path_domain, "CNAME", RETURN_PATH_TARGET)
        for slot, (selector, value, condition_id) in zip(DKIM_SLOT_NUMBERS, self.dkim_slots, strict=True):
            record(
                dkim_record(slot),
                Join(".", [Ref(selector), "_domainkey", p.mail_domain]),
                "TXT",
                Ref(value),
                condition=condition_id,
            )
        self._export(O_RETURN_PATH, p.return_path_domain, "Return-Path domain (CNAME to pm.mtasv.net).")

    def _add_token_secret(self) -> None:
        p = self.props
        secret = self.template.add_resource(
            Secret(
                R_TOKEN_SECRET,
                Name=secret_name(p.stack_name, TOKEN_SECRET_NAME),
                Description=(
                    f"Postmark account token of {p.infrastructure} {p.partition}: the runtime "
                    "creates one Postmark Server per tenant with it. Copy of the 1Password item."
                ),
                SecretString=Ref(self.token),
                Tags=self._tags,
                DeletionPolicy="Delete",
                UpdateReplacePolicy="Delete",
            )
        )
        self._export(O_TOKEN_SECRET, Ref(secret), "ARN of the Postmark account token secret.")

    def _add_webhook_secret(self) -> None:
        p = self.props
        secret = self.template.add_resource(
            Secret(
                R_WEBHOOK_SECRET,
                Name=secret_name(p.stack_name, WEBHOOK_SECRET_NAME),
                Description=f"Basic-auth credential of Postmark webhooks for {p.mail_domain}.",
                GenerateSecretString=GenerateSecretString(
                    SecretStringTemplate='{"username": "postmark-webhook"}',
                    GenerateStringKey="password",
                    PasswordLength=40,
                    # URL-safe: Postmark sends the credential inside the webhook URL.
                    ExcludePunctuation=True,
                ),
                Tags=self._tags,
                DeletionPolicy="Retain",
                UpdateReplacePolicy="Retain",
            )
        )
        self._export(O_WEBHOOK_SECRET, Ref(secret), "ARN of the generated webhook credential secret.")

    def _add_dns_records_role(self, zone: HostedZone) -> None:
        p = self.props
        zone_arn = Join("", ["arn:", Ref("AWS::Partition"), ":route53:::hostedzone/", Ref(zone)])
        role = self.template.add_resource(
            Role(
                R_DNS_ROLE,
                Description=f"Lets the runtime write tenant mail records in {p.mail_domain}.",
                AssumeRolePolicyDocument=Policy(
                    Version="2012-10-17",
                    Statement=[
                        Statement(
                            Sid="PartitionRuntimeAssumesRole",
                            Effect=Allow,
                            Principal=Principal("AWS", p.dns_records_principal),
                            Action=[awacs_sts.AssumeRole],
                        )
                    ],
                ),
                Policies=[
                    RolePolicy(
                        PolicyName="PartitionMailRecords",
                        PolicyDocument=Policy(
                            Version="2012-10-17",
                            Statement=[
                                Statement(
                                    Sid="ChangeTenantMailRecords",
                                    Effect=Allow,
                                    Action=[awacs_route53.ChangeResourceRecordSets],
                                    Resource=[zone_arn],
                                    Condition=Condition(
                                        [
                                            ForAllValuesStringEquals(
                                                "route53:ChangeResourceRecordSetsRecordTypes",
                                                list(RUNTIME_RECORD_TYPES),
                                            ),
                                            # Tenant names only (Route 53 normalises them: lowercase,
                                            # no trailing dot, '*' as \052): never the apex, DMARC,
                                            # the partition's Return-Path or DKIM keys, nor a wildcard.
                                            ForAllValuesStringLike(
                                                "route53:ChangeResourceRecordSetsNormalizedRecordNames",
                                                [f"*.{p.mail_domain}"],
                                            ),
                                            ForAllValuesStringNotLike(
                                                "route53:ChangeResourceRecordSetsNormalizedRecordNames",
                                                [
                                                    f"_dmarc.{p.mail_domain}",
                                                    p.return_path_domain,
                                                    f"_domainkey.{p.mail_domain}",
                                                    f"*._domainkey.{p.mail_domain}",
                                                    "*\\052*",
                                                ],
                                            ),
                                        ]
                                    ),
                                ),
                                Statement(
                                    Sid="ReadPartitionZone",
                                    Effect=Allow,
                                    Action=[awacs_route53.GetHostedZone, awacs_route53.ListResourceRecordSets],
                                    Resource=[zone_arn],
                                ),
                                Statement(
                                    Sid="ReadChangeStatus",
                                    Effect=Allow,
                                    Action=[awacs_route53.GetChange],
                                    Resource=[Join("", ["arn:", Ref("AWS::Partition"), ":route53:::change/*"])],
                                ),
                            ],
                        ),
                    )
                ],
                Tags=self._tags,
            )
        )
        self._export(O_DNS_ROLE, GetAtt(role, "Arn"), "Role the runtime assumes to write tenant mail records.")

    def _add_marker(self) -> None:
        self.template.add_output(
            Output(O_MARKER, Value=INTERFACE_VERSION, Description="Interface version of this template (not exported).")
        )

    def _export(self, name: str, value, description: str) -> None:
        self.template.add_output(
            Output(name, Value=value, Description=description, Export=Export(self.props.export_name(name)))
        )


def _rule_equals_empty(parameter: Parameter) -> Equals:
    return Equals(Ref(parameter), "")
