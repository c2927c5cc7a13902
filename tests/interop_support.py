"""The Node side of the interop tests: the reference `capnweb` package in tests/interop/."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

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
