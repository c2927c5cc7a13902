"""What the Stream and Tools menus do to the current pane's stream: reconnect, kill, reset, clear
the local mirror, and the SQL console. Results and failures go to the window's status bar."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtWidgets import QMainWindow, QMessageBox

from ui.app_context import AppContext
from ui.offload import spawn
from ui.ports import RuntimeLike
from ui.sql_console import SqlConsole
from ui.stream_pane import StreamPane


class StreamActions:
    def __init__(
        self,
        window: QMainWindow,
        ctx: AppContext[Any],
        current: Callable[[], StreamPane | None],
    ) -> None:
        self._window = window
        self._ctx = ctx
        self._current = current
        # Tests and scripts turn the Yes/No questions off.
        self.confirm_destructive = True
        self._consoles: list[SqlConsole] = []

    def _message(self, text: str, timeout_ms: int = 0) -> None:
        self._window.statusBar().showMessage(text, timeout_ms)

    def _confirmed(self, title: str, question: str) -> bool:
        if not self.confirm_destructive:
            return True
        answer = QMessageBox.question(self._window, title, question)
        return answer == QMessageBox.StandardButton.Yes

    def _run(self, label: str, make: Callable[[RuntimeLike], Coroutine[Any, Any, object]]) -> None:
        pane = self._current()
        if pane is None:
            return
        runtime = pane.runtime
        self._message(f"{label}…")

        async def run() -> None:
            # Any failure of the call is the user's answer, shown as is.
            try:
                await make(runtime)
            except Exception as error:
                self._message(f"{label} failed: {error}", 10000)
                return
            self._message(f"{label}: done", 5000)

        spawn(run(), what=label, owner=self._window)

    def reconnect(self) -> None:
        pane = self._current()
        if pane is None:
            return
        runtime = pane.runtime
        # The token may have been corrected in the server's profile since the stream opened
        # (the fix for an "unauthorized" stream): dial with the profile's token.
        server = self._ctx.server_for_url(runtime.server_url) if runtime.server_url else None
        if server is not None:
            runtime.set_token(server.token)
        runtime.reconnect()
        self._message("Reconnecting…", 3000)

    def kill(self) -> None:
        self._run("Kill", lambda runtime: runtime.kill())

    def reset(self) -> None:
        pane = self._current()
        if pane is None:
            return
        if self._confirmed(
            "Reset stream",
            f"Delete every event of {pane.runtime.path} on the server? "
            "The stream starts again at offset 1.",
        ):
            self._run("Reset", lambda runtime: runtime.reset())

    def clear_local(self) -> None:
        pane = self._current()
        if pane is None:
            return
        if self._confirmed(
            "Clear local mirror",
            f"Discard the local copy of {pane.runtime.path}? It is rebuilt from the "
            "server, event by event. To keep the events as they are now, use "
            "File › Save mirror as… first.",
        ):
            self._run("Clear local mirror", lambda runtime: runtime.clear_local())

    def search_index(self, enabled: bool) -> None:
        """The current mirror's search index on or off (off drops it and frees its space)."""
        label = "Search index on" if enabled else "Search index off"
        self._run(label, lambda runtime: runtime.set_search_index(enabled))

    def open_sql_console(self) -> SqlConsole | None:
        pane = self._current()
        if pane is None:
            return None
        console = SqlConsole(pane.runtime, self._window, history_store=self._ctx.settings)
        self._consoles.append(console)
        console.finished.connect(lambda _result, c=console: self._consoles.remove(c))
        console.show()
        return console

    def close_consoles(self) -> None:
        for console in list(self._consoles):
            console.close()
