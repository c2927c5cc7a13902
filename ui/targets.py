"""What the UI opens: servers, stream targets, recent streams, and the settings it keeps."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class ServerEntry:
    """A server the app can talk to. The embedded one runs in this process."""

    name: str
    url: str
    token: str | None = None
    embedded: bool = False


@dataclass(frozen=True)
class StreamTarget:
    """A stream on a server, or (server None) a mirror file opened offline."""

    server: ServerEntry | None
    namespace: str
    path: str
    mirror_file: Path | None = None


@dataclass(frozen=True)
class RecentStream:
    server_url: str
    namespace: str
    path: str


class SettingsPort(Protocol):
    """Settings the UI reads and records (app.settings keeps them on disk)."""

    def recent_streams(self) -> list[RecentStream]: ...
    def add_recent(self, recent: RecentStream) -> None: ...
    def server_profiles(self) -> list[ServerEntry]: ...
    def save_server_profile(self, server: ServerEntry, *, replacing: str | None = None) -> None: ...
    def token_storage(self) -> str: ...
    def session(self) -> list[Any]: ...
    def save_session(self, windows: list[dict[str, Any]]) -> None: ...
    def first_start(self) -> bool: ...
    def sql_history(self) -> list[str]: ...
    def save_sql_history(self, statements: list[str]) -> None: ...
    def remove_server_profile(self, name: str) -> None: ...
    def composer_draft(self, namespace: str, path: str) -> str | None: ...
    def save_composer_draft(self, namespace: str, path: str, text: str | None) -> None: ...
