"""Render each partition's CloudFormation template to its committed YAML file.

    python generate.py [PARTITION ...] [--check [--diff]] [--out DIR] [--json]

With no PARTITION, every active partition (one with an instance file) is rendered,
and with them what every infrastructure shares: PlatformRoot's delegation role
template (``templates/PlatformRoot-<role>.yaml``) and ``docs/permissions.md``.
``--check`` writes nothing and exits 1 naming every file that differs from what the
code renders now (``--diff`` shows how). The render path needs no AWS, no network
and no credentials.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

from instances.registry import load_registry
from templates.render import TEMPLATES_DIR, read_handler_source, render, shared_files, template_path
from tools.lib import frame
from tools.lib.errors import UsageError
from tools.lib.exits import Exit
from tools.lib.output import write_file

COMMAND = frame.Command(
    name="generate",
    prog="generate.py",
    description="Render partition mail templates to committed CloudFormation YAML.",
    exits={
        Exit.OK: "done, or (--check) every file up to date",
        Exit.FAILED: "--check found a stale or missing file (each is named)",
        Exit.USAGE: "bad arguments, unknown or inactive partition, bad instance config",
    },
)


def add_arguments(parser) -> None:
    """generate.py's own arguments."""
    parser.add_argument(
        "partitions", nargs="*", metavar="PARTITION", help="dev, stage, demo or prod (default: all active)"
    )
    parser.add_argument("--check", action="store_true", help="write nothing; fail if a committed file is stale")
    parser.add_argument(
        "--out", type=Path, default=TEMPLATES_DIR, metavar="DIR", help="output folder (default: templates/)"
    )
    parser.add_argument("--diff", action="store_true", help="with --check, show a unified diff of each stale file")


def check(args) -> None:
    """Arguments that only make sense together."""
    if args.diff and not args.check:
        raise UsageError("--diff goes with --check (generate writes the files otherwise)")


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def generate(run: frame.Run) -> int:
    """Render every requested partition, then write or check them all."""
    args, out = run.args, run.out
    registry = load_registry()
    names = args.partitions or list(registry.partitions)
    configs = [registry.partition(name) for name in dict.fromkeys(names)]
    if not configs:
        raise UsageError("no active partitions: add instances/<Infrastructure>/<partition>.toml")
    if not args.out.is_dir():
        raise UsageError(f"--out must be an existing folder, got: {str(args.out)!r}")
    handler_source = read_handler_source()
    # Render everything before touching any file: a bad partition writes nothing.
    rendered = [(template_path(c, args.out), render(c, handler_source), c.partition.value) for c in configs]
    if not args.partitions:
        rendered += [(path, text, None) for path, text in shared_files(registry, args.out)]
    files = []
    for path, text, partition in rendered:
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            state = "up to date" if args.check else "unchanged"
        elif args.check:
            state = "missing" if current is None else "stale"
            out.warning(
                f"{state}: {_display(path)} differs from what the code renders; "
                f"run: python generate.py {partition or ''}".rstrip()
            )
            if args.diff and current is not None:
                for line in difflib.unified_diff(
                    current.splitlines(),
                    text.splitlines(),
                    f"{path.name} (committed)",
                    f"{path.name} (rendered)",
                    lineterm="",
                ):
                    out.warning(line)
        else:
            write_file(path, text)
            state = "wrote"
        if state in ("up to date", "unchanged", "wrote"):
            out.result(f"{state}: {_display(path)}")
        files.append({"path": _display(path), "partition": partition, "state": state})
    out.document["files"] = files
    stale = [f for f in files if f["state"] in ("stale", "missing")]
    out.document["outcome"] = "stale" if stale else ("checked" if args.check else "generated")
    return Exit.FAILED if stale else Exit.OK


def main(argv: list[str] | None = None) -> int:
    """Entry point: the frame's one error line and exit code, never a traceback."""
    return frame.run(COMMAND, add_arguments, generate, argv, check=check)


if __name__ == "__main__":
    sys.exit(main())
