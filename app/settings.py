"""The desktop app's settings: recent streams, saved server profiles, unsent composer drafts,
the embedded server's port, whether lists show times in UTC. One JSON file in the data
directory, written atomically, readable only by its owner (profiles may hold bearer tokens)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ui.targets import RecentStream, ServerEntry

log = logging.getLogger(__name__)

MAX_RECENT = 20
MAX_DRAFTS = 50
SETTINGS_FILE = "settings.json"


class Settings:
    """Implements ui.targets.SettingsPort; every change is saved at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, Any] = self._load()

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.warning("ignoring unreadable settings file %s: %s", self.path, error)
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(self._data, out, indent=2)
        partial.replace(self.path)

    # --- recent streams --------------------------------------------------------------------

    def recent_streams(self) -> list[RecentStream]:
        recent: list[RecentStream] = []
        for entry in self._data.get("recent", []):
            try:
                recent.append(
                    RecentStream(
                        str(entry["server_url"]), str(entry["namespace"]), str(entry["path"])
                    )
                )
            except (KeyError, TypeError):
                continue
        return recent

    def add_recent(self, recent: RecentStream) -> None:
        kept = [r for r in self.recent_streams() if r != recent]
        self._data["recent"] = [asdict(r) for r in [recent, *kept][:MAX_RECENT]]
        self._save()

    # --- server profiles -------------------------------------------------------------------

    def server_profiles(self) -> list[ServerEntry]:
        profiles: list[ServerEntry] = []
        for entry in self._data.get("servers", []):
            try:
                token = entry.get("token")
                profiles.append(
                    ServerEntry(
                        name=str(entry["name"]),
                        url=str(entry["url"]),
                        token=str(token) if token else None,
                    )
                )
            except (KeyError, TypeError, AttributeError):
                continue
        return profiles

    def save_server_profile(self, server: ServerEntry) -> None:
        kept = [p for p in self.server_profiles() if p.name != server.name]
        self._data["servers"] = [
            {"name": p.name, "url": p.url, "token": p.token} for p in [*kept, server]
        ]
        self._save()

    def remove_server_profile(self, name: str) -> None:
        kept = [p for p in self.server_profiles() if p.name != name]
        self._data["servers"] = [{"name": p.name, "url": p.url, "token": p.token} for p in kept]
        self._save()

    # --- composer drafts -------------------------------------------------------------------

    def _drafts(self) -> list[dict[str, str]]:
        drafts = self._data.get("drafts", [])
        return [
            d
            for d in (drafts if isinstance(drafts, list) else [])
            if isinstance(d, dict)
            and all(isinstance(d.get(k), str) for k in ("namespace", "path", "text"))
        ]

    def composer_draft(self, namespace: str, path: str) -> str | None:
        return next(
            (d["text"] for d in self._drafts() if (d["namespace"], d["path"]) == (namespace, path)),
            None,
        )

    def save_composer_draft(self, namespace: str, path: str, text: str | None) -> None:
        """Keep the stream's unsent text (most recent first, bounded); None forgets it."""
        drafts = self._drafts()
        kept = [d for d in drafts if (d["namespace"], d["path"]) != (namespace, path)]
        if text is not None:
            kept.insert(0, {"namespace": namespace, "path": path, "text": text})
        kept = kept[:MAX_DRAFTS]
        if kept != drafts:
            self._data["drafts"] = kept
            self._save()

    # --- embedded server -------------------------------------------------------------------

    @property
    def embedded_port(self) -> int | None:
        port = self._data.get("embedded_port")
        return port if isinstance(port, int) and 0 < port < 65536 else None

    @embedded_port.setter
    def embedded_port(self, port: int) -> None:
        if port != self._data.get("embedded_port"):
            self._data["embedded_port"] = port
            self._save()

    # --- how lists show times --------------------------------------------------------------

    def show_utc_times(self) -> bool:
        return self._data.get("show_utc_times") is True

    def set_show_utc_times(self, utc: bool) -> None:
        if utc != self.show_utc_times():
            self._data["show_utc_times"] = utc
            self._save()
