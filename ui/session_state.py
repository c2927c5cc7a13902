"""The session: which windows were open, their splits and streams, each pane's tab and column
widths, kept when the app ends and restored on the next start.

The app ends when its last window closes (or Quit closes them all): ``SessionKeeper`` records
each window as it closes, forgets the ones the user closed while others stayed open, and saves
what was open at the end through ``SettingsPort.save_session``. ``restore_session`` opens it
again; a pane whose server is no longer known, or whose mirror file is gone, is left out.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QObject

from ui.app_context import AppContext
from ui.main_window import MainWindow
from ui.stream_pane import StreamPane
from ui.targets import StreamTarget

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaneSession:
    server_url: str | None
    namespace: str
    path: str
    mirror_file: str | None
    view: int
    columns: tuple[int, ...]


@dataclass(frozen=True)
class WindowSession:
    panes: tuple[PaneSession, ...]
    current: int
    sizes: tuple[int, ...]
    geometry: str
    # The window's size too: restoring the geometry alone is not exact on every platform.
    size: tuple[int, int] = (0, 0)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: Any) -> WindowSession | None:
        """None for anything that is not a saved window (an older or damaged file)."""
        try:
            panes = tuple(
                PaneSession(
                    server_url=str(p["server_url"]) if p.get("server_url") else None,
                    namespace=str(p["namespace"]),
                    path=str(p["path"]),
                    mirror_file=str(p["mirror_file"]) if p.get("mirror_file") else None,
                    view=int(p.get("view", 0)),
                    columns=tuple(int(c) for c in p.get("columns", ())),
                )
                for p in data["panes"]
            )
            return WindowSession(
                panes=panes,
                current=int(data.get("current", 0)),
                sizes=tuple(int(s) for s in data.get("sizes", ())),
                geometry=str(data.get("geometry", "")),
                size=(int(data["size"][0]), int(data["size"][1])) if "size" in data else (0, 0),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


def _pane_session(pane: StreamPane) -> PaneSession:
    runtime = pane.runtime
    header = pane.raw_view.list.horizontalHeader()
    return PaneSession(
        server_url=runtime.server_url,
        namespace=runtime.namespace,
        path=runtime.path,
        mirror_file=str(runtime.mirror_file) if runtime.server_url is None else None,
        view=pane.current_view_index(),
        columns=tuple(header.sectionSize(i) for i in range(header.count())),
    )


def capture(window: MainWindow) -> WindowSession:
    current = window.panes.index(window.current) if window.current in window.panes else 0
    return WindowSession(
        panes=tuple(_pane_session(pane) for pane in window.panes),
        current=current,
        sizes=tuple(window.splitter.sizes()),
        geometry=bytes(window.saveGeometry().toBase64().data()).decode("ascii"),
        size=(window.width(), window.height()),
    )


class SessionKeeper(QObject):
    """Records the windows open when the app ends and saves them as the session (a child of
    the context, so it lives as long as the app)."""

    def __init__(self, ctx: AppContext[MainWindow]) -> None:
        super().__init__(ctx)
        self._ctx = ctx
        self._closing: list[WindowSession] = []
        ctx.windowClosing.connect(self._window_closing)
        ctx.allWindowsClosed.connect(self.save)

    def _window_closing(self, window: MainWindow) -> None:
        last = self._ctx.windows == [window]
        if not (last or self._ctx.quitting):
            return  # closed by the user while others stay open: not part of the session
        if window.panes:
            self._closing.append(capture(window))

    def save(self) -> None:
        self._ctx.settings.save_session([w.to_json() for w in self._closing])
        self._closing = []


def _target(ctx: AppContext[MainWindow], pane: PaneSession) -> StreamTarget | None:
    if pane.server_url is None:
        if pane.mirror_file is None or not Path(pane.mirror_file).exists():
            return None
        return StreamTarget(None, pane.namespace, pane.path, Path(pane.mirror_file))
    server = ctx.server_for_url(pane.server_url)
    return None if server is None else StreamTarget(server, pane.namespace, pane.path)


def restore_session(ctx: AppContext[MainWindow]) -> list[MainWindow]:
    """Open the saved session's windows; an empty list when there is nothing to restore."""
    windows: list[MainWindow] = []
    for data in ctx.settings.session():
        saved = WindowSession.from_json(data)
        if saved is None:
            continue
        kept = [(p, t) for p in saved.panes if (t := _target(ctx, p)) is not None]
        if not kept:
            continue
        window = ctx.new_window(kept[0][1])
        for _state, target in kept[1:]:
            window.open_target(target, split=True)
        for pane, state in zip(window.panes, [p for p, _t in kept], strict=True):
            pane.show_view(state.view)
            header = pane.raw_view.list.horizontalHeader()
            for column, width in enumerate(state.columns[: header.count() - 1]):
                # The last column stretches: its width follows the others'.
                header.resizeSection(column, width)
        if saved.geometry:
            window.restoreGeometry(QByteArray.fromBase64(saved.geometry.encode("ascii")))
        if min(saved.size) > 0:
            window.resize(*saved.size)
        if len(saved.sizes) == len(window.panes):
            # After the geometry: a resize would share the width out again.
            window.splitter.setSizes(list(saved.sizes))
        current = min(saved.current, len(window.panes) - 1)
        window.focus_pane(window.panes[current])
        windows.append(window)
    return windows
