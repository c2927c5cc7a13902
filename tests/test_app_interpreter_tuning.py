"""The app's interpreter settings: applied by every `streamdesk` process, in a process of its own
here (they are process-wide, so this test must not change the test runner's)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.interpreter_tuning import (
    MIDDLE_THRESHOLD,
    OLD_THRESHOLD,
    SWITCH_INTERVAL,
    YOUNG_THRESHOLD,
)

PROBE = """
import gc, json, sys
from app import cli
from mirror import cli as mirror_cli

def report(args):
    print(json.dumps({
        "threshold": gc.get_threshold(),
        "frozen": gc.get_freeze_count(),
        "switch": sys.getswitchinterval(),
    }))
    return 0

def add_commands(subparsers):
    subparsers.add_parser("gc-probe").set_defaults(run=report)

mirror_cli.add_commands = add_commands
sys.exit(cli.main(["gc-probe"]))
"""


def test_every_streamdesk_process_runs_with_the_tuned_interpreter() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["threshold"] == [YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD]
    assert seen["frozen"] > 1000  # the modules loaded at start-up are out of the collector's way
    assert seen["switch"] == pytest.approx(SWITCH_INTERVAL) and SWITCH_INTERVAL < 0.005
