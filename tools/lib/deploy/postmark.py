"""Steps 6 and 8: the Postmark token from 1Password, and the domain's registration with Postmark."""

from __future__ import annotations

import logging

from templates.partition_email import dkim_record
from tools.lib.deploy.context import Ctx
from tools.lib.logger import Secret
from tools.lib.postmark_client import resolve_base_url
from tools.lib.registration import Registration, lookup_registration, register_domain

LOG = logging.getLogger(__name__)


def resolve_token(ctx: Ctx) -> Secret:
    """Step 6: the Postmark account token (``op read``; redacted from now on, masked on GitHub Actions)."""
    reference = ctx.target.config.postmark_token_ref
    resolve_base_url()  # a bad POSTMARK_API_URL is refused before 1Password is asked
    ctx.out.progress(f"{ctx.target.stack}: resolving the Postmark token (op read {reference})")
    return ctx.services.resolve_token(reference)


# What a deploy adds beyond a plan made before the domain is registered: Postmark's first key's record.
ADDED_BY_REGISTRATION = (dkim_record(1),)


def registration_preview(ctx: Ctx) -> str:
    """What the first deploy adds beyond this plan: Postmark's first DKIM key, known only once it registers."""
    domain = ctx.target.config.mail_domain
    return (
        f"{ctx.target.stack}: {domain} is not registered with Postmark yet: the deploy registers it and adds "
        f"{dkim_record(1)} too (Postmark's first DKIM key)"
    )


def register(ctx: Ctx, token: Secret, *, read_only: bool) -> Registration | None:
    """Step 8: the domain registered with Postmark (looked up only, for a plan); its DKIM keys and Return-Path.

    A registration is a change this run makes in Postmark: the journal records it
    (it is never undone: rerunning is safe, and the domain is what the stack publishes).
    """
    client = ctx.services.postmark_client(token)
    domain = ctx.target.config.mail_domain
    if read_only:
        registration = lookup_registration(client, domain)
        if registration is None:
            ctx.out.result(registration_preview(ctx))
        return registration
    return register_domain(client, domain, ctx.journal)
