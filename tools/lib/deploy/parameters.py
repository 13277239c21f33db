"""Step 9's inputs: the stack parameters (the NoEcho token, each DKIM key in its slot) and the stack tags."""

from __future__ import annotations

import re

from instances.registry import PartitionConfig
from templates.dkim import SELECTOR_PATTERN, assign_slots, txt_record_value
from templates.errors import DkimValueError
from templates.partition_email import (
    DKIM_SLOT_NUMBERS,
    P_TOKEN,
    dkim_selector_parameter,
    dkim_value_parameter,
    partition_tags,
)
from tools.lib.deploy.context import MANAGED_BY
from tools.lib.errors import ArdaMailError
from tools.lib.logger import Secret, holds_secret
from tools.lib.registration import Registration


def template_parameters(
    token: Secret, registration: Registration | None, deployed: list[str], where: str
) -> dict[str, str]:
    """The stack parameters: the token (NoEcho) and each DKIM key Postmark needs, in its slot.

    ``deployed`` is the selector each slot holds in the deployed stack, so that a key
    keeps its slot (and its CloudFormation resource) whatever its role becomes.
    """
    keys = registration.dkim_keys if registration else ()
    for key in keys:
        if not re.fullmatch(SELECTOR_PATTERN, key.selector):
            raise ArdaMailError(
                f"{where}: Postmark's {key.state} DKIM selector must be one or more DNS labels, got: {key.selector!r}"
            )
    try:
        values = {key.selector: txt_record_value(key.value) for key in keys}
        slots = assign_slots([(key.selector, values[key.selector]) for key in keys], deployed)
    except DkimValueError as exc:
        raise ArdaMailError(f"{where}: Postmark's DKIM keys cannot be published: {exc}") from None
    params = {P_TOKEN: token.reveal()}
    for slot, assigned in zip(DKIM_SLOT_NUMBERS, slots, strict=True):
        if assigned and holds_secret(" ".join(assigned)):
            raise ArdaMailError(
                f"{where}: Postmark's DKIM key for slot {slot} holds a secret this run knows; it would be deployed "
                "in clear and published in DNS: nothing was created"
            )
        selector, value = assigned or ("", "")
        params[dkim_selector_parameter(slot)] = selector
        params[dkim_value_parameter(slot)] = value
    return params


def slot_sentences(registration: Registration | None, params: dict[str, str], where: str) -> list[str]:
    """What each filled DKIM slot holds ("<stack>: DKIM slot 1 holds the pending key <selector>")."""
    states = {key.selector: key.state for key in (registration.dkim_keys if registration else ())}
    return [
        f"{where}: DKIM slot {slot} holds the {states.get(selector, 'deployed')} key {selector}"
        for slot in DKIM_SLOT_NUMBERS
        if (selector := params.get(dkim_selector_parameter(slot)))
    ]


def stack_tags(config: PartitionConfig) -> dict[str, str]:
    """Stack tags: the partition's own plus who and what manages it."""
    return {
        **partition_tags(config.tags, config.infrastructure.name, config.partition.value),
        "arda:managed-by": MANAGED_BY,
    }
