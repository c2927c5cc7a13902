"""The core processor: payload rules of the `events.iterate.com/stream/*` types, the pause gate
and the pure reducer that folds committed events into the core state (PROTOCOL.md §4, §6).

No I/O. States are plain JSON-able dicts. A state handed out is never mutated afterwards:
`apply_event` changes only the top level of a working copy the caller owns and replaces nested
values instead of editing them, so batches and snapshots can share older states safely.
"""

from collections.abc import Callable, Iterable
from typing import Any, Final

from server.errors import StreamRequestError
from server.types import Event

CoreState = dict[str, Any]

# Bumped whenever the state's shape changes; a stored snapshot of another version is rebuilt
# from the log. 4 = the presence roster and `processorsBySlug` announcements (reference §9.2).
CORE_STATE_VERSION: Final = 4

PREFIX: Final = "events.iterate.com/stream/"
CREATED: Final = PREFIX + "created"
WOKEN: Final = PREFIX + "woken"
CONFIGURED: Final = PREFIX + "configured"
METADATA_UPDATED: Final = PREFIX + "metadata-updated"
CHILD_STREAM_CREATED: Final = PREFIX + "child-stream-created"
SUBSCRIPTION_CONFIGURED: Final = PREFIX + "subscription-configured"
SUBSCRIBER_CONNECTED: Final = PREFIX + "subscriber-connected"
SUBSCRIBER_DISCONNECTED: Final = PREFIX + "subscriber-disconnected"
ERROR_OCCURRED: Final = PREFIX + "error-occurred"
PAUSED: Final = PREFIX + "paused"
RESUMED: Final = PREFIX + "resumed"

DISCONNECT_REASONS: Final = frozenset(
    {"replaced", "unsubscribed", "rpc-broken", "delivery-failed", "subscription-removed", "idle"}
)
DIRECTIONS: Final = frozenset({"inbound", "outbound"})

# Types a paused stream still accepts (reference §3.3).
ALLOWED_WHILE_PAUSED: Final = frozenset(
    {RESUMED, ERROR_OCCURRED, WOKEN, SUBSCRIBER_CONNECTED, SUBSCRIBER_DISCONNECTED}
)

CREATED_OFFSET_ERROR: Final = f"{CREATED} must be the first event and have offset 1"

_UNINITIALIZED: Final = "uninitialized"


def initial_state() -> CoreState:
    """The state before `created` (reference §6.2 placeholders)."""
    return {
        "namespace": _UNINITIALIZED,
        "path": _UNINITIALIZED,
        "createdAt": _UNINITIALIZED,
        "incarnationId": _UNINITIALIZED,
        "metadata": {},
        "config": {"simulatedStorageSyncDelayMs": 0},
        "eventCount": 0,
        "maxOffset": 0,
        "childPaths": [],
        "paused": False,
        "pauseReason": None,
        "processorsBySlug": {},
        "subscriptionsByKey": {},
        "connectionsByKey": {},
    }


def check_append_allowed(state: CoreState, event_type: str) -> None:
    """The pause gate: raise `stream paused: ...` unless the type may pass a paused stream."""
    if state["paused"] and event_type not in ALLOWED_WHILE_PAUSED:
        reason = state["pauseReason"] or "unknown reason"
        raise StreamRequestError(f"stream paused: {reason}")


def reduce_event(state: CoreState, event: Event) -> CoreState:
    """Fold one committed event into a copy of `state` (validating it as core would)."""
    return reduce_events(state, (event,))


def reduce_events(state: CoreState, events: Iterable[Event]) -> CoreState:
    """Fold committed events into a copy of `state`, in order."""
    working = dict(state)
    for event in events:
        apply_event(working, event)
    return working


def apply_event(working: CoreState, event: Event) -> None:
    """Fold one committed event into `working`, a private top-level copy the caller owns.

    Validates core payloads and the offset-1 rule first, so a refused event changes nothing.
    """
    event_type = event["type"]
    offset = event["offset"]
    if event_type.startswith(PREFIX):
        payload = event.get("payload")
        validator = _PAYLOAD_VALIDATORS.get(event_type)
        if validator is not None:
            validator(_payload_object(event_type, payload))
        if event_type == CREATED and offset != 1:
            raise StreamRequestError(CREATED_OFFSET_ERROR)
        folder = _FOLDERS.get(event_type)
        if folder is not None:
            folder(working, event, payload)
    working["eventCount"] = working["eventCount"] + 1
    working["maxOffset"] = offset


