"""Applying a call the peer made to a local value: property paths, method lookup, results of
nested references. Pure (no I/O, no event loop)."""

from __future__ import annotations

import inspect
from typing import Any, Final

from wire.errors import RemoteError
from wire.stubs import RemoteStub
from wire.tables import Pending

__all__ = ["apply_path", "replace_pendings"]

_MISSING: Final = object()


def apply_path(target: Any, path: list[str | int], args: list[Any] | None) -> Any:
    """Follow a property path on a local value and call it when `args` is given."""
    obj = target
    for i, seg in enumerate(path):
        if isinstance(obj, RemoteStub):
            stub = obj
            for rest in path[i:]:
                stub = stub[rest]
            return stub if args is None else stub(*args)
        if isinstance(obj, dict):
            if seg not in obj:
                raise RemoteError("TypeError", f"no property named {seg!r}")
            obj = obj[seg]
        elif isinstance(obj, list) and type(seg) is int:
            if not -len(obj) <= seg < len(obj):
                raise RemoteError("TypeError", f"index {seg} out of range")
            obj = obj[seg]
        else:
            obj = _get_method(obj, seg)
    if args is None:
        return obj
    if isinstance(obj, RemoteStub):
        return obj(*args)
    if not callable(obj):
        raise RemoteError("TypeError", f"'{'.'.join(map(str, path))}' is not a function")
    return obj(*args)


def _get_method(obj: Any, name: str | int) -> Any:
    # Like capnweb's RpcTarget rule: only what the class defines is reachable (methods and
    # properties), never instance attributes, and nothing private.
    if type(name) is not str or name.startswith("_") or inspect.isroutine(obj):
        raise RemoteError("TypeError", f"RPC target has no method named {name!r}")
    if inspect.getattr_static(type(obj), name, _MISSING) is _MISSING:
        raise RemoteError("TypeError", f"RPC target has no method named {name!r}")
    return getattr(obj, name)


def replace_pendings(value: Any, results: dict[int, Any]) -> Any:
    """Put each evaluated `Pending` (keyed by `id()`) in its place inside `value`."""
    t = type(value)
    if t is Pending:
        return results[id(value)]
    if t is dict:
        for k, v in value.items():
            if type(v) in (dict, list, Pending):
                value[k] = replace_pendings(v, results)
    elif t is list:
        for i, v in enumerate(value):
            if type(v) in (dict, list, Pending):
                value[i] = replace_pendings(v, results)
    elif isinstance(value, RemoteError) and value.props:
        replace_pendings(value.props, results)
    return value
