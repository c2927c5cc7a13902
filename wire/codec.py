"""Cap'n Web expression codec (pure, no I/O).

Maps Python values to Cap'n Web expressions and back (PROTOCOL.md §7):

- `dict` ↔ JSON object, `list`/`tuple` → escaped array `[[...]]` (decoded as `list`),
- `UNDEFINED` ↔ `["undefined"]`, aware `datetime` ↔ `["date", ms]`, `bytes` ↔ `["bytes", b64]`,
- `BigInt` ↔ `["bigint", "digits"]`, non-finite floats ↔ `["inf"]`/`["-inf"]`/`["nan"]`,
- `RemoteError` (or any exception, when sent) ↔ `["error", type, message, stack?, props?]`,
- `orjson.Fragment` → sent as the JSON text it holds, which must already be an expression
  (JSON with no array is one: the server sends stored events that way).

The reference forms (`import`, `pipeline`, `export`, `promise`) belong to a session: the codec
hands them to `DecodeHooks` / `EncodeHooks`, and rejects them when no hooks are given.

`decode` is on the catch-up hot path (pages of thousands of events), so it works in place on the
freshly parsed JSON tree and only descends into lists and dicts.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from wire.errors import ProtocolError, RemoteError
from wire.values import UNDEFINED, BigInt, DecodeHooks, EncodeHooks, RpcTarget

__all__ = [
    "UNDEFINED",
    "BigInt",
    "DecodeHooks",
    "EncodeHooks",
    "ProtocolError",
    "RemoteError",
    "RpcTarget",
    "decode",
    "decode_args",
    "dumps",
    "encode",
    "encode_args",
    "encode_error",
    "loads",
]


MAX_BIGINT_DIGITS: Final = 16384
_INT64_MIN: Final = -(2**63)
_UINT64_MAX: Final = 2**64 - 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_BIGINT_RE: Final = re.compile(r"-?[0-9]+")
_BYTE_CONTAINERS: Final = frozenset(
    {
        "ArrayBuffer",
        "DataView",
        "Int8Array",
        "Uint8Array",
        "Uint8ClampedArray",
        "Int16Array",
        "Uint16Array",
        "Int32Array",
        "Uint32Array",
        "BigInt64Array",
        "BigUint64Array",
        "Float32Array",
        "Float64Array",
    }
)
_ERROR_TYPE_NAMES: Final = {TypeError: "TypeError", RecursionError: "RangeError"}


# --------------------------------------------------------------------------- JSON text


def dumps(value: Any) -> str:
    """Serialize an already-encoded expression or message to JSON text."""
    return orjson.dumps(value).decode()


def loads(text: str | bytes) -> Any:
    """Parse JSON text; malformed input raises `ProtocolError`."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"malformed JSON message: {exc}") from None


def _preview(value: Any, limit: int = 200) -> str:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


# --------------------------------------------------------------------------- decoding


def decode(expr: Any, hooks: DecodeHooks | None = None, *, arrays: int | None = None) -> Any:
    """Evaluate an expression into a Python value.

    `expr` is consumed: its lists and dicts are reused and modified in place (pass a freshly
    parsed tree). Invalid forms raise `ProtocolError`.

    `arrays`, when given, bounds the number of JSON arrays in `expr` (the `[` count of its
    text). Only arrays are ever rewritten, so an object with no array, or an escaped array whose
    items hold none, is its own value and is returned without a walk (a page of events).
    """
    t = type(expr)
    if arrays is not None:
        if t is dict and arrays == 0:
            return expr
        if t is list and arrays == 2 and len(expr) == 1 and type(expr[0]) is list:
            return expr[0]
    try:
        if t is list:
            return _dec_list(expr, hooks)
        if t is dict:
            _dec_dict(expr, hooks)
    except RecursionError:
        raise ProtocolError("expression nested too deeply") from None
    return expr


def decode_args(args: Any, hooks: DecodeHooks | None = None) -> list[Any]:
    """Evaluate a call's argument list (a plain JSON array of expressions, not escaped)."""
    if type(args) is not list:
        raise ProtocolError(f"call arguments must be an array, got {_preview(args)}")
    try:
        for i, x in enumerate(args):
            t = type(x)
            if t is list:
                args[i] = _dec_list(x, hooks)
            elif t is dict:
                _dec_dict(x, hooks)
    except RecursionError:
        raise ProtocolError("expression nested too deeply") from None
    return args


def _dec_dict(d: dict[str, Any], hooks: DecodeHooks | None) -> None:
    for k, v in d.items():
        t = type(v)
        if t is dict:
            _dec_dict(v, hooks)
        elif t is list:
            d[k] = _dec_list(v, hooks)


