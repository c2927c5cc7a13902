"""The callable shapes an outbound subscription may name, and their validation. Pure.

`events.iterate.com/stream/subscription-configured` carries `subscriber: {type: "callable",
callable}` (reference server-protocol.md §4.9). This server can reach two kinds of callable:

- `workers-rpc` via an `env-binding`: an object the server was started with
  (`EmbeddedServer(bindings={name: factory})`, the equivalent of iterate's Durable Object
  namespace binding to a runner); `durableObject.name` picks the instance.
- `capnweb-websocket`: a Cap'n Web WebSocket URL (`ws://` or `wss://`) of a processor in another
  process; the server dials it and calls `rpcMethod` on the peer's main object.

Both take `rpcMethod`, `argsMode: "object"` (the only mode: one object argument) and optional
`transformInput: {shallowMerge: {...}}`. Anything else is refused when appended, as the reference
refuses its historical subscriber shapes.
"""

import enum
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

WORKERS_RPC: Final = "workers-rpc"
CAPNWEB_WEBSOCKET: Final = "capnweb-websocket"
ENV_BINDING: Final = "env-binding"


class CallableKind(enum.Enum):
    BINDING = WORKERS_RPC
    WEBSOCKET = CAPNWEB_WEBSOCKET


class CallableError(ValueError):
    """The callable descriptor is not one this server supports."""


@dataclass(frozen=True, slots=True)
class CallableSpec:
    kind: CallableKind
    rpc_method: str
    binding_name: str = ""
    object_name: str = ""
    url: str = ""
    merge: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """For logs: where the callable points (never headers or tokens; a URL's query and
        credentials are dropped)."""
        if self.kind is CallableKind.BINDING:
            return f"binding {self.binding_name}[{self.object_name}].{self.rpc_method}"
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}:{parts.port}{parts.path} {self.rpc_method}"


def parse_callable(value: Any) -> CallableSpec:
    """The spec of a callable descriptor; raises `CallableError` naming what is wrong."""
    if not isinstance(value, dict):
        raise CallableError('"subscriber.callable" must be an object')
    kind = value.get("type")
    if kind not in (WORKERS_RPC, CAPNWEB_WEBSOCKET):
        raise CallableError(
            f'unsupported "subscriber.callable.type" {kind!r}: this server reaches '
            f'"{WORKERS_RPC}" (env-binding) and "{CAPNWEB_WEBSOCKET}" callables'
        )
    rpc_method = value.get("rpcMethod")
    if not isinstance(rpc_method, str) or not rpc_method or rpc_method.startswith("_"):
        raise CallableError('"subscriber.callable.rpcMethod" must be a public method name')
    if value.get("argsMode", "object") != "object":
        raise CallableError('"subscriber.callable.argsMode" must be "object"')
    merge = _shallow_merge(value.get("transformInput"))
    if kind == WORKERS_RPC:
        via = value.get("via")
        if not isinstance(via, dict) or via.get("type") != ENV_BINDING:
            raise CallableError('"subscriber.callable.via" must be {type: "env-binding", ...}')
        binding = via.get("bindingName")
        if not isinstance(binding, str) or not binding:
            raise CallableError('"subscriber.callable.via.bindingName" must be a non-empty string')
        durable_object = via.get("durableObject", {})
        name = durable_object.get("name", "") if isinstance(durable_object, dict) else None
        if not isinstance(name, str):
            raise CallableError('"subscriber.callable.via.durableObject.name" must be a string')
        return CallableSpec(CallableKind.BINDING, rpc_method, binding, name, merge=merge)
    url = value.get("url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("ws", "wss"):
        raise CallableError('"subscriber.callable.url" must be a ws:// or wss:// URL')
    if not urlsplit(url).hostname:
        raise CallableError('"subscriber.callable.url" has no host')
    return CallableSpec(CallableKind.WEBSOCKET, rpc_method, url=url, merge=merge)


def handshake_argument(spec: CallableSpec, handshake: dict[str, Any]) -> dict[str, Any]:
    """The one object argument of the dispatch: the handshake, then `shallowMerge` on top."""
    return {**handshake, **spec.merge}


def _shallow_merge(transform: Any) -> dict[str, Any]:
    if transform is None:
        return {}
    if not isinstance(transform, dict) or set(transform) - {"shallowMerge"}:
        raise CallableError('"subscriber.callable.transformInput" must be {shallowMerge: {...}}')
    merge = transform.get("shallowMerge", {})
    if not isinstance(merge, dict):
        raise CallableError('"subscriber.callable.transformInput.shallowMerge" must be an object')
    return merge
