"""Validation of what clients send: append input events, committed-shaped events for `reduce`,
and the one-object argument of every public method (PROTOCOL.md §2-§3). Pure functions.

Event input is strict (unknown keys are refused, as the reference's strict schema does). Method
arguments are strict about unknown keys too, but accept `null` or `undefined` for an omitted
optional argument.
"""

import re
from dataclasses import dataclass
from typing import Any, Final

from server.errors import StreamRequestError
from server.types import Event
from wire.codec import UNDEFINED

EVENT_INPUT_KEYS: Final = ("type", "payload", "metadata", "source", "idempotencyKey", "offset")
COMMITTED_EVENT_KEYS: Final = (*EVENT_INPUT_KEYS, "createdAt")
_EVENT_INPUT_KEY_SET: Final = frozenset(EVENT_INPUT_KEYS)
_COMMITTED_KEY_SET: Final = frozenset(COMMITTED_EVENT_KEYS)
_ISO_TIMESTAMP: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})\Z"
)
LIMIT_ERROR: Final = "getEvents limit must be a positive integer."


@dataclass(frozen=True, slots=True)
class AppendArgs:
    events: list[Any]
    stream_path: str | None


@dataclass(frozen=True, slots=True)
class GetEventArgs:
    offset: int | None
    idempotency_key: str | None


@dataclass(frozen=True, slots=True)
class GetEventsArgs:
    after_offset: int
    before_offset: int | None
    limit: int | None


@dataclass(frozen=True, slots=True)
class SubscribeArgs:
    process_event_batch: Any
    subscription_key: str | None
    replay_after_offset: int | None
    event_types: frozenset[str] | None
    events: bool
    subscriber: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ReduceArgs:
    event: Event
    core_state: dict[str, Any] | None


# --- events --------------------------------------------------------------------------------


def validate_event_input(value: Any, where: str = "event") -> Event:
    """Check one append input; returns it, minus members whose value is `undefined`."""
    event = _strict_object(value, EVENT_INPUT_KEYS, _EVENT_INPUT_KEY_SET, where)
    if "offset" in event and not (_is_int(event["offset"]) and event["offset"] >= 0):
        raise StreamRequestError(f'invalid {where}: "offset" must be an integer >= 0')
    return event


def validate_committed_event(value: Any, where: str = "event") -> Event:
    """Check an event shaped like a committed one (`reduce` input): needs offset and createdAt."""
    event = _strict_object(value, COMMITTED_EVENT_KEYS, _COMMITTED_KEY_SET, where)
    offset = event.get("offset")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise StreamRequestError(f'invalid {where}: "offset" must be an integer >= 0')
    created_at = event.get("createdAt")
    if not isinstance(created_at, str) or not _ISO_TIMESTAMP.match(created_at):
        raise StreamRequestError(f'invalid {where}: "createdAt" must be an ISO-8601 timestamp')
    return event


def _strict_object(
    value: Any, names: tuple[str, ...], allowed: frozenset[str], where: str
) -> Event:
    if not isinstance(value, dict):
        raise StreamRequestError(f"invalid {where}: must be an object")
    event: Event = value
    if not allowed.issuperset(event):
        raise StreamRequestError(
            f"invalid {where}: unrecognized key(s) {_names(event.keys() - allowed)}; "
            f"allowed keys: {', '.join(names)}"
        )
    for item in event.values():
        if item is UNDEFINED:
            event = {k: v for k, v in event.items() if v is not UNDEFINED}
            break
    _check_envelope(event, where)
    return event


def _check_envelope(value: Event, where: str) -> None:
    event_type = value.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise StreamRequestError(f'invalid {where}: "type" must be a non-empty string')
    if "metadata" in value and not isinstance(value["metadata"], dict):
        raise StreamRequestError(f'invalid {where}: "metadata" must be an object')
    if "idempotencyKey" in value:
        key = value["idempotencyKey"]
        if not isinstance(key, str) or not key.strip():
            raise StreamRequestError(
                f'invalid {where}: "idempotencyKey" must be a non-empty string'
            )
    if "source" in value:
        _check_source(value["source"], where)


def _check_source(source: Any, where: str) -> None:
    problem = f'invalid {where}: "source" must be {{processor?: {{slug, version}}}}'
    if not isinstance(source, dict) or source.keys() - {"processor"}:
        raise StreamRequestError(problem)
    if "processor" in source:
        processor = source["processor"]
        if (
            not isinstance(processor, dict)
            or processor.keys() != {"slug", "version"}
            or not all(isinstance(v, str) for v in processor.values())
        ):
            raise StreamRequestError(problem)


# --- method arguments ----------------------------------------------------------------------


def parse_append(args: Any) -> AppendArgs:
    """The argument's shape; the event itself is validated by the engine."""
    fields = _object_argument("append", args, required=("event",), optional=("streamPath",))
    return AppendArgs([fields["event"]], _optional_str("append", fields, "streamPath"))


def parse_append_batch(args: Any) -> AppendArgs:
    """The argument's shape; the events themselves are validated by the engine."""
    fields = _object_argument("appendBatch", args, required=("events",), optional=("streamPath",))
    events = fields["events"]
    if not isinstance(events, list):
        raise StreamRequestError('appendBatch: "events" must be an array of events')
    return AppendArgs(events, _optional_str("appendBatch", fields, "streamPath"))