def immediate_child(parent_path: str, descendant_path: str) -> str | None:
    """The child of `parent_path` on the way to `descendant_path`, or None if not below it."""
    prefix = "/" if parent_path == "/" else parent_path + "/"
    if not descendant_path.startswith(prefix) or len(descendant_path) == len(prefix):
        return None
    first_segment = descendant_path[len(prefix) :].split("/", 1)[0]
    return prefix + first_segment if first_segment else None


def ancestors(path: str) -> list[str]:
    """Proper ancestors of a normalised path, root first (`/a/b/c` → `/`, `/a`, `/a/b`)."""
    if path == "/":
        return []
    segments = path.strip("/").split("/")
    return ["/"] + ["/" + "/".join(segments[:i]) for i in range(1, len(segments))]


# --- folding -------------------------------------------------------------------------------


def _fold_created(working: CoreState, event: Event, payload: Any) -> None:
    working["namespace"] = payload["namespace"]
    working["path"] = payload["path"]
    working["createdAt"] = event["createdAt"]


def _fold_woken(working: CoreState, event: Event, payload: Any) -> None:
    working["incarnationId"] = payload["incarnationId"]
    # Every connection died with the previous incarnation.
    working["connectionsByKey"] = {}


def _fold_configured(working: CoreState, event: Event, payload: Any) -> None:
    working["config"] = {**working["config"], **payload["config"]}


def _fold_metadata_updated(working: CoreState, event: Event, payload: Any) -> None:
    working["metadata"] = payload["metadata"]


def _fold_child_stream_created(working: CoreState, event: Event, payload: Any) -> None:
    child = immediate_child(working["path"], payload["childPath"])
    if child is not None and child not in working["childPaths"]:
        working["childPaths"] = [*working["childPaths"], child]


def _fold_subscription_configured(working: CoreState, event: Event, payload: Any) -> None:
    configured = {
        "offset": event["offset"],
        "type": event["type"],
        "payload": payload,
        "createdAt": event["createdAt"],
    }
    working["subscriptionsByKey"] = {
        **working["subscriptionsByKey"],
        payload["subscriptionKey"]: {"latestConfiguredEvent": configured},
    }


def _fold_subscriber_connected(working: CoreState, event: Event, payload: Any) -> None:
    connection: dict[str, Any] = {
        "direction": payload["direction"],
        "connectedAtOffset": event["offset"],
    }
    subscriber = payload.get("subscriber")
    if subscriber is not None:
        connection["subscriber"] = subscriber
        announcement = subscriber.get("processor")
        if announcement is not None:
            working["processorsBySlug"] = {
                **working["processorsBySlug"],
                announcement["slug"]: {
                    "announcedAtOffset": event["offset"],
                    "announcement": announcement,
                },
            }
    working["connectionsByKey"] = {
        **working["connectionsByKey"],
        payload["subscriptionKey"]: connection,
    }


def _fold_subscriber_disconnected(working: CoreState, event: Event, payload: Any) -> None:
    key = payload["subscriptionKey"]
    if key in working["connectionsByKey"]:
        working["connectionsByKey"] = {
            k: v for k, v in working["connectionsByKey"].items() if k != key
        }


def _fold_paused(working: CoreState, event: Event, payload: Any) -> None:
    working["paused"] = True
    working["pauseReason"] = payload.get("reason")


def _fold_resumed(working: CoreState, event: Event, payload: Any) -> None:
    working["paused"] = False
    working["pauseReason"] = None


_FOLDERS: Final = {
    CREATED: _fold_created,
    WOKEN: _fold_woken,
    CONFIGURED: _fold_configured,
    METADATA_UPDATED: _fold_metadata_updated,
    CHILD_STREAM_CREATED: _fold_child_stream_created,
    SUBSCRIPTION_CONFIGURED: _fold_subscription_configured,
    SUBSCRIBER_CONNECTED: _fold_subscriber_connected,
    SUBSCRIBER_DISCONNECTED: _fold_subscriber_disconnected,
    PAUSED: _fold_paused,
    RESUMED: _fold_resumed,
}


# --- payload validation --------------------------------------------------------------------


class _PayloadError(Exception):
    """A payload rule broken; turned into a StreamRequestError naming the event type."""


