"""Steps 6 and 8: the Postmark token from 1Password, what Postmark holds for the domain, and its registration."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from templates.partition_email import dkim_record
from tools.lib.deploy.context import Ctx
from tools.lib.logger import Secret
from tools.lib.postmark_client import PostmarkClient, resolve_base_url
from tools.lib.registration import Found, Registration, lookup_registration, read_domain, register_domain

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


@dataclass(frozen=True)
class PostmarkRead:
    """Step 6 and the read half of step 8: the token, a Postmark client holding it, what Postmark holds now."""

    token: Secret
    postmark: PostmarkClient  # holding the token
    found: Found


def read_postmark(ctx: Ctx, stack_id: str | None = None) -> PostmarkRead:
    """Step 6, then what Postmark holds for the domain (reads only: nothing is registered or changed here).

    ``stack_id``: the running stack (step 5); the domain's Postmark ID an earlier deploy of it
    remembered is asked for directly, one round trip instead of two (``registration.read_domain``
    takes it only when Postmark names the domain there).
    """
    token = resolve_token(ctx)
    postmark = ctx.services.postmark_client(token)
    domain = ctx.target.config.mail_domain
    known = ctx.services.domain_ids.recall(resolve_base_url(), domain, stack_id) if stack_id else None
    return PostmarkRead(token, postmark, read_domain(postmark, domain, known))


def remember_domain_id(ctx: Ctx, stack_id: str, registration: Registration | None) -> None:
    """Keep the domain's Postmark ID for the next deploy of the stack ``stack_id`` (a hint: see ``read_postmark``)."""
    if registration is not None and stack_id:
        domain = ctx.target.config.mail_domain
        ctx.services.domain_ids.remember(resolve_base_url(), domain, stack_id, registration.domain_id)


def register(ctx: Ctx, read: PostmarkRead, *, read_only: bool) -> Registration | None:
    """Step 8: the domain registered with Postmark (looked up only, for a plan); its DKIM keys and Return-Path.

    Starts from what ``read_postmark`` read. A registration is a change this run makes
    in Postmark: the journal records it (it is never undone: rerunning is safe, and
    the domain is what the stack publishes).
    """
    domain = ctx.target.config.mail_domain
    if read_only:
        registration = lookup_registration(read.postmark, domain, read.found)
        if registration is None:
            ctx.out.result(registration_preview(ctx))
        return registration
    return register_domain(read.postmark, domain, ctx.journal, read.found)
