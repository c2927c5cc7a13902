"""Reconnect delays and the ingest backoff policy."""

from __future__ import annotations

import pytest

from mirror.backoff import IngestBackoff, ReconnectCause, ingest_backoff_delay, reconnect_delay


def test_ingest_backoff_sequence() -> None:
    backoff = IngestBackoff()
    delays = [backoff.record_failure() for _ in range(10)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_ingest_backoff_exponent_is_capped() -> None:
    assert ingest_backoff_delay(1000) == 30.0
    assert ingest_backoff_delay(0) == 0.25


def test_failure_count_resets_only_on_success() -> None:
    backoff = IngestBackoff()
    backoff.record_failure()
    backoff.record_failure()
    assert backoff.failures == 2
    assert backoff.record_failure() == 1.0  # nothing but a success resets the count
    backoff.record_success()
    assert backoff.failures == 0
    assert backoff.record_failure() == 0.25


@pytest.mark.parametrize(
    ("cause", "delay"),
    [
        (ReconnectCause.CLOSED, 1.0),
        (ReconnectCause.CONNECT_FAILED, 1.0),
        (ReconnectCause.SUBSCRIBE_FAILED, 1.0),
        (ReconnectCause.CONTROL_CALL, 0.0),
        (ReconnectCause.PROBE_FAILED, 0.25),
        (ReconnectCause.NUDGE, 0.0),
    ],
)
def test_reconnect_delays(cause: ReconnectCause, delay: float) -> None:
    assert reconnect_delay(cause) == delay
