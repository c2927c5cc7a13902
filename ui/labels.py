"""Every user-visible phrase built from numbers, in one place (pure)."""

from __future__ import annotations

CREATED_COMPONENT = "stream.created"
WOKEN_COMPONENT = "stream.woken"
CHILD_STREAM_COMPONENT = "stream.child-stream-created"
GROUP_COMPONENT = "group"

_COMPONENT_EVENT_TYPES = {
    CREATED_COMPONENT: "events.iterate.com/stream/created",
    WOKEN_COMPONENT: "events.iterate.com/stream/woken",
    CHILD_STREAM_COMPONENT: "events.iterate.com/stream/child-stream-created",
}


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """'1 event', '12,345 events' (numbers with thousands separators)."""
    noun = singular if n == 1 else (plural or singular + "s")
    return f"{n:,} {noun}"


def filter_count_text(total: int, filtered: int | None) -> str:
    """'N total events', or 'N filtered events / M total events' while a filter is set."""
    total_text = f"{counted(total, 'total event')}"
    if filtered is None:
        return total_text
    return f"{counted(filtered, 'filtered event')} / {total_text}"


def type_option_label(event_type: str, count: int) -> str:
    return f"{event_type} ({count:,})"


def offset_range_label(first: int, last: int) -> str:
    """'7' for one offset, '3–9' (en dash) for a range."""
    return str(first) if first == last else f"{first}–{last}"


def lifecycle_label(component: str, offset: int) -> str:
    if component == CREATED_COMPONENT:
        return f"Stream created #{offset}"
    return f"Stream woke up #{offset}"


def component_event_type(component: str) -> str:
    """The event type a feed component stands for (a group keeps its own type)."""
    return _COMPONENT_EVENT_TYPES.get(component, component)


def scroll_to_bottom_label(unread: int, noun: str) -> str:
    """'Scroll to bottom', or 'Scroll to bottom, 3 new events' while rows arrived unseen."""
    if unread <= 0:
        return "Scroll to bottom"
    return f"Scroll to bottom, {counted(unread, 'new ' + noun)}"


def catchup_text(done: int, total: int, rate: float) -> str:
    return f"Catching up {done:,} / {total:,} events · {rate:,.0f} ev/s"


def server_label(server_url: str | None, *, embedded_url: str | None) -> str:
    """How a server is named in titles and headers."""
    if server_url is None:
        return "offline"
    if server_url == embedded_url:
        return "embedded"
    return server_url.removeprefix("http://").removeprefix("https://").rstrip("/")


def window_title(path: str | None, namespace: str, server: str) -> str:
    """'/orders/42 · embedded — Streamdesk' (the namespace shows when it is not the default)."""
    if path is None:
        return "Streamdesk"
    where = path if namespace == "default" else f"{namespace}:{path}"
    return f"{where} · {server} — Streamdesk"


# Units that read the same in the plural ("3 MB", not "3 MBs").
_UNITS = frozenset({"MB"})


def job_text(title: str, done: int, total: int | None, noun: str | None) -> str:
    """'Exporting JSONL: 1,234 / 5,000 events', 'Saving a copy: 3 / 75 MB', or 'Saving a
    copy…' with nothing to count."""
    if noun is None:
        return f"{title}…"
    plural = noun if noun in _UNITS else None
    if total is None:
        return f"{title}: {counted(done, noun, plural)}"
    return f"{title}: {done:,} / {counted(max(total, done), noun, plural)}"


def size_text(n_bytes: int) -> str:
    """'812 B', '14.2 KB', '3.0 MB', '1.2 GB' (powers of 1024, as file managers show)."""
    size, unit = float(n_bytes), "B"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            break
        size /= 1024
    return f"{size:,.0f} B" if unit == "B" else f"{size:,.1f} {unit}"


def synced_text(changed: float | None, now: float) -> str:
    """When a mirror file last changed: 'just now', '5 min ago', '3 h ago', '2 days ago'."""
    if changed is None:
        return "never"
    seconds = max(0.0, now - changed)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h ago"
    return counted(int(seconds // 86400), "day") + " ago"
