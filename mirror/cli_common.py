"""What the headless verbs share: the stream arguments, the token, exit codes, one-line
failures on stderr (``mirror.cli`` and ``mirror.cli_control`` build on it)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

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


def fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"streamdesk: {message}", file=sys.stderr)
    return code
