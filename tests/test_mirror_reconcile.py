"""The pure reconcile decision made before every subscribe."""

from __future__ import annotations

from mirror.reconcile import ReconcileAction, decide_reconcile

CREATED_AT = "2026-06-01T12:00:00.000Z"
OTHER_CREATED_AT = "2026-06-02T08:30:00.000Z"


def decide(
    *,
    incarnation: str | None = CREATED_AT,
    checkpoint: int = 10,
    rows: int = 10,
    server_created_at: str = CREATED_AT,
    server_max: int = 12,
) -> ReconcileAction:
    return decide_reconcile(
        local_incarnation=incarnation,
        local_checkpoint=checkpoint,
        local_row_count=rows,
        server_created_at=server_created_at,
        server_max_offset=server_max,
    ).action


def test_fresh_mirror_records_incarnation() -> None:
    decision = decide_reconcile(
        local_incarnation=None,
        local_checkpoint=0,
        local_row_count=0,
        server_created_at=CREATED_AT,
        server_max_offset=3,
    )
    assert decision.action is ReconcileAction.RECORD_INCARNATION
    assert CREATED_AT in decision.reason


def test_fresh_mirror_with_stale_incarnation_still_only_records() -> None:
    assert (
        decide(incarnation=OTHER_CREATED_AT, checkpoint=0, rows=0)
        is ReconcileAction.RECORD_INCARNATION
    )


def test_same_incarnation_and_server_ahead_keeps() -> None:
    decision = decide_reconcile(
        local_incarnation=CREATED_AT,
        local_checkpoint=10,
        local_row_count=10,
        server_created_at=CREATED_AT,
        server_max_offset=12,
    )
    assert decision.action is ReconcileAction.KEEP
    assert "10" in decision.reason


def test_same_incarnation_and_server_equal_keeps() -> None:
    assert decide(server_max=10) is ReconcileAction.KEEP


def test_incarnation_differs_discards_even_when_server_grew_past_local() -> None:
    decision = decide_reconcile(
        local_incarnation=CREATED_AT,
        local_checkpoint=10,
        local_row_count=10,
        server_created_at=OTHER_CREATED_AT,
        server_max_offset=50,
    )
    assert decision.action is ReconcileAction.DISCARD_AND_REBUILD
    assert "reset" in decision.reason


def test_missing_incarnation_with_rows_discards() -> None:
    assert decide(incarnation=None) is ReconcileAction.DISCARD_AND_REBUILD


def test_missing_incarnation_with_only_a_checkpoint_discards() -> None:
    assert decide(incarnation=None, rows=0, checkpoint=5) is ReconcileAction.DISCARD_AND_REBUILD


def test_server_below_local_checkpoint_discards() -> None:
    decision = decide_reconcile(
        local_incarnation=CREATED_AT,
        local_checkpoint=10,
        local_row_count=10,
        server_created_at=CREATED_AT,
        server_max_offset=9,
    )
    assert decision.action is ReconcileAction.DISCARD_AND_REBUILD
    assert "9" in decision.reason


def test_server_below_local_rows_discards_even_if_checkpoint_lags() -> None:
    assert decide(checkpoint=4, rows=10, server_max=8) is ReconcileAction.DISCARD_AND_REBUILD
