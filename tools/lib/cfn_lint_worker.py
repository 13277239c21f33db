"""The child process of ``tools.lib.cfn_lint``: lint one template read from stdin.

    python -I cfn_lint_worker.py REGION < template.yaml

Prints one JSON object, ``{"matches": [{"rule": "W2001", "text": "..."}]}``, and
exits 0 whatever cfn-lint found (the parent decides what an error is); any other
exit is a failure of the linter itself, described on stderr. The template is read
before cfn-lint is imported, so the parent's write never waits on that import.
Imports nothing of this project: it runs isolated (``-I``), as a plain script.
"""

import json
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write(f"usage: cfn_lint_worker.py REGION < template (got {len(argv)} arguments)\n")
        return 2
    body = sys.stdin.read()
    from cfnlint.api import ManualArgs, lint

    matches = lint(body, config=ManualArgs(regions=[argv[0]]))
    json.dump({"matches": [{"rule": m.rule.id, "text": str(m)} for m in matches]}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
