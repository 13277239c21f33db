"""Field rules shared by the config loader and the stack props.

Each check returns ``None`` when the value is fine, or the phrase that completes
"<field> must ...". Callers add the field name, the value and where it came from.
"""

from __future__ import annotations

import re

# re.ASCII everywhere: \d and \w must not accept other scripts' digits and letters
# ("١١١١..." is not an account ID, whatever Python's str.isdigit says).
_ACCOUNT_ID = re.compile(r"[0-9]{12}")
_REGION = re.compile(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]")
_AWS_PARTITION = r"aws(-cn|-us-gov)?"
_IAM_NAME = r"[A-Za-z0-9_+=,.@/-]{1,512}"
_ROLE_ARN = re.compile(rf"arn:({_AWS_PARTITION}):iam::([0-9]{{12}}):role/{_IAM_NAME}")
# A principal allowed to assume a role: an account root, a role or a user.
_PRINCIPAL_ARN = re.compile(rf"arn:({_AWS_PARTITION}):iam::([0-9]{{12}}):(root|role/{_IAM_NAME}|user/{_IAM_NAME})")
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# RFC 7489 §6.4 separates URIs with "," and size limits with "!", and the record's
# tags with ";": none of them may appear in the report address itself.
_EMAIL_LOCAL = re.compile(r"[a-z0-9#$%&'*+/=?^_`{|}~.-]{1,64}")
# op://<vault>/<item>/[<section>/]<field>; 1Password names may hold spaces, not slashes
# and no control characters (they would reach op's argv and every log line).
_OP_PART = r"[^/\s\x00-\x1f\x7f][^/\x00-\x1f\x7f]*"
_OP_REFERENCE = re.compile(rf"op://({_OP_PART})/({_OP_PART})(/{_OP_PART}){{1,2}}")
# AWS tag keys and values: letters, digits, spaces and _ . : / = + - @ (Unicode letters
# are allowed by AWS; control characters are not).
# ASCII only: AWS allows any UTF-8 letter, but the rendered template is plain ASCII
# (templates/yaml_emitter.py), and a name the emitter cannot write must fail here, named.
_TAG_KEY = re.compile(r"[A-Za-z0-9_ .:/=+@-]{1,128}")
_TAG_VALUE = re.compile(r"[A-Za-z0-9_ .:/=+@-]{0,180}")
# Every value below lands in the committed YAML, whose emitter writes a line of at most
# 200 columns and a string of under 200 characters (templates/yaml_emitter.py): the
# limits keep each field's longest rendering inside them, so a value the emitter could
# not write is refused here, named. tests/unit/test_registry.py renders every field at
# its limit. AWS allows more (tag values of 256, IAM paths of 512, domains of 253).
YAML = "the committed YAML keeps each line within 200 columns"
MAX_PARENT_ZONE = 60
MAX_REPORT_ADDRESS = 100
MAX_ARN = 160
_INFRASTRUCTURE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,30}")
# The fewest tags any resource of the stack takes: a Route 53 hosted zone holds at most 10
# (Route 53 Developer Guide, "Tagging Amazon Route 53 resources"; ChangeTagsForResource's
# AddTags: "You can add a maximum of 10 tags"). aws:-prefixed system tags do not count.
MAX_TAGS = 10
# Region-name prefixes of the AWS partitions other than "aws".
PARTITION_OF_REGION = (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"))

DMARC_POLICIES = ("none", "quarantine", "reject")


def account_id(value: object) -> str | None:
    """An AWS account ID: exactly 12 digits, as a string."""
    if isinstance(value, str) and _ACCOUNT_ID.fullmatch(value):
        return None
    return "be a 12-digit AWS account ID in quotes"


def region(value: object) -> str | None:
    """An AWS region name such as us-east-1."""
    if isinstance(value, str) and _REGION.fullmatch(value):
        return None
    return "be an AWS region name such as 'us-east-1'"


def role_arn(value: object) -> str | None:
    """An IAM role ARN."""
    if isinstance(value, str) and len(value) <= MAX_ARN and _ROLE_ARN.fullmatch(value):
        return None
    return f"be an IAM role ARN of at most {MAX_ARN} characters such as 'arn:aws:iam::111122223333:role/Name' ({YAML})"


def role_arn_account(value: str) -> str:
    """The account ID inside a role ARN already checked by ``role_arn``."""
    match = _ROLE_ARN.fullmatch(value)
    assert match is not None
    return match.group(3)


def aws_partition(region_name: str) -> str:
    """The AWS partition (``aws``, ``aws-cn``, ``aws-us-gov``) a region belongs to."""
    return next((partition for prefix, partition in PARTITION_OF_REGION if region_name.startswith(prefix)), "aws")


def arn_in_partition(arn: str, region_name: str) -> str | None:
    """An ARN of the same AWS partition as ``region_name``."""
    expected = aws_partition(region_name)
    if arn.split(":")[1:2] == [expected]:
        return None
    return f"be an ARN of the {expected!r} partition like region {region_name!r} (arn:{expected}:...)"


def principal_arn(value: object) -> str | None:
    """An IAM principal ARN (account root, role or user)."""
    if isinstance(value, str) and len(value) <= MAX_ARN and _PRINCIPAL_ARN.fullmatch(value):
        return None
    return (
        f"be an IAM principal ARN of at most {MAX_ARN} characters such as 'arn:aws:iam::111122223333:root' or "
        f"'...:role/Name' ({YAML})"
    )


def domain_name(value: object, longest: int = 253) -> str | None:
    """A lowercase fully qualified domain name with at least two labels, no trailing dot."""
    if (
        isinstance(value, str)
        and len(value) <= longest
        and value.count(".") >= 1
        and all(_LABEL.fullmatch(label) for label in value.split("."))
    ):
        return None
    if longest < 253:
        return (
            f"be a lowercase domain name of at most {longest} characters such as 'ardamails.com' "
            f"(no trailing dot; {YAML})"
        )
    return "be a lowercase domain name such as 'dev.ardamails.com' (no trailing dot)"


def parent_zone(value: object) -> str | None:
    """The parent zone: a domain name every partition's names, records and descriptions are built from."""
    return domain_name(value, MAX_PARENT_ZONE)


def infrastructure_name(value: object) -> str | None:
    """An infrastructure's name (its folder under instances/): letters and digits starting with a letter."""
    if isinstance(value, str) and _INFRASTRUCTURE.fullmatch(value):
        return None
    return "be a name of at most 31 ASCII letters and digits starting with a letter, such as 'Alpha002'"


def email_address(value: object) -> str | None:
    """A lowercase mailbox address local@domain."""
    if isinstance(value, str) and value.isascii() and value.count("@") == 1 and len(value) <= MAX_REPORT_ADDRESS:
        local, domain = value.split("@")
        if _EMAIL_LOCAL.fullmatch(local) and domain_name(domain) is None:
            return None
    return (
        f"be a lowercase e-mail address of at most {MAX_REPORT_ADDRESS} characters such as "
        f"'dmarc-reports@arda.cards' (no ',', '!', ';' or spaces; {YAML})"
    )


def dmarc_policy(value: object) -> str | None:
    """A DMARC p= policy."""
    if value in DMARC_POLICIES:
        return None
    return f"be one of {', '.join(DMARC_POLICIES)}"


def ttl(value: object, low: int = 60, high: int = 172800) -> str | None:
    """A DNS TTL in seconds within [low, high]."""
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return None
    return f"be a whole number of seconds from {low} to {high}"


def op_reference(value: object) -> str | None:
    """A 1Password secret reference op://vault/item/[section/]field."""
    if isinstance(value, str) and _OP_REFERENCE.fullmatch(value):
        return None
    return "be a 1Password secret reference such as 'op://Vault/Item/credential'"


def op_reference_item(value: str) -> str:
    """The item name inside a reference already checked by ``op_reference``."""
    match = _OP_REFERENCE.fullmatch(value)
    assert match is not None
    return match.group(2)


def tags(value: object) -> str | None:
    """A table of string tag keys to string values, AWS tag limits, no aws: prefix."""
    if not isinstance(value, dict):
        return "be a table of tag names to string values"
    # Three more land on every resource: arda:infrastructure and arda:partition from the
    # template, arda:managed-by from the stack (CloudFormation propagates stack tags).
    added = ("arda:infrastructure", "arda:partition", "arda:managed-by")
    total = len(set(value) | set(added))
    if total > MAX_TAGS:
        return (
            f"hold at most {MAX_TAGS - len(added)} tags besides {', '.join(added)} (a Route 53 hosted zone takes "
            f"{MAX_TAGS} in all), got {len(set(value) - set(added))}"
        )
    for key, val in value.items():
        if not _TAG_KEY.fullmatch(key) or key.lower().startswith("aws:"):
            return (
                f"use tag names of 1-128 ASCII letters, digits or ' _.:/=+-@' not starting with 'aws:' "
                f"(bad name {key!r})"
            )
        if not isinstance(val, str) or not _TAG_VALUE.fullmatch(val):
            return f"map each tag to at most 180 ASCII letters, digits or ' _.:/=+-@' ({YAML}; bad value for {key!r})"
    return None


_GATE = re.compile(r"[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?")


def gate_names(value: object) -> str | None:
    """A list of rollout gate names: lowercase words joined by hyphens, e.g. 'postmark-compliance-reply'."""
    if isinstance(value, list) and all(isinstance(v, str) and _GATE.fullmatch(v) for v in value):
        return None
    return "be a list of gate names such as ['postmark-compliance-reply'] (lowercase letters, digits, hyphens)"