def _dec_list(v: list[Any], hooks: DecodeHooks | None) -> Any:
    if len(v) == 1 and type(v[0]) is list:
        inner: list[Any] = v[0]
        for i, x in enumerate(inner):
            t = type(x)
            if t is list:
                inner[i] = _dec_list(x, hooks)
            elif t is dict:
                _dec_dict(x, hooks)
        return inner
    if not v:
        raise ProtocolError("empty array is not a valid expression (arrays are sent as [[...]])")
    tag = v[0]
    handler = _SPECIAL.get(tag) if type(tag) is str else None
    if handler is None:
        raise ProtocolError(f"unknown special value: {_preview(v)}")
    return handler(v, hooks)


def _dec_undefined(v: list[Any], hooks: DecodeHooks | None) -> Any:
    if len(v) != 1:
        raise ProtocolError(f"invalid undefined form: {_preview(v)}")
    return UNDEFINED


def _dec_inf(v: list[Any], hooks: DecodeHooks | None) -> Any:
    if len(v) != 1:
        raise ProtocolError(f"invalid number form: {_preview(v)}")
    return _NONFINITE[v[0]]


_NONFINITE: Final = {"inf": float("inf"), "-inf": float("-inf"), "nan": float("nan")}


def _dec_date(v: list[Any], hooks: DecodeHooks | None) -> Any:
    if len(v) != 2:
        raise ProtocolError(f"invalid date form: {_preview(v)}")
    ms = v[1]
    if ms is None:
        # JavaScript's Invalid Date has no datetime equivalent.
        return None
    if type(ms) is not int and type(ms) is not float:
        raise ProtocolError(f"date milliseconds must be a number: {_preview(v)}")
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        raise ProtocolError(f"date out of range: {_preview(v)}") from None


def _dec_bytes(v: list[Any], hooks: DecodeHooks | None) -> Any:
    n = len(v)
    if n not in (2, 3) or type(v[1]) is not str:
        raise ProtocolError(f"invalid bytes form: {_preview(v)}")
    if n == 3 and v[2] not in _BYTE_CONTAINERS:
        raise ProtocolError(f"unknown bytes type marker: {_preview(v[2], 64)}")
    text: str = v[1]
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError(f"invalid base64 in bytes form: {_preview(v)}") from None


def _dec_bigint(v: list[Any], hooks: DecodeHooks | None) -> Any:
    if len(v) != 2 or type(v[1]) is not str or not _BIGINT_RE.fullmatch(v[1]):
        raise ProtocolError(f"invalid bigint form: {_preview(v)}")
    if len(v[1]) > MAX_BIGINT_DIGITS:
        raise ProtocolError(f"bigint exceeds {MAX_BIGINT_DIGITS} digits")
    try:
        return BigInt(v[1])
    except ValueError as exc:  # CPython's int-from-string digit limit
        raise ProtocolError(f"invalid bigint: {exc}") from None


def _dec_error(v: list[Any], hooks: DecodeHooks | None) -> Any:
    n = len(v)
    if n < 3 or n > 5 or type(v[1]) is not str or type(v[2]) is not str:
        raise ProtocolError(f"invalid error form: {_preview(v)}")
    stack = v[3] if n >= 4 else None
    if stack is not None and type(stack) is not str:
        raise ProtocolError(f"error stack must be a string or null: {_preview(v)}")
    props = None
    if n == 5:
        props = v[4]
        if type(props) is not dict:
            raise ProtocolError(f"error props must be an object: {_preview(v)}")
        _dec_dict(props, hooks)
    return RemoteError(v[1], v[2], stack, props)


def _dec_import(v: list[Any], hooks: DecodeHooks | None) -> Any:
    n = len(v)
    if n < 2 or n > 4 or type(v[1]) is not int:
        raise ProtocolError(f"invalid {v[0]} form: {_preview(v)}")
    path = None
    if n >= 3:
        path = v[2]
        if type(path) is not list or not all(type(p) is str or type(p) is int for p in path):
            raise ProtocolError(f"{v[0]} property path must be an array of names: {_preview(v)}")
    args = None
    if n == 4:
        args = v[3]
        if type(args) is not list:
            raise ProtocolError(f"{v[0]} call arguments must be an array: {_preview(v)}")
    if hooks is None:
        raise ProtocolError(f"reference form not allowed here: {_preview(v)}")
    return hooks.on_import(v[0], v[1], path, args)


def _dec_export(v: list[Any], hooks: DecodeHooks | None) -> Any:
    if len(v) != 2 or type(v[1]) is not int:
        raise ProtocolError(f"invalid {v[0]} form: {_preview(v)}")
    if v[1] >= 0:
        raise ProtocolError(f"{v[0]} id must be negative (chosen by the exporter), got {v[1]}")
    if hooks is None:
        raise ProtocolError(f"reference form not allowed here: {_preview(v)}")
    return hooks.on_export(v[1]) if v[0] == "export" else hooks.on_promise(v[1])


def _dec_unsupported(v: list[Any], hooks: DecodeHooks | None) -> Any:
    raise ProtocolError(f"unsupported special value {v[0]!r}: {_preview(v)}")


