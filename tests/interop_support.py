"""The Node side of the interop tests: the reference `capnweb` package in tests/interop/."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

INTEROP = Path(__file__).parent / "interop"


def install_node_packages() -> str | None:
    """Install the pinned reference packages from the committed lockfile on first use; returns
    npm's complaint when that failed."""
    npm = shutil.which("npm")
    if npm is None or (INTEROP / "node_modules" / "capnweb").is_dir():
        return None
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(INTEROP)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return None if done.returncode == 0 else f"npm ci failed: {done.stderr.strip()[-2000:]}"


def node_or_skip() -> str:
    npm_error = install_node_packages()
    node = shutil.which("node")
    modules = INTEROP / "node_modules"
    missing = []
    if node is None:
        missing.append("node is not installed")
    for package in ("capnweb", "ws"):
        if not (modules / package).is_dir():
            missing.append(f"{modules / package} is missing")
    if npm_error is not None:
        missing.append(npm_error)
    if missing:
        message = "interop prerequisites missing: " + "; ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    assert node is not None
    return node


async def run_node_report(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run `node ARGS` in tests/interop (60 s at most) and return the JSON report it prints
    last; its stderr is in the failure message when it exits non-zero or prints nothing."""
    proc = await asyncio.create_subprocess_exec(
        node_or_skip(),
        *args,
        cwd=INTEROP,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    lines = stdout.decode().strip().splitlines()
    assert proc.returncode == 0 and lines, (
        f"node exited {proc.returncode}; last output: {lines[-1:]}; stderr:\n{stderr.decode()}"
    )
    report: dict[str, Any] = orjson.loads(lines[-1])
    return report
