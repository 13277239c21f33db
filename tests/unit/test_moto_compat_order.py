"""The world's patches as modules: one per patch, installed in the stated order, no state but CONTROLS.

Read from the source (ast), so nothing here imports moto.
"""

from __future__ import annotations

import ast
import json
import subprocess

from tests.conftest import PYTHON, REPO
from tools.rehearsal.moto_compat import ORDER

PACKAGE = REPO / "tools" / "rehearsal" / "moto_compat"
PATCHES = sorted(PACKAGE.glob("p[0-9][0-9]_*.py"))
LOGIC = sorted(p for p in PACKAGE.glob("*.py") if p not in PATCHES and p.name != "__init__.py")


def tree(path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def test_every_patch_module_is_installed_once_and_numbered_as_its_docstring_says():
    assert sorted(ORDER) == [p.stem for p in PATCHES]
    assert [int(p.name[1:3]) for p in PATCHES] == list(range(1, len(PATCHES) + 1))
    for path in PATCHES:
        module = tree(path)
        assert ast.get_docstring(module).startswith(f"Patch {int(path.name[1:3])}: "), path.name
        functions = {n.name for n in module.body if isinstance(n, ast.FunctionDef)}
        assert "install" in functions, path.name


def test_the_order_keeps_its_three_rules():
    # __init__'s docstring, "The order", says why.
    assert ORDER[0] == "p14_iam"
    slow = ORDER.index("p10_slow_execution")
    assert ORDER.index("p04_outputs_after_change_set") < slow and ORDER.index("p08_change_sets") < slow
    imports = ORDER.index("p20_resource_imports")
    inner = ("p04_outputs_after_change_set", "p06_empty_change_set", "p08_change_sets", "p10_slow_execution")
    assert all(ORDER.index(name) < imports for name in (*inner, "p16_retries_and_retention"))


def test_no_module_keeps_mutable_state_but_the_one_controls_object():
    mutable = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp, ast.Call)
    found = set()
    for path in PACKAGE.glob("*.py"):
        for node in tree(path).body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, mutable):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                found |= {f"{path.stem}.{ast.unparse(t)}" for t in targets}
            if isinstance(node, ast.Global):
                found.add(f"{path.stem}: global {', '.join(node.names)}")
    assert found == {"controls.CONTROLS"}


def test_no_function_is_longer_than_a_screen():
    long = {
        f"{path.stem}.{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for path in PACKAGE.glob("*.py")
        for node in ast.walk(tree(path))
        if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 60
    }
    assert long == set()


def test_the_logic_and_the_controls_need_no_moto():
    for path in LOGIC:
        imported = {
            name
            for node in ast.walk(tree(path))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for name in ([node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names])
        }
        assert not {n for n in imported if n.split(".")[0] in ("moto", "werkzeug", "boto3")}, path.name
    # Importing the package (for CONTROLS, as tools/rehearse.py does) loads no moto: apply() does.
    probe = "import json, sys; import tools.rehearsal.moto_compat; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([PYTHON, "-c", probe], cwd=REPO, capture_output=True, check=True).stdout)
    assert [m for m in loaded if m.split(".")[0] == "moto"] == []
