"""What the headless verbs share: the stream arguments, the token, exit codes, one-line
failures on stderr (``mirror.cli`` and ``mirror.cli_control`` build on it)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable

from wire.paths import (
    DEFAULT_NAMESPACE,
    PathError,
    ServerUrlError,
    normalize_path,
    validate_server_url,
)
from wire.stream_client import AuthError, StreamError

TOKEN_ENV = "STREAMDESK_TOKEN"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
TOKEN_HINT = f"check --token (or {TOKEN_ENV})"


def add_stream_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", metavar="URL", help="stream server, e.g. http://127.0.0.1:8787")
    parser.add_argument("path", metavar="PATH", help="stream path, e.g. /orders/42")
    parser.add_argument("--namespace", default=argparse.SUPPRESS, help="namespace (default)")
    parser.add_argument(
        "--token", default=argparse.SUPPRESS, help=f"bearer token (default: env {TOKEN_ENV})"
    )


def token_of(args: argparse.Namespace) -> str | None:
    return getattr(args, "token", None) or os.environ.get(TOKEN_ENV) or None


def namespace_of(args: argparse.Namespace) -> str:
    return getattr(args, "namespace", None) or DEFAULT_NAMESPACE


def stream_arguments(args: argparse.Namespace) -> str | tuple[str, str]:
    """``(canonical server URL, normalised path)``, or the message saying which is invalid."""
    try:
        return validate_server_url(args.url), normalize_path(args.path)
    except (ServerUrlError, PathError) as error:
        return str(error)


def refusal(error: StreamError) -> str:
    """What the server said; for a refused token, also where the token comes from."""
    return f"{error.message}; {TOKEN_HINT}" if isinstance(error, AuthError) else error.message


def quiet_http_logs() -> None:
    # One INFO line per HTTP request would drown the progress output.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def add_timeout_argument(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="give up (exit 1) after SECONDS without a working connection to the server; the "
        f"clock restarts whenever it is up ({default})",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def run_until_interrupted(
    args: argparse.Namespace, main: Callable[[asyncio.Event], Awaitable[int]]
) -> int:
    """Run ``main(stop)`` on a fresh loop; Ctrl-C (or SIGTERM) sets ``stop`` for a clean exit.

    The verbs say in their own words what happens; the runtime's and the wire's log lines
    (raw server answers among them) only with ``-v``."""
    quiet_http_logs()
    if not getattr(args, "verbose", False):
        logging.getLogger("mirror").setLevel(logging.WARNING)
        logging.getLogger("wire").setLevel(logging.ERROR)

    async def runner() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        return await main(stop)

    try:
        return asyncio.run(runner())
    except KeyboardInterrupt:  # platforms without loop signal handlers
        return EXIT_OK


def fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"streamdesk: {message}", file=sys.stderr)
    return code
