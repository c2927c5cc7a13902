"""What the application holds of the peer's objects: `RemoteStub` and `RpcPromise`.

Both forward to the session (wire.session) that made them; they are `Handle`s, so passing one
back to the peer sends a reference to it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from wire.protocol import RpcProtocol
from wire.tables import Handle, Import, StubRef

if TYPE_CHECKING:
    import asyncio

    from wire.session import RpcSession

__all__ = ["RemoteStub", "RpcPromise"]


class RemoteStub(Handle):
    """A reference to an object the peer exports (its main object, a callback, ...).

    `stub.name` is a stub for a property (no traffic); `stub(args)` / `stub.name(args)` call it;
    `await stub.notify(args)` calls it without wanting the result; `stub.release()` drops our
    reference. Use `stub["name"]` for remote names that clash with these methods.
    """

    __slots__ = ("_path", "_ref", "_session")

    def __init__(self, session: RpcSession, ref: StubRef, path: tuple[str | int, ...]) -> None:
        self._session = session
        self._ref = ref
        self._path = path

    def __getattr__(self, name: str) -> RemoteStub:
        if name.startswith("_"):
            raise AttributeError(name)
        return RemoteStub(self._session, self._ref, (*self._path, name))

    def __getitem__(self, key: str | int) -> RemoteStub:
        return RemoteStub(self._session, self._ref, (*self._path, key))

    def __call__(self, *args: Any) -> RpcPromise:
        return self._session._call(self._ref, self._path, args)

    async def notify(self, *args: Any) -> None:
        """Fire-and-forget call (push + release, no pull); returns once the transport sent it."""
        await self._session._notify(self._ref, self._path, args)

    def release(self) -> None:
        """Drop this reference; the peer is told once every reference is gone."""
        self._session._release_ref(self._ref)

    @property
    def import_id(self) -> int:
        return self._ref.imp.id

    def _reference(self) -> tuple[RpcProtocol, Import, tuple[str | int, ...]]:
        return self._ref.protocol, self._ref.imp, self._path

    def __repr__(self) -> str:
        path = "".join(f".{p}" for p in self._path)
        return f"<RemoteStub {self._ref.imp.id}{path}>"


class RpcPromise(Handle):
    """The pending result of a call. Await it for the value; call methods on it to pipeline."""

    __slots__ = ("_future", "_imp", "_session")

    def __init__(self, session: RpcSession, imp: Import, future: asyncio.Future[Any]) -> None:
        self._session = session
        self._imp = imp
        self._future = future

    def __await__(self) -> Generator[Any, None, Any]:
        return self._session._await_import(self._imp, self._future).__await__()

    def __getattr__(self, name: str) -> RemoteStub:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, key: str | int) -> RemoteStub:
        protocol = self._session._protocol
        return RemoteStub(self._session, StubRef(protocol, self._imp, False), (key,))

    def pull(self) -> None:
        """Ask for the result now without waiting for it (used to fill an HTTP batch)."""
        self._session._pull(self._imp, self._future)

    def release(self) -> None:
        """Give up the result without awaiting it."""
        self._session._release_push(self._imp)

    @property
    def import_id(self) -> int:
        return self._imp.id

    def _reference(self) -> tuple[RpcProtocol, Import, tuple[str | int, ...]]:
        return self._session._protocol, self._imp, ()

    def __repr__(self) -> str:
        return f"<RpcPromise {self._imp.id}>"
