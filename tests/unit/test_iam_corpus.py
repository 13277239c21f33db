"""The evaluator against independent cases: moto's access-control tests and the IAM User Guide's examples.

tests/data/iam_corpus/README.md names the sources, their licences and how each case
was made. Every in-scope case must get AWS's documented answer; every case outside
the evaluator's scope must be refused (raise), never allowed.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tools.rehearsal.iam_conditions import UnsupportedCondition
from tools.rehearsal.iam_policy import ALLOW, Principal, Request, ResourcePolicy, decide

CORPUS = Path(__file__).resolve().parent.parent / "data" / "iam_corpus"
FILES = ("moto_access_control.json", "iam_user_guide.json")
ANSWERS = {"allowed", "explicit deny", "implicit deny", "refused"}


def load(name: str) -> dict:
    return json.loads((CORPUS / name).read_text(encoding="utf-8"))


def cases(refused: bool):
    for name in FILES:
        for case in load(name)["cases"]:
            if (case["expected"] == "refused") is refused:
                yield pytest.param(case, id=f"{name.split('_')[0]}:{case['id']}")


def decision(case: dict) -> str:
    who, asked = case["principal"], case["request"]
    principal = Principal(who["arn"], who["account"], role_arn=who.get("role_arn", ""))
    modelled = asked.get("modelled")
    request = Request(asked["action"], [asked["resource"]], asked.get("context", {}), modelled)
    policy = case.get("resource_policy")
    resource = ResourcePolicy(policy["document"], policy["account"], policy.get("required", False)) if policy else None
    return decide(request, principal, case["identity"], case.get("session"), resource)


@pytest.mark.parametrize("case", list(cases(refused=False)))
def test_an_in_scope_case_gets_awss_answer(case):
    assert decision(case) == case["expected"], case.get("note", "")


@pytest.mark.parametrize("case", list(cases(refused=True)))
def test_a_case_outside_the_scope_is_refused_never_allowed(case):
    with pytest.raises(UnsupportedCondition):
        assert decision(case) != ALLOW


@pytest.mark.parametrize("name", FILES)
def test_every_case_names_its_source_and_an_answer(name):
    data = load(name)
    assert data["source"]["licence"]
    ids = [case["id"] for case in data["cases"]]
    assert len(ids) == len(set(ids)), "case ids are unique"
    for case in data["cases"]:
        assert case["expected"] in ANSWERS, case["id"]
        assert case.get("test") or case.get("url", "").startswith("https://docs.aws.amazon.com/"), case["id"]


def test_the_corpus_is_what_the_readme_says():
    counts = {name: Counter(c["expected"] == "refused" for c in load(name)["cases"]) for name in FILES}
    assert counts["moto_access_control.json"] == {False: 41, True: 1}
    assert counts["iam_user_guide.json"] == {False: 109, True: 7}
