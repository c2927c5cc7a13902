"""Mirror file names: layout, normalisation, and safety for any input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mirror.paths import (
    MIRROR_FILES_GLOB,
    MIRRORS_DIR,
    ServerUrlError,
    default_data_dir,
    guess_stream,
    mirror_file,
    namespace_dir_name,
    server_slug,
    stream_file_name,
    validate_server_url,
    writer_lock_file,
)
from mirror.schema import SCHEMA_VERSION
from wire.paths import PathError

SAFE_COMPONENT = re.compile(r"[a-z0-9_-][a-z0-9._-]*")
DATA = Path("/data/streamdesk")


def assert_safe(path: Path, data_dir: Path = DATA) -> None:
    relative = path.relative_to(data_dir)
    assert relative.parts[0] == "mirrors"
    assert len(relative.parts) == 4
    for part in relative.parts:
        assert SAFE_COMPONENT.fullmatch(part), part
        assert part not in (".", "..")
        assert len(part) <= 80
    assert path.name.startswith("stream-") and path.name.endswith(".sqlite3")


def test_layout() -> None:
    path = mirror_file(DATA, "http://127.0.0.1:8787", "default", "/agents/run-42")
    relative = path.relative_to(DATA)
    assert relative.parts[0] == "mirrors"
    assert re.fullmatch(r"127\.0\.0\.1-8787-[0-9a-f]{8}", relative.parts[1])
    assert relative.parts[2] == "default"
    assert re.fullmatch(r"stream-[0-9a-f]{16}-run-42\.sqlite3", relative.parts[3])


def test_root_stream_is_named_root_and_paths_are_normalised() -> None:
    assert stream_file_name("/").endswith("-root.sqlite3")
    assert stream_file_name("") == stream_file_name("/") == stream_file_name("  ")
    assert stream_file_name("a/b") == stream_file_name("/a/b") == stream_file_name(" /a/b ")


def test_same_last_segment_in_different_paths_gives_different_files() -> None:
    assert stream_file_name("/x/logs") != stream_file_name("/y/logs")


def test_invalid_stream_path_is_rejected() -> None:
    with pytest.raises(PathError):
        mirror_file(DATA, "embedded", "default", "/a:b")


def test_equivalent_server_urls_share_a_slug() -> None:
    slugs = {
        server_slug("http://127.0.0.1:8787"),
        server_slug("HTTP://127.0.0.1:8787/"),
        server_slug("ws://127.0.0.1:8787"),
        server_slug("http://user:secret@127.0.0.1:8787/?token=abc#frag"),
    }
    assert len(slugs) == 1
    assert server_slug("https://example.com") == server_slug("https://example.com:443")


@pytest.mark.parametrize(
    "spelling",
    [
        "http://127.0.0.1:8787",
        "HTTP://127.0.0.1:8787/",
        "ws://127.0.0.1:8787",
        " http://127.0.0.1:8787 ",
    ],
)
def test_the_canonical_server_url_names_the_same_file(spelling: str) -> None:
    # The registry names files from the canonical URL: existing mirrors keep their names.
    canonical = validate_server_url(spelling)
    assert mirror_file(DATA, canonical, "default", "/a") == mirror_file(
        DATA, spelling, "default", "/a"
    )
    with pytest.raises(ServerUrlError):
        validate_server_url("127.0.0.1:8787")


def test_mirror_files_glob_and_name_guess_match_the_file_names() -> None:
    for path, guessed in [("/agents/run-42", "/run-42"), ("/", "/"), ("solo", "/solo")]:
        file = mirror_file(DATA, "http://127.0.0.1:8787", "default", path)
        assert file.relative_to(DATA / MIRRORS_DIR).match(MIRROR_FILES_GLOB)
        assert guess_stream(file) == ("default", guessed)


def test_different_servers_get_different_slugs() -> None:
    slugs = [
        server_slug("http://127.0.0.1:8787"),
        server_slug("http://127.0.0.1:8788"),
        server_slug("https://127.0.0.1:8787"),
        server_slug("http://example.com/streams-a"),
        server_slug("http://example.com/streams-b"),
        server_slug("embedded"),
    ]
    assert len(set(slugs)) == len(slugs)


def test_credentials_never_reach_the_file_name() -> None:
    path = mirror_file(DATA, "https://alice:hunter2@example.com/?token=s3cret", "default", "/a")
    assert "hunter2" not in str(path) and "s3cret" not in str(path) and "alice" not in str(path)


@pytest.mark.parametrize(
    "namespace",
    [
        "..",
        ".",
        "../../etc",
        "a/b",
        "C:\\x",
        "nul",
        "con",
        "Default",
        "ns\x00x",
        "é",
        "",
        "x" * 500,
    ],
)
def test_hostile_namespaces_stay_inside_the_data_dir(namespace: str) -> None:
    path = mirror_file(DATA, "http://h:1", namespace, "/s")
    assert_safe(path)
    assert path.parent.name != "default"


def test_namespaces_that_differ_only_in_case_or_unsafe_chars_get_different_dirs() -> None:
    names = {namespace_dir_name(ns) for ns in ["default", "Default", "de/fault", "de:fault"]}
    assert len(names) == 4
    assert namespace_dir_name("default") == "default"


@pytest.mark.parametrize(
    "path", ["/../../etc/passwd", "/a/..", "/.hidden", "/" + "y" * 5000, "/with space/é/\\x"]
)
def test_hostile_stream_paths_stay_inside_the_data_dir(path: str) -> None:
    assert_safe(mirror_file(DATA, "http://h:1", "default", path))


def test_writer_lock_sits_beside_the_mirror_and_names_the_schema_version() -> None:
    path = mirror_file(DATA, "embedded", "default", "/a")
    lock = writer_lock_file(path)
    assert lock.parent == path.parent
    assert f"v{SCHEMA_VERSION}" in lock.name and lock.name.startswith(path.name)
    assert writer_lock_file(path, SCHEMA_VERSION + 1) != lock


def test_default_data_dir() -> None:
    directory = default_data_dir()
    assert directory.is_absolute()
    assert "streamdesk" in str(directory).lower()


@settings(max_examples=300, deadline=None)
@given(
    server=st.text(max_size=200),
    namespace=st.text(max_size=200),
    path=st.text(max_size=300).filter(lambda p: ":" not in p),
)
def test_any_input_gives_a_safe_path(server: str, namespace: str, path: str) -> None:
    result = mirror_file(DATA, server, namespace, path)
    assert_safe(result)
    assert len(result.name.encode()) < 100
