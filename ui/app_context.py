"""Process-wide state of the desktop app: the runtime registry, servers, settings, windows.

The context makes windows through a factory it is given (the app passes `MainWindow`), so this
module never imports the window that imports it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from PySide6.QtCore import QObject, Signal

from ui.ports import RegistryLike, RuntimeLike
from ui.targets import RecentStream, ServerEntry, SettingsPort, StreamTarget

log = logging.getLogger(__name__)


class AppWindow(Protocol):
    """What the context needs from a window it made."""

    def show(self) -> None: ...
    def close(self) -> bool: ...


W = TypeVar("W", bound=AppWindow)


class AppContext(QObject, Generic[W]):
    allWindowsClosed = Signal()
    # A window is about to close, its panes still open (the session is taken from it).
    windowClosing = Signal(object)
    serversChanged = Signal()
    recentChanged = Signal()

    def __init__(
        self,
        registry: RegistryLike,
        settings: SettingsPort,
        *,
        default_server: ServerEntry,
        window_factory: Callable[[AppContext[W], StreamTarget], W],
        extra_servers: tuple[ServerEntry, ...] = (),
    ) -> None:
        super().__init__()
        self._window_factory = window_factory
        self.registry = registry
        self.settings = settings
        self.default_server = default_server
        self._fixed_servers = (default_server, *extra_servers)
        self.windows: list[W] = []
        # Set by quit(): every window closing from now on is part of the session.
        self.quitting = False

    @property
    def embedded_url(self) -> str | None:
        embedded = [s.url for s in self._fixed_servers if s.embedded]
        return embedded[0] if embedded else None

    def servers(self) -> list[ServerEntry]:
        """The embedded or command-line server first, then the saved profiles."""
        known = {server.url for server in self._fixed_servers}
        saved = [s for s in self.settings.server_profiles() if s.url not in known]
        return [*self._fixed_servers, *saved]

    def server_for_url(self, url: str) -> ServerEntry | None:
        return next((s for s in self.servers() if s.url == url), None)

    def save_server(self, server: ServerEntry, *, replacing: str | None = None) -> None:
        self.settings.save_server_profile(server, replacing=replacing)
        self.serversChanged.emit()

    def remove_server(self, name: str) -> None:
        self.settings.remove_server_profile(name)
        self.serversChanged.emit()

    def default_target(self, namespace: str = "default", path: str = "/") -> StreamTarget:
        return StreamTarget(self.default_server, namespace, path)

    def acquire(self, target: StreamTarget) -> RuntimeLike:
        """The shared runtime for a target, retained for the caller (who releases it)."""
        if target.server is None:
            if target.mirror_file is None:
                raise ValueError("an offline target needs a mirror file")
            runtime = self.registry.open_file(target.mirror_file)
        else:
            runtime = self.registry.acquire(
                target.server.url, target.namespace, target.path, token=target.server.token
            )
            self.settings.add_recent(RecentStream(target.server.url, target.namespace, target.path))
            self.recentChanged.emit()
        runtime.retain()
        return runtime

    def new_window(self, target: StreamTarget | None = None) -> W:
        window = self._window_factory(self, target or self.default_target())
        self.windows.append(window)
        window.show()
        return window

    def quit(self) -> None:
        """Close every window, as the app ends."""
        self.quitting = True
        for window in list(self.windows):
            window.close()

    def window_closing(self, window: W) -> None:
        """A window this context made is about to close (its close event says so first)."""
        self.windowClosing.emit(window)

    def window_closed(self, window: W) -> None:
        """A window this context made has closed (its close event says so)."""
        if window in self.windows:
            self.windows.remove(window)
        if not self.windows:
            self.allWindowsClosed.emit()