def _payload_object(event_type: str, payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise StreamRequestError(f"invalid {event_type} payload: payload must be an object")
    return payload


def _text(obj: dict[str, Any], key: str, *, required: bool = True, non_empty: bool = True) -> None:
    if key not in obj:
        if required:
            raise _PayloadError(f'"{key}" is required')
        return
    value = obj[key]
    if not isinstance(value, str) or (non_empty and not value):
        raise _PayloadError(f'"{key}" must be a {"non-empty " if non_empty else ""}string')


def _optional_object(obj: dict[str, Any], key: str) -> dict[str, Any] | None:
    if key not in obj:
        return None
    value = obj[key]
    if not isinstance(value, dict):
        raise _PayloadError(f'"{key}" must be an object')
    return value


def _object(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = _optional_object(obj, key)
    if value is None:
        raise _PayloadError(f'"{key}" is required')
    return value


def _string_list(obj: dict[str, Any], key: str) -> None:
    value = obj.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _PayloadError(f'"{key}" must be an array of strings')


def _check_created(payload: dict[str, Any]) -> None:
    _text(payload, "namespace")
    _text(payload, "path")


def _check_woken(payload: dict[str, Any]) -> None:
    _text(payload, "incarnationId")


def _check_configured(payload: dict[str, Any]) -> None:
    config = _object(payload, "config")
    if "simulatedStorageSyncDelayMs" in config:
        delay = config["simulatedStorageSyncDelayMs"]
        if not _is_int(delay) or delay < 0:
            raise _PayloadError('"config.simulatedStorageSyncDelayMs" must be an integer >= 0')


def _check_metadata_updated(payload: dict[str, Any]) -> None:
    _object(payload, "metadata")


def _check_child_stream_created(payload: dict[str, Any]) -> None:
    _text(payload, "childPath")


def _check_subscription_configured(payload: dict[str, Any]) -> None:
    _text(payload, "subscriptionKey")
    subscriber = _object(payload, "subscriber")
    if subscriber.get("type") != "callable":
        raise _PayloadError('"subscriber.type" must be "callable"')
    if not isinstance(subscriber.get("callable"), dict):
        raise _PayloadError('"subscriber.callable" must be an object')


def _check_announcement(announcement: dict[str, Any]) -> None:
    _text(announcement, "slug")
    _text(announcement, "version")
    _text(announcement, "description", required=False, non_empty=False)
    _string_list(announcement, "consumes")
    _string_list(announcement, "emits")
    owned = announcement.get("ownedEvents", [])
    if not isinstance(owned, list):
        raise _PayloadError('"ownedEvents" must be an array')
    for item in owned:
        if not isinstance(item, dict):
            raise _PayloadError('"ownedEvents" items must be objects')
        _text(item, "type")
        _text(item, "description", required=False, non_empty=False)


def _check_subscriber_connected(payload: dict[str, Any]) -> None:
    _text(payload, "subscriptionKey")
    if payload.get("direction") not in DIRECTIONS:
        raise _PayloadError('"direction" must be "inbound" or "outbound"')
    subscriber = _optional_object(payload, "subscriber")
    if subscriber is None:
        return
    _text(subscriber, "incarnationId", required=False)
    _text(subscriber, "description", required=False, non_empty=False)
    announcement = _optional_object(subscriber, "processor")
    if announcement is not None:
        _check_announcement(announcement)


def _check_subscriber_disconnected(payload: dict[str, Any]) -> None:
    _text(payload, "subscriptionKey")
    if payload.get("reason") not in DISCONNECT_REASONS:
        allowed = ", ".join(sorted(DISCONNECT_REASONS))
        raise _PayloadError(f'"reason" must be one of {allowed}')


def _check_error_occurred(payload: dict[str, Any]) -> None:
    _text(payload, "message")
    error = _optional_object(payload, "error")
    if error is not None:
        _text(error, "message", non_empty=False)
        _text(error, "name", required=False, non_empty=False)
        _text(error, "stack", required=False, non_empty=False)


def _check_pause_toggle(payload: dict[str, Any]) -> None:
    _text(payload, "reason", required=False)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_Check = Callable[[dict[str, Any]], None]


def _named(event_type: str, check: _Check) -> _Check:
    def validate(payload: dict[str, Any]) -> None:
        try:
            check(payload)
        except _PayloadError as exc:
            raise StreamRequestError(f"invalid {event_type} payload: {exc}") from None

    return validate


_PAYLOAD_VALIDATORS: Final = {
    event_type: _named(event_type, check)
    for event_type, check in {
        CREATED: _check_created,
        WOKEN: _check_woken,
        CONFIGURED: _check_configured,
        METADATA_UPDATED: _check_metadata_updated,
        CHILD_STREAM_CREATED: _check_child_stream_created,
        SUBSCRIPTION_CONFIGURED: _check_subscription_configured,
        SUBSCRIBER_CONNECTED: _check_subscriber_connected,
        SUBSCRIBER_DISCONNECTED: _check_subscriber_disconnected,
        ERROR_OCCURRED: _check_error_occurred,
        PAUSED: _check_pause_toggle,
        RESUMED: _check_pause_toggle,
    }.items()
}
