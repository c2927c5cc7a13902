"""The stream gate panel, the circuit-breaker form and the composer on a paused stream: the real
app window, the real runtime and the embedded server hosting the built-in processors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot
from ui_support import UiHarness, fresh_path, run, ui_harness, wait_for

from mirror.builtin_processors import builtin_bindings
from mirror.builtin_processors.circuit_breaker import CONFIGURED, PAUSED, RESUMED
from mirror.hosting.config import SUBSCRIPTION_CONFIGURED
from ui.main_window import MainWindow
from ui.stream_gate import RESUME_REASON, breaker_events, gate_view, refusal_text
from ui.stream_pane import StreamPane

PAUSED_STATE = {"coreProcessorState": {"paused": True, "pauseReason": "too hot"}}
ACTIVE_STATE = {"coreProcessorState": {"paused": False, "pauseReason": None}}


# --- the decisions ------------------------------------------------------------------------------


def test_gate_shows_unknown_until_the_state_says_paused_or_not() -> None:
    unknown = gate_view(None, "subscribed", online=True)
    assert (unknown.gate, unknown.resume_visible, unknown.breaker_enabled) == ("…", False, False)
    assert "Waiting" in unknown.breaker_note
    offline = gate_view(ACTIVE_STATE, "offline", online=False)
    assert offline.gate == "…" and not offline.breaker_enabled and "Offline" in offline.breaker_note


def test_paused_offers_resume_and_disables_the_breaker_with_the_reason() -> None:
    view = gate_view(PAUSED_STATE, "subscribed", online=True)
    assert (view.gate, view.reason, view.resume_visible) == ("Paused", "too hot", True)
    assert not view.breaker_enabled
    assert "while the gate is active" in view.breaker_note


def test_breaker_needs_an_active_gate_and_a_subscription() -> None:
    reconnecting = gate_view(ACTIVE_STATE, "reconnecting", online=True)
    assert reconnecting.gate == "Active" and not reconnecting.resume_visible
    assert not reconnecting.breaker_enabled and "reconnecting" in reconnecting.breaker_note
    subscribed = gate_view(ACTIVE_STATE, "subscribed", online=True)
    assert subscribed.breaker_enabled and subscribed.breaker_note == ""


def test_breaker_events_name_the_builtin_and_carry_idempotency_keys() -> None:
    subscription, limits = breaker_events(3, 2.0)
    assert subscription["type"] == SUBSCRIPTION_CONFIGURED
    assert subscription["payload"]["subscriptionKey"] == "circuit-breaker"
    callable_ = subscription["payload"]["subscriber"]["callable"]
    assert callable_["transformInput"]["shallowMerge"]["processorName"] == "circuit-breaker"
    assert limits["type"] == CONFIGURED
    assert limits["payload"] == {"burstCapacity": 3, "refillRatePerMinute": 2}
    assert subscription["idempotencyKey"] and limits["idempotencyKey"]
    assert breaker_events(3, 2.5)[1]["payload"]["refillRatePerMinute"] == 2.5


def test_refusal_text_words_a_paused_stream_as_the_server_does() -> None:
    assert refusal_text(RuntimeError("stream paused: circuit breaker")) == (
        "stream paused: circuit breaker"
    )
    assert refusal_text(ValueError("boom")) == "Append failed: boom"


# --- in the app ---------------------------------------------------------------------------------


def _pane(window: MainWindow) -> StreamPane:
    assert window.current is not None
    return window.current


def _events_of(harness: UiHarness, path: str, event_type: str) -> list[dict[str, Any]]:
    async def go() -> list[dict[str, Any]]:
        async with harness.client(path) as client:
            events = await client.get_events()
            return [dict(e) for e in events if e["type"] == event_type]

    return run(harness.qtbot, go())


def test_resume_from_the_panel(qtbot: QtBot, tmp_path: Path) -> None:
    with ui_harness(qtbot, tmp_path) as harness:
        path = fresh_path()
        window = harness.open(path)
        gate = _pane(window).gate_panel
        wait_for(qtbot, lambda: gate.gate_label.text() == "Active")
        assert gate.resume_button.isHidden()

        harness.append(path, [{"type": PAUSED, "payload": {"reason": "maintenance window"}}])
        wait_for(qtbot, lambda: gate.gate_label.text() == "Paused")
        assert gate.reason_label.text() == "maintenance window"
        assert not gate.resume_button.isHidden()
        assert not gate.breaker.apply_button.isEnabled()
        assert "while the gate is active" in gate.breaker.note.text()

        gate.resume_button.click()
        wait_for(qtbot, lambda: gate.gate_label.text() == "Active")
        assert gate.resume_button.isHidden()
        assert gate.reason_label.text() == ""
        assert gate.action_label.text() == "resumed"
        resumed = _events_of(harness, path, RESUMED)
        assert [e["payload"]["reason"] for e in resumed] == [RESUME_REASON]


def test_breaker_from_the_form_pauses_the_stream_and_the_composer_keeps_the_draft(
    qtbot: QtBot, tmp_path: Path
) -> None:
    bindings = builtin_bindings(tmp_path / "checkpoints.sqlite3")
    with ui_harness(qtbot, tmp_path, bindings=bindings) as harness:
        path = fresh_path()
        window = harness.open(path)
        pane = _pane(window)
        gate = pane.gate_panel
        wait_for(qtbot, lambda: gate.breaker.apply_button.isEnabled())
        assert gate.breaker.note.text() == ""

        gate.breaker.burst.setValue(1)
        gate.breaker.refill.setValue(1)
        gate.breaker.apply_button.click()
        wait_for(qtbot, lambda: gate.action_label.text() == "limits applied")
        configured = _events_of(harness, path, CONFIGURED)
        assert [e["payload"] for e in configured] == [
            {"burstCapacity": 1, "refillRatePerMinute": 1}
        ]
        assert len(_events_of(harness, path, SUBSCRIPTION_CONFIGURED)) == 1

        composer = pane.composer
        for n in (1, 2):
            composer.editor.setPlainText(f'{{"type": "demo/clicked", "payload": {{"n": {n}}}}}')
            composer.submit()
            wait_for(qtbot, lambda: composer.state == "appended")
        second_append = time.monotonic()
        wait_for(qtbot, lambda: gate.gate_label.text() == "Paused", timeout_ms=10_000)
        assert time.monotonic() - second_append <= 10.0
        assert gate.reason_label.text().startswith("circuit breaker")
        assert not gate.breaker.apply_button.isEnabled()
        assert not gate.resume_button.isHidden()

        draft = '{"type": "demo/clicked", "payload": {"n": 3}}'
        composer.editor.setPlainText(draft)
        composer.submit()
        wait_for(qtbot, lambda: composer.state == "error")
        assert composer.status_label.text().startswith("stream paused: circuit breaker")
        assert composer.editor.toPlainText() == draft
        assert len(_events_of(harness, path, "demo/clicked")) == 2
