"""Menu and toolbar actions described as data: a table of `ActionSpec`s (ui/window_actions.py)
from which `build_actions` makes the QActions, and `update_enabled` re-checks when each may run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QToolBar, QWidget

H = TypeVar("H")

Shortcut = str | QKeySequence.StandardKey


@dataclass(frozen=True)
class ActionSpec(Generic[H]):
    """One action of a host `H` (the window): where it shows and what it calls."""

    name: str
    menu: str
    text: str
    handler: Callable[[H], object]
    shortcut: Shortcut | None = None
    toolbar: bool = False
    tip: str | None = None
    # None: always enabled.
    enabled_when: Callable[[H], bool] | None = None
    separator_before: bool = False


def build_actions(
    specs: Sequence[ActionSpec[H]],
    host: H,
    owner: QWidget,
    menus: Mapping[str, QMenu],
    toolbar: QToolBar,
) -> dict[str, QAction]:
    """Make each spec's QAction, in table order, into its menu (and the toolbar)."""
    actions: dict[str, QAction] = {}
    for spec in specs:
        action = QAction(spec.text, owner)
        if spec.shortcut is not None:
            action.setShortcut(QKeySequence(spec.shortcut))
        shown_shortcut = f" ({action.shortcut().toString()})" if spec.shortcut else ""
        action.setToolTip((spec.tip or spec.text.rstrip("…")) + shown_shortcut)
        action.triggered.connect(lambda _checked=False, s=spec: s.handler(host))
        menu = menus[spec.menu]
        if spec.separator_before:
            menu.addSeparator()
        menu.addAction(action)
        if spec.toolbar:
            toolbar.addAction(action)
        actions[spec.name] = action
    update_enabled(specs, host, actions)
    return actions


def update_enabled(specs: Sequence[ActionSpec[H]], host: H, actions: Mapping[str, QAction]) -> None:
    for spec in specs:
        if spec.enabled_when is not None:
            actions[spec.name].setEnabled(spec.enabled_when(host))
