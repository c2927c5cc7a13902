"""The desktop app's settings: recent streams, saved server profiles, unsent composer drafts,
the embedded server's port, whether lists show times in UTC. One JSON file in the data
directory, written atomically, readable only by its owner. A profile's bearer token goes to the
system keyring when there is one (a ``TokenStore`` is given), else into this file."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app.token_store import TokenStore
from ui.targets import RecentStream, ServerEntry

log = logging.getLogger(__name__)

MAX_RECENT = 20
MAX_DRAFTS = 50
SETTINGS_FILE = "settings.json"
_KEYRING = "keyring"


def _account(profile_name: str) -> str:
    """The keyring account a profile's token is saved under."""
    return f"server:{profile_name}"


class Settings:
    """Implements ui.targets.SettingsPort; every change is saved at once."""

    def __init__(self, path: Path, tokens: TokenStore | None = None) -> None:
        self.path = path
        # None: tokens stay in this file (tests, and machines without a keyring).
        self._tokens = tokens if tokens is not None and tokens.available else None
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
                name = str(entry["name"])
                token = entry.get("token")
                if entry.get("token_in") == _KEYRING and self._tokens is not None:
                    token = self._tokens.get(_account(name))
                profiles.append(
                    ServerEntry(
                        name=name, url=str(entry["url"]), token=str(token) if token else None
                    )
                )
            except (KeyError, TypeError, AttributeError):
                continue
        return profiles

    def token_storage(self) -> str:
        """Where a saved token goes, in words for the server dialog."""
        if self._tokens is not None:
            return f"Tokens are kept in the system keyring ({self._tokens.backend_name})."
        return f"No system keyring: tokens are kept in {self.path}, readable only by you."

    def save_server_profile(self, server: ServerEntry, *, replacing: str | None = None) -> None:
        """Save (or, with ``replacing``, rename and update) a profile."""
        gone = {server.name, replacing or server.name}
        kept = [p for p in self.server_profiles() if p.name not in gone]
        if replacing is not None and replacing != server.name and self._tokens is not None:
            self._tokens.delete(_account(replacing))
        self._data["servers"] = [self._profile_entry(p) for p in [*kept, server]]
        self._save()

    def remove_server_profile(self, name: str) -> None:
        kept = [p for p in self.server_profiles() if p.name != name]
        if self._tokens is not None:
            self._tokens.delete(_account(name))
        self._data["servers"] = [self._profile_entry(p) for p in kept]
        self._save()

    def _profile_entry(self, profile: ServerEntry) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": profile.name, "url": profile.url, "token": profile.token}
        if self._tokens is None:
            return entry
        if profile.token is None:
            self._tokens.delete(_account(profile.name))
            entry["token"] = None
        elif self._tokens.put(_account(profile.name), profile.token):
            entry.update(token=None, token_in=_KEYRING)
        return entry

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

    # --- session ---------------------------------------------------------------------------

    def session(self) -> list[Any]:
        """The windows open when the app last ended (ui.session_state reads each entry)."""
        windows = self._data.get("session", [])
        return windows if isinstance(windows, list) else []

    def save_session(self, windows: list[dict[str, Any]]) -> None:
        self._data["session"] = windows
        self._data["started_before"] = True
        self._save()

    def first_start(self) -> bool:
        """True until a session was saved once (the first start opens the sample stream)."""
        return not self._data.get("started_before", False)

    # --- SQL console history -----------------------------------------------------------

    def sql_history(self) -> list[str]:
        entries = self._data.get("sql_history", [])
        return [e for e in entries if isinstance(e, str)] if isinstance(entries, list) else []

    def save_sql_history(self, statements: list[str]) -> None:
        self._data["sql_history"] = list(statements)
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
