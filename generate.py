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
import os
import sys
from pathlib import Path

from instances.registry import load_registry
from templates.render import TEMPLATES_DIR, read_handler_source, render, template_path
from tools.lib.errors import ArdaMailError, UsageError

# difflib (--diff) and tools.lib.cli (its logging is for errors only) are imported
# where used, and tempfile not at all (_write_atomically): a whole run is about
# 90 ms, and those were 12 ms of it.

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
    """Replace ``path`` in one step so a failed run never leaves half a file.

    The temporary file is this process's own (O_EXCL: never an existing file or a
    symlink) and gets the usual mode of a new file (0644 under umask 022).
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        handle = os.open(temp, flags, 0o666)
    except FileExistsError:  # left by a crashed run that had this process ID
        temp.unlink()
        handle = os.open(temp, flags, 0o666)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
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
                import difflib

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
        from tools.lib.cli import report_error

        return report_error("generate.py", exc)


if __name__ == "__main__":
    code = main()
    # Leave without the interpreter's teardown: finalizing the modules a one-shot run
    # will never use again is about 15 ms of a 100 ms run. Every file written is closed
    # by now (with-blocks); only the standard streams are still buffered.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
