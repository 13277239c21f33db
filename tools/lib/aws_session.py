"""The boto3 session and client settings every AWS-using CLI shares."""

from __future__ import annotations

import boto3
from botocore.config import Config

from tools.lib.aws_errors import aws_call

# Standard-mode retries (throttling and transient errors, with backoff), bounded waits.
BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, connect_timeout=10, read_timeout=60)


def open_session(profile: str | None, region: str, where: str) -> boto3.Session:
    """A session for ``profile`` (default chain when None) in ``region``; a bad profile is one sentence."""
    with aws_call("loading the AWS profile", where):
        return boto3.Session(profile_name=profile, region_name=region)
