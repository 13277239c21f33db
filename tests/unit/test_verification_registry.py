"""docs/verification.md and the proofs must agree, in both directions."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import REPO
from tools.lib import verify

DOC = REPO / "docs" / "verification.md"
ROW = re.compile(r"^\| (V-(?:PART|IAC|CLI)-\d{3}) \| (.+?) \| (.+?) \| (.+?) \|$")
ID = re.compile(r"V-(?:PART|IAC|CLI)-\d{3}")
EXPECTED_RANGES = {"V-PART": range(1, 23), "V-IAC": range(3, 9), "V-CLI": range(1, 6)}


def registry() -> dict[str, set[str]]:
    """Documented ID -> its proof kinds (test, verify, operator)."""
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match:
            check_id, _, proof, _ = match.groups()
            assert check_id not in rows, f"{check_id} is documented twice"
            rows[check_id] = {p.strip() for p in proof.split(",")}
    return rows


def sign_off_ids() -> set[str]:
    """IDs covered by the operator sign-off table (ranges like V-PART-003..011 expanded)."""
    text = DOC.read_text(encoding="utf-8").split("## Operator sign-off", 1)[1]
    ids = set(ID.findall(text))
    for prefix, low, high in re.findall(r"(V-[A-Z]+)-(\d{3})\.\.(\d{3})", text):
        ids.update(f"{prefix}-{n:03d}" for n in range(int(low), int(high) + 1))
    return ids


def marked_ids() -> dict[str, list[str]]:
    """ID -> the tests that carry @pytest.mark.vcheck(ID), read from the test sources."""
    found: dict[str, list[str]] = {}
    for path in sorted(Path(__file__).parent.parent.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and ast.unparse(deco.func) == "pytest.mark.vcheck":
                    for arg in deco.args:
                        found.setdefault(arg.value, []).append(f"{path.name}::{node.name}")
    return found


def test_the_registry_lists_exactly_the_promised_ranges():
    expected = {f"{prefix}-{n:03d}" for prefix, numbers in EXPECTED_RANGES.items() for n in numbers}
    assert set(registry()) == expected


def test_every_test_proof_has_a_marked_test():
    marks = marked_ids()
    unproved = sorted(i for i, kinds in registry().items() if "test" in kinds and i not in marks)
    assert unproved == [], f"documented as proved by a test, but no test carries the marker: {unproved}"


def test_every_marker_names_a_documented_id():
    unknown = sorted(set(marked_ids()) - set(registry()))
    assert unknown == [], f"tests mark IDs that docs/verification.md lacks: {unknown}"


def test_verify_proofs_match_the_verify_tool():
    documented = {i for i, kinds in registry().items() if "verify" in kinds}
    assert documented == set(verify.CHECK_IDS)
    # and each verify check is itself exercised by a test of the tool
    marks = marked_ids()
    assert all(any("test_verify.py" in t for t in marks.get(i, [])) for i in documented)


def test_operator_proofs_are_in_the_sign_off_table():
    operator = {i for i, kinds in registry().items() if "operator" in kinds}
    assert operator and operator <= sign_off_ids()


def test_proof_kinds_are_known():
    for check_id, kinds in registry().items():
        assert kinds <= {"test", "verify", "operator"}, (check_id, kinds)
