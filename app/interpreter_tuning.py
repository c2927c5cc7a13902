"""The interpreter settings every Streamdesk process runs with (garbage collector, GIL).

Public API:

- ``tune_interpreter()``: freeze the objects that exist now (modules and classes loaded at
  start-up, never garbage) out of the collector's sight, collect the young generation every
  ``YOUNG_THRESHOLD`` new container objects instead of every 700, and let a thread that wants
  the GIL have it after ``SWITCH_INTERVAL`` seconds instead of 5 ms.
- ``YOUNG_THRESHOLD``, ``MIDDLE_THRESHOLD``, ``OLD_THRESHOLD``: what ``gc.set_threshold`` gets.
- ``SWITCH_INTERVAL``: what ``sys.setswitchinterval`` gets.

Why the collector: catch-up and live tails decode tens of thousands of short-lived event dicts
per second. With CPython's defaults a catch-up spent about a fifteenth of its time in
collections, holding the GIL the SQLite writer thread waits for, and each full collection
stalled the event loop for over 10 ms (measured with ``gc.callbacks`` while mirroring 300,000
events). Reference counting still frees those dicts at once; only cycles wait longer.

Why the switch interval: the mirror writer thread spends nearly all its time in SQLite, which
runs without the GIL, and takes the GIL back between statements, while the network and planning
threads run Python. A thread asking for the GIL waits up to the switch interval for a busy
holder, so with the default each of the writer's hand-offs could cost it 5 ms. Catch-up of
300,000 events (bench/catchup.py, two runs each on 2 cores): 30-36% of the bare insert rate at
5 ms, 31-38% at 1 ms, 38% at 0.5 ms, 36-44% at 0.2 ms.
"""

from __future__ import annotations

import gc
import sys

YOUNG_THRESHOLD = 20_000
MIDDLE_THRESHOLD = 50
OLD_THRESHOLD = 100
SWITCH_INTERVAL = 0.0002


def tune_interpreter() -> None:
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
    sys.setswitchinterval(SWITCH_INTERVAL)
