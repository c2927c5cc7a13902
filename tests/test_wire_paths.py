"""Stream path rules and endpoint URLs (PROTOCOL.md §1, §3; server-protocol.md §7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.paths import (
    PathError,
    ServerUrlError,
    normalize_path,
    parse_stream_url,
    resolve_stream_path,
    stream_url,
    validate_server_url,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("", "/"), ("   ", "/"), ("/", "/"), ("a/b", "/a/b"), ("  /a/b ", "/a/b"), ("x", "/x")],
)
def test_normalize_path(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected


def test_colon_is_invalid() -> None:
    with pytest.raises(PathError, match='invalid stream path "a:b"'):
        normalize_path("a:b")


@pytest.mark.parametrize(
    ("base", "stream_path", "expected"),
    [
        ("/root/base", "child", "/root/base/child"),
        ("/root/base", "./child", "/root/base/child"),
        ("/root/a/b/c", "../parent", "/root/a/b/parent"),
        ("/root/a/b/c", "../../grandparent", "/root/a/grandparent"),
        ("/root/a/b/c", "../../grandparent/.././bla", "/root/a/bla"),
        ("/root/a", "/abs//x/./y", "/abs/x/y"),
        ("/a", "..", "/"),
        ("/", "", "/"),
        ("/a", "b//c/", "/a/b/c"),
    ],
)
def test_resolve_stream_path(base: str, stream_path: str, expected: str) -> None:
    assert resolve_stream_path(base, stream_path) == expected


def test_escaping_the_root_has_the_reference_message() -> None:
    with pytest.raises(PathError) as info:
        resolve_stream_path("/e2e/x", "../../../too-far")
    assert str(info.value) == (
        'streamPath "../../../too-far" escapes the stream root (resolved from "/e2e/x")'
    )


@pytest.mark.parametrize(
    ("path", "namespace", "ws", "expected"),
    [
        ("/", "default", False, "http://h:1/api/streams?path=%2F"),
        ("/e2e/foo", "default", False, "http://h:1/api/streams?path=%2Fe2e%2Ffoo"),
        (
            "/e2e/foo",
            "proj_123",
            False,
            "http://h:1/api/streams?path=%2Fe2e%2Ffoo&namespace=proj_123",
        ),
        ("e2e", "default", True, "ws://h:1/api/streams?path=%2Fe2e"),
    ],
)
def test_stream_url(path: str, namespace: str, ws: bool, expected: str) -> None:
    assert stream_url("http://h:1", path, namespace, ws=ws) == expected


def test_stream_url_schemes_and_prefix() -> None:
    assert (
        stream_url("https://x.dev/base/", "/a", ws=True) == "wss://x.dev/base/api/streams?path=%2Fa"
    )
    assert stream_url("wss://x.dev", "/a") == "https://x.dev/api/streams?path=%2Fa"


@given(
    st.lists(st.text(alphabet="abc-_ é&=?#%+", min_size=1, max_size=6), max_size=4),
    st.sampled_from(["default", "proj_123", "a b&c"]),
)
def test_stream_url_parses_back(segments: list[str], namespace: str) -> None:
    path = normalize_path("/".join(segments))
    url = stream_url("http://127.0.0.1:8787", path, namespace)
    assert parse_stream_url(url) == (namespace, path)


def test_parse_stream_url_defaults() -> None:
    assert parse_stream_url("http://h/api/streams") == ("default", "/")
    assert parse_stream_url("http://h/api/streams?path=&namespace=") == ("default", "/")


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("http://127.0.0.1:8787", "http://127.0.0.1:8787"),
        (" HTTP://127.0.0.1:8787/ ", "http://127.0.0.1:8787"),
        ("ws://127.0.0.1:8787", "http://127.0.0.1:8787"),
        ("WSS://Example.COM:443/base/", "https://example.com/base"),
        ("https://example.com:8443", "https://example.com:8443"),
        ("http://[::1]:80", "http://[::1]"),
    ],
)
def test_server_urls_are_made_canonical(raw: str, canonical: str) -> None:
    assert validate_server_url(raw) == canonical
    assert validate_server_url(canonical) == canonical


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("localhost:8787", "must start with http://"),
        ("127.0.0.1:8787", "must start with http://"),
        ("ftp://example.com", "must start with http://"),
        ("", "empty"),
        ("http://", "host is missing"),
        ("http://:8787", "host is missing"),
        ("http://example.com:99999", "port is not valid"),
        ("http://example.com/?path=/a", "query or fragment"),
        ("http://example.com#top", "query or fragment"),
        ("http://alice:hunter2@example.com", "credentials"),
    ],
)
def test_invalid_server_urls_say_why(raw: str, says: str) -> None:
    with pytest.raises(ServerUrlError, match=says) as info:
        validate_server_url(raw)
    assert isinstance(info.value, ValueError)
    assert "hunter2" not in str(info.value)
