"""The `serve` command: `streamdesk serve [--host] [--port] [--data-dir] [--token]`.

`add_commands(subparsers)` registers it on the app's command line (app/cli.py); `python -m
server` runs the same command on its own.
"""

import argparse
import asyncio
import functools
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import platformdirs

from server.app import DEFAULT_IDLE_ENGINE_SECONDS
from server.outbound import Binding
from server.registry import DataDirInUse
from server.run import DEFAULT_HOST, DEFAULT_PORT, EmbeddedServer, serve_forever

logger = logging.getLogger(__name__)

TOKEN_ENV: Final = "STREAMDESK_TOKEN"
# The server's streams live here inside a Streamdesk data directory (the desktop app's embedded
# server uses the same place, so `serve` and the app share streams).
SERVER_SUBDIR: Final = "server"


def default_data_dir() -> Path:
    """The per-user Streamdesk data directory (the same one the desktop app uses)."""
    return platformdirs.user_data_path("streamdesk", appauthor=False)


# The Streamdesk data directory -> the env bindings outbound subscriptions may name (the app
# passes the built-in processor runner; the server cannot import it itself).
BindingsFactory = Callable[[Path], Mapping[str, Binding]]


def add_commands(
    subparsers: "argparse._SubParsersAction[Any]", bindings_factory: BindingsFactory | None = None
) -> None:
    """Register the `serve` verb; it sets `run(args) -> int` (the exit code) on the args."""
    parser = subparsers.add_parser(
        "serve",
        help="run the stream server",
        description="Run the Streamdesk stream server (WebSocket and HTTP batch on one port).",
    )
    add_serve_arguments(parser)
    parser.set_defaults(run=functools.partial(serve_command, bindings_factory=bindings_factory))


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to bind (default {DEFAULT_HOST}; anything wider should use --token)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port, 1-65535 (default {DEFAULT_PORT}; 0 = any free port)",
    )
    # SUPPRESS: a value given to the main `streamdesk` parser before `serve` is kept.
    parser.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        help=f"Streamdesk data directory; streams are kept in its '{SERVER_SUBDIR}' folder "
        f"(default {default_data_dir()})",
    )
    parser.add_argument(
        "--evict-idle-after",
        type=_positive_seconds,
        default=DEFAULT_IDLE_ENGINE_SECONDS,
        metavar="SECONDS",
        help="drop a stream from memory after this long with no subscriber and no request; "
        f"the next request wakes it (default {DEFAULT_IDLE_ENGINE_SECONDS:.0f})",
    )
    parser.add_argument(
        "--token",
        default=argparse.SUPPRESS,
        help=f"require 'Authorization: Bearer TOKEN' (default: env {TOKEN_ENV}, else none)",
    )


def serve_command(args: argparse.Namespace, bindings_factory: BindingsFactory | None = None) -> int:
    """Run the server until SIGINT/SIGTERM. Returns the process exit code."""
    _configure_logging()
    token = getattr(args, "token", None) or os.environ.get(TOKEN_ENV) or None
    data_dir = Path(getattr(args, "data_dir", None) or default_data_dir())
    server = EmbeddedServer(
        data_dir / SERVER_SUBDIR,
        host=args.host,
        port=args.port,
        token=token,
        idle_engine_seconds=args.evict_idle_after,
        bindings=None if bindings_factory is None else bindings_factory(data_dir),
    )
    try:
        asyncio.run(serve_forever(server))
    except DataDirInUse as exc:
        logger.error("%s", exc)
        return 1
    except OSError as exc:
        logger.error("cannot serve on %s:%s: %s", args.host, args.port, exc)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m server",
        description="Run the Streamdesk stream server (same options as `streamdesk serve`).",
    )
    add_serve_arguments(parser)
    return serve_command(parser.parse_args(argv))


def _port(text: str) -> int:
    # The OS takes a port modulo 65536 without a word (99999 binds 34463): refuse it here.
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 1-65535 (0 = any free port)")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def _configure_logging() -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
