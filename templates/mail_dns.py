"""The mail DNS facts of a partition domain, stated once.

Used by the template (what is published), the registration (what Postmark is told)
and the verify tool (what DNS must answer). Standard library only, so the
registration and verify CLIs can import it without troposphere.
"""

from __future__ import annotations

SPF_VALUE = "v=spf1 include:spf.mtasv.net ~all"
RETURN_PATH_LABEL = "pm-bounces"
# Postmark's ReturnPathDomainCNAMEValue.
RETURN_PATH_TARGET = "pm.mtasv.net"


def return_path_domain(domain: str) -> str:
    """``pm-bounces.<domain>``: the Return-Path (bounce) domain given to Postmark."""
    return f"{RETURN_PATH_LABEL}.{domain}"


def dmarc_value(policy: str, report_address: str) -> str:
    """The DMARC policy record text for ``_dmarc.<domain>``."""
    return f"v=DMARC1; p={policy}; rua=mailto:{report_address}"
