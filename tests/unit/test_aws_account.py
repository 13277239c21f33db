"""The account guard's first half: one endpoint set for every AWS service a run uses."""

from __future__ import annotations

import pytest

from tools.lib.aws.account import endpoint_problem

AWS = {
    "sts": "https://sts.us-east-1.amazonaws.com",
    "cloudformation": "https://cloudformation.us-east-1.amazonaws.com",
    "route53": "https://route53.amazonaws.com",
    "secretsmanager": "https://secretsmanager.us-east-1.amazonaws.com",
}


@pytest.mark.parametrize(
    "endpoints",
    [
        AWS,
        dict(AWS, sts="https://sts.amazonaws.com"),  # the global STS endpoint
        dict(AWS, cloudformation="https://cloudformation-fips.us-east-1.amazonaws.com"),
        dict(AWS, secretsmanager="https://secretsmanager.us-east-1.api.aws"),  # dual-stack
        {service: "http://127.0.0.1:5000" for service in AWS},  # one emulator for everything
        {service: "http://127.0.0.1:5000/" for service in AWS} | {"sts": "http://127.0.0.1:5000"},
    ],
    ids=["aws", "global-sts", "fips", "dual-stack", "one-emulator", "same-origin"],
)
def test_one_endpoint_set_passes(endpoints):
    assert endpoint_problem(endpoints, "us-east-1") is None


@pytest.mark.parametrize(
    ("endpoints", "said"),
    [
        (dict(AWS, cloudformation="http://127.0.0.1:9"), "answer from different endpoints"),
        ({**{s: "http://127.0.0.1:5000" for s in AWS}, "route53": "http://127.0.0.1:5001"}, "different endpoints"),
        ({**{s: "http://127.0.0.1:5000" for s in AWS}, "sts": "https://sts.us-east-1.amazonaws.com"}, "different"),
        (dict(AWS, cloudformation="https://cloudformation.eu-west-1.amazonaws.com"), "outside the target region"),
        (dict(AWS, sts="https://sts.amazonaws.com.evil.test"), "different endpoints"),
    ],
    ids=["one-elsewhere", "two-emulators", "sts-on-aws-rest-local", "other-region", "look-alike-host"],
)
def test_a_split_endpoint_set_is_named(endpoints, said):
    problem = endpoint_problem(endpoints, "us-east-1")
    assert problem is not None and said in problem
