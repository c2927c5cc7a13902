"""The values the Cap'n Web codec gives meaning to beyond JSON, and the hooks a session plugs
into it (pure). ``wire.codec`` re-exports all of them; import them from there.

- ``UNDEFINED``: JavaScript ``undefined`` (distinct from ``None``, JSON ``null``).
- ``BigInt``: an ``int`` that travels as ``["bigint", "digits"]``.
- ``RpcTarget``: base class of objects passed by reference.
- ``DecodeHooks`` / ``EncodeHooks``: what a session supplies for the reference forms.
"""

from __future__ import annotations

from typing import Any, Final, Protocol


class _Undefined:
    """JavaScript `undefined` (distinct from `None`, which is JSON `null`)."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()


class BigInt(int):
    """A JavaScript `bigint`: an `int` that travels as `["bigint", "digits"]`."""

    def __repr__(self) -> str:
        return f"BigInt({int(self)})"


class RpcTarget:
    """Base class for objects passed by reference: the peer gets a stub, not a copy.

    Public methods (names not starting with `_`) are callable by the peer.
    """


class DecodeHooks(Protocol):
    """What a session supplies to turn reference forms into live objects."""

    def on_import(self, kind: str, id: int, path: list[str | int] | None, args: Any) -> Any:
        """`["import"|"pipeline", id, path?, args?]`: an entry of the receiver's export table."""

    def on_export(self, id: int) -> Any:
        """`["export", id]`: a stub the sender exports."""

    def on_promise(self, id: int) -> Any:
        """`["promise", id]`: a promise the sender exports and will resolve."""


class EncodeHooks(Protocol):
    """What a session supplies to send objects by reference."""

    def encode_ref(self, value: object) -> Any:
        """Return the expression for `value` (e.g. `["export", -1]`) or raise `TypeError`."""
