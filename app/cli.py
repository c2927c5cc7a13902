"""The `streamdesk` command: the desktop app by default, plus the server and headless verbs."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

THEMES = ("system", "light", "dark")


def build_parser() -> argparse.ArgumentParser:
    # Imported here so `streamdesk --help` stays fast and each layer owns its own verbs.
    from mirror import cli as mirror_cli
    from server import cli as server_cli

    parser = argparse.ArgumentParser(
        prog="streamdesk",
        description="Offline-first desktop client for event streams.",
    )
    parser.add_argument("--server", help="stream server URL (default: the embedded server)")
    parser.add_argument("--token", help="bearer token for --server (or STREAMDESK_TOKEN)")
    parser.add_argument("--data-dir", help="data directory (default: the user data directory)")
    parser.add_argument(
        "--path",
        help="stream path to open (default: the windows of the last session, or /; the very "
        "first start opens a sample stream)",
    )
    parser.add_argument("--namespace", default="default", help="stream namespace")
    parser.add_argument(
        "--theme",
        choices=THEMES,
        default="system",
        help="colours: the system's (default), or light or dark whatever the system says",
    )
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="headless check: start the embedded server, mirror a stream, exit 0 on success",
    )
    parser.add_argument(
        "--exit-after-show",
        action="store_true",
        help="quit as soon as the first window has been painted (startup timing, smoke tests)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    server_cli.add_commands(subparsers, bindings_factory=_builtin_processors)
    mirror_cli.add_commands(subparsers)
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("streamdesk")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def _builtin_processors(data_dir: Path) -> Mapping[str, Callable[[str], object]]:
    """`streamdesk serve` hosts the built-in processors in-process, as the app does."""
    from mirror.builtin_processors import CHECKPOINT_FILE_NAME, builtin_bindings

    return builtin_bindings(data_dir / "processors" / CHECKPOINT_FILE_NAME)


def no_display(environ: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """Why the window cannot open here, or None. Qt itself aborts the process with a page about
    platform plugins when a Linux session has no display; a plain line says what to do."""
    if not platform.startswith("linux") or environ.get("QT_QPA_PLATFORM"):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set). The "
        "verbs need none (streamdesk --help lists them; streamdesk serve runs the stream server "
        "alone); QT_QPA_PLATFORM=offscreen runs the app without showing it"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from app.interpreter_tuning import tune_interpreter

    tune_interpreter()
    if args.self_test:
        from app.self_test import run_self_test

        return run_self_test(args)
    if args.command is not None:
        result: int = args.run(args)
        return result
    if (why := no_display(os.environ)) is not None:
        print(f"streamdesk: {why}", file=sys.stderr)
        return 1
    from app.gui import run_gui

    return run_gui(args)


if __name__ == "__main__":
    sys.exit(main())
