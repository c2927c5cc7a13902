"""`streamdesk kill` and `streamdesk reset` against real servers: the embedded one (in a thread),
one that answers as iterate's does, one with a token, and none at all."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from iterate_like_server import iterate_like_app, serve_in_thread
from mirror_support import REPO_ROOT
from server_support import CREATED, WOKEN, types_of

from app.cli import main
from server.run import EmbeddedServer
from wire.stream_client import StreamClient

PATH = "/cli/control"
pytestmark = pytest.mark.timeout(60)


def types(url: str, path: str = PATH, namespace: str = "default", token: str | None = None) -> Any:
    async def run() -> Any:
        async with StreamClient(url, path, namespace, token) as client:
            return types_of(await client.get_events())

    return asyncio.run(run())


def append(url: str, path: str = PATH, namespace: str = "default") -> None:
    async def run() -> None:
        async with StreamClient(url, path, namespace) as client:
            await client.append({"type": "cli/note", "payload": {}})

    asyncio.run(run())


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def iterate_like(tmp_path: Path) -> Iterator[str]:
    with serve_in_thread(iterate_like_app(tmp_path / "iterate-like")) as url:
        yield url


def test_kill_wakes_the_stream_again(
    embedded_server_thread: str, capsys: pytest.CaptureFixture[str]
) -> None:
    append(embedded_server_thread)
    code, out, err = run_cli(capsys, "kill", embedded_server_thread, PATH)
    assert (code, err) == (0, "")
    assert out == f"kill: done for default:{PATH} at {embedded_server_thread}\n"
    after = types(embedded_server_thread)
    assert after.count(WOKEN) == 2 and "cli/note" in after


def test_reset_needs_yes_and_then_starts_the_stream_again(
    embedded_server_thread: str, capsys: pytest.CaptureFixture[str]
) -> None:
    append(embedded_server_thread)
    before = types(embedded_server_thread)
    code, out, err = run_cli(capsys, "reset", embedded_server_thread, PATH)
    assert (code, out) == (2, "")
    assert err == (
        "streamdesk: reset deletes every event of the stream on the server; add --yes to do it "
        "(nothing was sent)\n"
    )
    assert types(embedded_server_thread) == before
    code, out, err = run_cli(capsys, "reset", embedded_server_thread, PATH, "--yes")
    assert (code, err) == (0, "") and out.startswith("reset: done for default:/cli/control")
    assert types(embedded_server_thread) == [CREATED, WOKEN]


def test_kill_requested_answers_are_success(
    iterate_like: str, capsys: pytest.CaptureFixture[str]
) -> None:
    append(iterate_like)
    assert run_cli(capsys, "kill", iterate_like, PATH)[0] == 0
    assert types(iterate_like).count(WOKEN) == 2
    assert run_cli(capsys, "reset", iterate_like, PATH, "--yes")[0] == 0
    assert types(iterate_like) == [CREATED, WOKEN]


def test_namespace_is_honoured(
    embedded_server_thread: str, capsys: pytest.CaptureFixture[str]
) -> None:
    append(embedded_server_thread, namespace="other")
    append(embedded_server_thread)
    code, _, _ = run_cli(
        capsys, "reset", embedded_server_thread, PATH, "--namespace", "other", "--yes"
    )
    assert code == 0
    assert types(embedded_server_thread, namespace="other") == [CREATED, WOKEN]
    assert "cli/note" in types(embedded_server_thread)


@pytest.mark.parametrize(
    ("url", "path", "said"),
    [
        ("ftp://127.0.0.1:1", PATH, "ftp"),
        ("http://127.0.0.1:1", "/a:b", "path"),
    ],
)
def test_bad_input_exits_2_and_sends_nothing(
    capsys: pytest.CaptureFixture[str], url: str, path: str, said: str
) -> None:
    for verb in (["kill"], ["reset", "--yes"]):
        code, out, err = run_cli(capsys, verb[0], url, path, *verb[1:])
        assert (code, out) == (2, "")
        assert err.startswith("streamdesk: ") and err.endswith("; nothing was sent\n")
        assert said in err.lower() and err.count("\n") == 1


def test_unreachable_server_exits_1_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    code, out, err = run_cli(capsys, "kill", f"http://127.0.0.1:{port}", PATH)
    assert (code, out) == (1, "")
    assert err.startswith("streamdesk: kill failed: kill on default:/cli/control")
    assert err.count("\n") == 1


def test_token_from_the_environment_and_refusal_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with EmbeddedServer(tmp_path / "guarded", token="s3cret-token") as server:
        code, out, err = run_cli(capsys, "kill", server.url, PATH, "--token", "wrong-token")
        assert (code, out) == (1, "")
        assert "HTTP 401" in err and "check --token (or STREAMDESK_TOKEN)" in err
        assert "wrong-token" not in err and err.count("\n") == 1
        monkeypatch.setenv("STREAMDESK_TOKEN", "s3cret-token")
        assert run_cli(capsys, "kill", server.url, PATH)[0] == 0
        assert types(server.url, token="s3cret-token").count(WOKEN) == 2


def test_the_installed_command_runs_kill(embedded_server_thread: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "kill", embedded_server_thread, PATH],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("kill: done for default:/cli/control")