def parse_get_event(args: Any) -> GetEventArgs:
    fields = _object_argument("getEvent", args, optional=("offset", "idempotencyKey"))
    offset = fields.get("offset")
    key = fields.get("idempotencyKey")
    if (offset is None) == (key is None):
        raise StreamRequestError("getEvent expects exactly one of {offset} or {idempotencyKey}")
    if offset is not None:
        if not _is_int(offset):
            raise StreamRequestError('getEvent: "offset" must be an integer')
        return GetEventArgs(offset, None)
    if not isinstance(key, str):
        raise StreamRequestError('getEvent: "idempotencyKey" must be a string')
    return GetEventArgs(None, key)


def parse_get_events(args: Any) -> GetEventsArgs:
    fields = _object_argument(
        "getEvents", args, optional=("afterOffset", "beforeOffset", "limit"), allow_missing=True
    )
    after = fields.get("afterOffset")
    before = fields.get("beforeOffset")
    limit = fields.get("limit")
    if after is not None and not _is_int(after):
        raise StreamRequestError('getEvents: "afterOffset" must be an integer')
    if before is not None and not _is_int(before):
        raise StreamRequestError('getEvents: "beforeOffset" must be an integer')
    if limit is not None and not (_is_int(limit) and limit > 0):
        raise StreamRequestError(LIMIT_ERROR)
    return GetEventsArgs(after or 0, before, limit)


def parse_subscribe(args: Any) -> SubscribeArgs:
    fields = _object_argument(
        "subscribe",
        args,
        required=("processEventBatch",),
        optional=("subscriptionKey", "replayAfterOffset", "eventTypes", "events", "subscriber"),
    )
    replay = fields.get("replayAfterOffset")
    if replay is not None and not _is_int(replay):
        raise StreamRequestError('subscribe: "replayAfterOffset" must be an integer')
    raw_types = fields.get("eventTypes")
    event_types: frozenset[str] | None = None
    if raw_types is not None:
        if not isinstance(raw_types, list) or not all(isinstance(t, str) for t in raw_types):
            raise StreamRequestError('subscribe: "eventTypes" must be an array of strings')
        event_types = None if "*" in raw_types else frozenset(raw_types)
    events = fields.get("events", True)
    if not isinstance(events, bool):
        raise StreamRequestError('subscribe: "events" must be a boolean')
    subscriber = fields.get("subscriber")
    if subscriber is not None and not isinstance(subscriber, dict):
        raise StreamRequestError('subscribe: "subscriber" must be an object')
    return SubscribeArgs(
        process_event_batch=fields["processEventBatch"],
        subscription_key=_optional_str("subscribe", fields, "subscriptionKey"),
        replay_after_offset=replay,
        event_types=event_types,
        events=events,
        subscriber=subscriber,
    )


def parse_reduce(args: Any) -> ReduceArgs:
    fields = _object_argument("reduce", args, required=("event",), optional=("coreProcessorState",))
    event = validate_committed_event(fields["event"])
    state = fields.get("coreProcessorState")
    if state is not None and not isinstance(state, dict):
        raise StreamRequestError('reduce: "coreProcessorState" must be an object')
    return ReduceArgs(event, state)


def parse_no_arguments(method: str, args: Any) -> None:
    """Methods without parameters accept nothing, `undefined`, or an empty object."""
    if args is UNDEFINED or args is None or args == {}:
        return
    raise StreamRequestError(f"{method} takes no arguments")


def _object_argument(
    method: str,
    args: Any,
    *,
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
    allow_missing: bool = False,
) -> dict[str, Any]:
    if args is UNDEFINED or args is None:
        if allow_missing:
            return {}
        raise StreamRequestError(f"{method} expects one object argument")
    if not isinstance(args, dict):
        raise StreamRequestError(f"{method} expects one object argument")
    fields = {k: v for k, v in args.items() if v is not UNDEFINED and v is not None}
    unknown = fields.keys() - {*required, *optional}
    if unknown:
        raise StreamRequestError(f"{method}: unrecognized argument key(s) {_names(unknown)}")
    for name in required:
        if name not in fields:
            raise StreamRequestError(f'{method}: "{name}" is required')
    return fields


def _optional_str(method: str, fields: dict[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is not None and not isinstance(value, str):
        raise StreamRequestError(f'{method}: "{key}" must be a string')
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _names(keys: Any) -> str:
    return ", ".join(f'"{k}"' for k in sorted(keys))


def parse_subscribe_outbound(args: Any) -> SubscribeArgs:
    """`subscribeOutbound`: as `subscribe`, but the key is required and `events: false` is not
    offered (reference §2.2)."""
    fields = _object_argument(
        "subscribeOutbound",
        args,
        required=("processEventBatch",),
        optional=("subscriptionKey", "replayAfterOffset", "eventTypes", "subscriber"),
    )
    key = _optional_str("subscribeOutbound", fields, "subscriptionKey")
    if key is None or not key.strip():
        raise StreamRequestError("subscriptionKey must not be blank.")
    return parse_subscribe({**fields, "subscriptionKey": key.strip()})
