"""The desktop app's settings file: recent streams, server profiles, the embedded port."""

from __future__ import annotations

import stat
from pathlib import Path

from app.settings import MAX_DRAFTS, MAX_RECENT, Settings
from ui.targets import RecentStream, ServerEntry
from ui.time_display import TimeDisplay


def test_recent_streams_are_most_recent_first_deduplicated_and_bounded(tmp_path: Path) -> None:
    settings = Settings(tmp_path / "settings.json")
    for i in range(MAX_RECENT + 5):
        settings.add_recent(RecentStream("http://h:1", "default", f"/s{i}"))
    settings.add_recent(RecentStream("http://h:1", "default", "/s10"))
    recent = Settings(tmp_path / "settings.json").recent_streams()
    assert len(recent) == MAX_RECENT
    assert recent[0].path == "/s10"
    assert [r.path for r in recent].count("/s10") == 1


def test_server_profiles_round_trip_and_the_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = Settings(path)
    settings.save_server_profile(ServerEntry("prod", "https://streams.example", token="t0k"))
    settings.save_server_profile(ServerEntry("lab", "http://lab:8787"))
    settings.save_server_profile(ServerEntry("prod", "https://streams2.example", token="t1"))
    reloaded = Settings(path)
    assert reloaded.server_profiles() == [
        ServerEntry("lab", "http://lab:8787"),
        ServerEntry("prod", "https://streams2.example", token="t1"),
    ]
    reloaded.remove_server_profile("lab")
    assert [p.name for p in Settings(path).server_profiles()] == ["prod"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_embedded_port_and_unreadable_files(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    assert Settings(path).embedded_port is None
    settings = Settings(path)
    settings.embedded_port = 40123
    assert Settings(path).embedded_port == 40123
    path.write_text("{not json", encoding="utf-8")
    broken = Settings(path)
    assert broken.embedded_port is None and broken.recent_streams() == []
    broken.add_recent(RecentStream("http://h:1", "ns", "/a"))
    assert Settings(path).recent_streams() == [RecentStream("http://h:1", "ns", "/a")]


def test_composer_drafts_are_kept_per_stream_and_bounded(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = Settings(path)
    settings.save_composer_draft("default", "/a", '{"type": "a"}')
    settings.save_composer_draft("ns", "/a", '{"type": "ns-a"}')
    reloaded = Settings(path)
    assert reloaded.composer_draft("default", "/a") == '{"type": "a"}'
    assert reloaded.composer_draft("ns", "/a") == '{"type": "ns-a"}'
    assert reloaded.composer_draft("default", "/b") is None
    reloaded.save_composer_draft("default", "/a", None)
    assert Settings(path).composer_draft("default", "/a") is None
    for i in range(MAX_DRAFTS + 3):
        settings.save_composer_draft("default", f"/s{i}", f"text {i}")
    bounded = Settings(path)
    assert bounded.composer_draft("default", f"/s{MAX_DRAFTS + 2}") == f"text {MAX_DRAFTS + 2}"
    assert bounded.composer_draft("default", "/s0") is None  # the oldest drafts go first


def test_the_utc_choice_is_kept_through_the_time_display(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    display = TimeDisplay()
    display.bind_store(Settings(path))
    assert not display.utc
    display.set_utc(True)
    assert Settings(path).show_utc_times()
    reopened = TimeDisplay()
    reopened.bind_store(Settings(path))
    assert reopened.utc