_SPECIAL: Final[dict[str, Callable[[list[Any], DecodeHooks | None], Any]]] = {
    "undefined": _dec_undefined,
    "inf": _dec_inf,
    "-inf": _dec_inf,
    "nan": _dec_inf,
    "date": _dec_date,
    "bytes": _dec_bytes,
    "bigint": _dec_bigint,
    "error": _dec_error,
    "import": _dec_import,
    "pipeline": _dec_import,
    "export": _dec_export,
    "promise": _dec_export,
    **{
        name: _dec_unsupported
        for name in (
            "remap",
            "url",
            "headers",
            "request",
            "response",
            "blob",
            "writable",
            "readable",
            "map",
            "set",
            "regexp",
        )
    },
}


# --------------------------------------------------------------------------- encoding


def encode(value: Any, hooks: EncodeHooks | None = None) -> Any:
    """Turn a Python value into an expression (a JSON-compatible tree).

    Objects that travel by reference (functions, `RpcTarget`s, remote stubs) need `hooks`;
    without them, or for any other unsupported type, `TypeError` is raised.
    """
    try:
        return _enc(value, hooks)
    except RecursionError:
        raise TypeError("value nested too deeply (does it contain a cycle?)") from None


def encode_args(args: tuple[Any, ...] | list[Any], hooks: EncodeHooks | None = None) -> list[Any]:
    """Encode a call's argument list (sent as a plain JSON array of expressions)."""
    try:
        return [_enc(a, hooks) for a in args]
    except RecursionError:
        raise TypeError("value nested too deeply (does it contain a cycle?)") from None


def encode_error(exc: BaseException, hooks: EncodeHooks | None = None) -> list[Any]:
    """`["error", type, message, stack?, props?]` for an exception (no stack for local ones)."""
    if isinstance(exc, RemoteError):
        out: list[Any] = ["error", exc.type, exc.message]
        if exc.props:
            props = {}
            for k, v in exc.props.items():
                try:
                    props[str(k)] = _enc(v, hooks)
                except TypeError:
                    continue  # like the reference: unrepresentable props are dropped
            out.append(exc.stack)
            out.append(props)
        elif exc.stack is not None:
            out.append(exc.stack)
        return out
    name = "Error"
    for cls, js_name in _ERROR_TYPE_NAMES.items():
        if isinstance(exc, cls):
            name = js_name
            break
    return ["error", name, str(exc) or type(exc).__name__]


def _enc(v: Any, hooks: EncodeHooks | None) -> Any:
    t = type(v)
    if t is str or t is bool or v is None:
        return v
    if t is int:
        return v if _INT64_MIN <= v <= _UINT64_MAX else ["bigint", str(v)]
    if t is dict:
        return _enc_dict(v, hooks)
    if t is list or t is tuple:
        return [[_enc(x, hooks) for x in v]]
    if t is orjson.Fragment:
        return v
    if t is float:
        if v != v:
            return ["nan"]
        if v == _INF:
            return ["inf"]
        if v == _NINF:
            return ["-inf"]
        return v
    return _enc_other(v, hooks)


_INF: Final = float("inf")
_NINF: Final = float("-inf")


def _enc_dict(d: dict[Any, Any], hooks: EncodeHooks | None) -> dict[str, Any]:
    # Copy-on-change: most event dicts need no rewriting, so they are sent as they are.
    out: dict[str, Any] | None = None
    for k, v in d.items():
        if type(k) is not str:
            if not isinstance(k, str):
                raise TypeError(f"object keys must be strings, got {type(k).__name__}")
            if out is None:
                out = dict(d)
            del out[k]
            out[str(k)] = v
        t = type(v)
        if t is str or t is bool or v is None:
            continue
        if t is int and _INT64_MIN <= v <= _UINT64_MAX:
            continue
        e = _enc(v, hooks)
        if e is not v:
            if out is None:
                out = dict(d)
            out[str(k)] = e
    return d if out is None else out


def _enc_other(v: Any, hooks: EncodeHooks | None) -> Any:
    if v is UNDEFINED:
        return ["undefined"]
    if isinstance(v, BigInt):
        return ["bigint", str(int(v))]
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int):
        return _enc(int(v), hooks)
    if isinstance(v, float):
        return _enc(float(v), hooks)
    if isinstance(v, str):
        return str(v)
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=UTC)  # naive datetimes are taken as UTC
        return ["date", (v - _EPOCH) // _MS]
    if isinstance(v, bytes | bytearray | memoryview):
        return ["bytes", base64.b64encode(bytes(v)).rstrip(b"=").decode("ascii")]
    if isinstance(v, BaseException):
        return encode_error(v, hooks)
    if isinstance(v, dict):
        return _enc_dict(v, hooks)
    if isinstance(v, list | tuple):
        return [[_enc(x, hooks) for x in v]]
    if hooks is not None:
        return hooks.encode_ref(v)
    if isinstance(v, RpcTarget) or callable(v):
        raise TypeError(f"cannot send {type(v).__name__} by reference outside a session")
    raise TypeError(f"cannot serialize value of type {type(v).__name__}")
