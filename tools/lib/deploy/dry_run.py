"""``deploy.py --dry-run``: the target and every step as it would run, numbered as ``steps.STEPS``; touches nothing.

No AWS, no ``op``, no Postmark: only the instance config and the file names.
"""

from __future__ import annotations

from templates.mail_dns import return_path_domain
from templates.partition_email import DKIM_SLOT_NUMBERS, P_TOKEN
from tools.lib.deploy.context import Checkout, Target
from tools.lib.deploy.steps import STEPS
from tools.lib.output import Sink
from tools.lib.postmark_client import resolve_base_url


def step_details(target: Target, checkout: Checkout) -> dict[str, str]:
    """What each step would do for this target, by step name."""
    config = target.config
    name = checkout.template_path(config).name
    return {
        "config": f"{config.source.parent.name}/{config.source.name} and infrastructure.toml: valid",
        "account": f"one endpoint set for all AWS services; sts get-caller-identity (account {target.account})",
        "committed": f"git: templates/{name} and every file it is rendered from committed (--plan only says so)",
        "template": f"templates/{name} equals what the code renders, at most 51200 bytes",
        "stack": f"describe_stacks {target.stack}: a state that can take a change set; drift of a running stack",
        "token": f"op read {config.postmark_token_ref}; ::add-mask:: *** (GitHub Actions only)",
        "lint": f"cfn-lint templates/{name} --regions {target.region}",
        "postmark": f"Postmark register {config.mail_domain} (Return-Path {return_path_domain(config.mail_domain)}) "
        f"at {resolve_base_url()}",
        "change-set": f"create_change_set {target.stack} (CREATE or UPDATE) TemplateBody=templates/{name} "
        f"{P_TOKEN}=**** DkimSlot<1-{len(DKIM_SLOT_NUMBERS)}>Selector/Value=<Postmark's keys, each in the slot "
        "it holds in the deployed stack> Capabilities=CAPABILITY_IAM",
        "review": "wait for the change set (poll every 2 s; no changes = done), show it",
        "execute": "execute after confirmation (--yes skips the question) if the change set is in the configured "
        "account, follow the stack events, protect it, print the exports; otherwise, or on Ctrl-C, delete it",
    }


def dry_run(target: Target, checkout: Checkout, out: Sink) -> list[dict]:
    """Print the target and each step with what it would do; the steps, for the JSON document."""
    details = step_details(target, checkout)
    out.result(target.describe())
    for step in STEPS:
        out.result(f"{step.number}. {step.name}: {details[step.name]}")
    return [{"number": s.number, "name": s.name, "does": s.does, "here": details[s.name]} for s in STEPS]
