"""Render each partition's CloudFormation template to its committed YAML file.

    python generate.py [PARTITION ...] [--check] [--out DIR]

With no PARTITION, every active partition (one with an instance file) is rendered.
``--check`` writes nothing and exits 1 naming every file that differs from what the
code renders now. The render path needs no AWS, no network and no credentials.

Exit codes: 0 done (or up to date), 1 stale files found by --check,
2 bad arguments or bad instance config.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
from pathlib import Path

from instances.registry import load_registry
from templates.render import TEMPLATES_DIR, read_handler_source, render, template_path
from tools.lib.cli import report_error
from tools.lib.errors import ArdaMailError, UsageError

EXIT_OK, EXIT_STALE, EXIT_USAGE = 0, 1, 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="generate.py",
        description="Render partition mail templates to committed CloudFormation YAML.",
        epilog="Exit codes: 0 done or up to date; 1 stale file(s) with --check; 2 bad arguments or instance config.",
    )
    parser.add_argument(
        "partitions", nargs="*", metavar="PARTITION", help="dev, stage, demo or prod (default: all active)"
    )
    parser.add_argument("--check", action="store_true", help="write nothing; fail if a committed file is stale")
    parser.add_argument(
        "--out", type=Path, default=TEMPLATES_DIR, metavar="DIR", help="output folder (default: templates/)"
    )
    parser.add_argument("--diff", action="store_true", help="with --check, show a unified diff of each stale file")
    return parser.parse_args(argv)


def _write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` in one step so a failed run never leaves half a file."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        # mkstemp creates 0600; a committed template gets the usual mode (0644 under umask 022).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run(args: argparse.Namespace) -> int:
    """Render every requested partition, then write or check them all."""
    registry = load_registry()
    names = args.partitions or list(registry.partitions)
    configs = [registry.partition(name) for name in dict.fromkeys(names)]
    if not configs:
        print("no active partitions: add instances/<Infrastructure>/<partition>.toml", file=sys.stderr)
        return EXIT_USAGE
    if not args.out.is_dir():
        raise UsageError(f"--out must be an existing folder, got: {str(args.out)!r}")
    handler_source = read_handler_source()
    # Render everything before touching any file: a bad partition writes nothing.
    rendered = [(template_path(c, args.out), render(c, handler_source), c) for c in configs]

    if args.check:
        stale = 0
        for path, text, config in rendered:
            current = path.read_text(encoding="utf-8") if path.is_file() else None
            if current == text:
                print(f"up to date: {_display(path)}")
                continue
            stale += 1
            why = "missing" if current is None else "stale"
            print(
                f"{why}: {_display(path)} differs from what the code renders; "
                f"run: python generate.py {config.partition.value}",
                file=sys.stderr,
            )
            if args.diff and current is not None:
                sys.stderr.writelines(
                    difflib.unified_diff(
                        current.splitlines(keepends=True),
                        text.splitlines(keepends=True),
                        f"{path.name} (committed)",
                        f"{path.name} (rendered)",
                    )
                )
        return EXIT_STALE if stale else EXIT_OK

    for path, text, _ in rendered:
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            print(f"unchanged: {_display(path)}")
        else:
            _write_atomically(path, text)
            print(f"wrote: {_display(path)}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point: one error line and an exit code, never a traceback."""
    args = parse_args(argv)
    try:
        return run(args)
    except ArdaMailError as exc:
        return report_error("generate.py", exc)


if __name__ == "__main__":
    sys.exit(main())
