"""The boto3 session and client settings every AWS-using CLI shares."""

from __future__ import annotations

import os

import boto3
import botocore.session
from botocore.config import Config
from botocore.loaders import Loader, create_loader
from botocore.parsers import ResponseParserError

from tools.lib.aws.errors import aws_call
from tools.lib.errors import UsageError
from tools.lib.logger import register_secret

# Standard-mode retries (throttling and transient errors, with backoff), bounded waits.
BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=10, read_timeout=60)


_LOADERS: dict[str | None, Loader] = {}


def open_session(profile: str | None, region: str, where: str) -> boto3.Session:
    """A session for ``profile`` (default chain when None) in ``region``; a bad profile is one sentence.

    Sessions opened in one process share the loader of botocore's service models, so
    each model is parsed once (a rollout reads every partition's stack; the tests run
    commands in-process): about 60 ms less for every session after the first.
    """
    with aws_call("loading the AWS profile", where):
        core = botocore.session.get_session()
        named = profile or os.environ.get("AWS_PROFILE")
        if named and named not in core.available_profiles:  # a usage error: the name given is not a profile
            option = "--profile" if profile else "AWS_PROFILE"
            config = os.environ.get("AWS_CONFIG_FILE", "~/.aws/config")
            raise UsageError(f"{option} must name a profile of the AWS config ({config}), got: {named!r}")
        data_path = core.get_config_variable("data_path")
        if data_path not in _LOADERS:
            _LOADERS[data_path] = create_loader(data_path)
        core.register_component("data_loader", _LOADERS[data_path])
        session = boto3.Session(botocore_session=core, profile_name=profile, region_name=region)
    session.events.register("before-parse", refuse_html)
    session.events.register("before-sign", lambda **_: _register_credentials(session))
    return session


def _register_credentials(session: boto3.Session) -> None:
    """The secret key and session token are secrets like the Postmark token: redacted (--debug logs signing)."""
    credentials = session.get_credentials()
    if credentials is None:
        return
    frozen = credentials.get_frozen_credentials()
    for value in (frozen.secret_key, frozen.token):
        if value and len(value) >= 4:
            register_secret(value, mask=False)  # the job that put them in the environment masked them


def refuse_html(response_dict: dict, **_) -> None:
    """An HTML page is never an AWS answer (a captive portal or proxy error page): say so, do not parse it.

    botocore's parsers otherwise fail on it deep inside with a KeyError.
    """
    # The body decides, not the Content-Type: some endpoints label JSON answers text/html.
    body = response_dict.get("body") or b""
    start = body[:64].lstrip().lower() if isinstance(body, bytes) else b""
    if start.startswith((b"<html", b"<!doctype html")):
        raise ResponseParserError(f"HTTP {response_dict.get('status_code')} with an HTML page instead of an AWS answer")
