"""Exceptions of the wire layer (Cap'n Web sessions and transports)."""

from __future__ import annotations

from typing import Any


class RpcError(Exception):
    """Base class of every error raised by the wire layer."""


class ProtocolError(RpcError):
    """A message or expression does not follow the Cap'n Web protocol."""


class ConnectionClosed(RpcError):
    """The session ended (transport closed, peer aborted, or closed locally).

    Every call still pending on the session fails with this error; `reason` holds the underlying
    cause (a transport exception, the peer's abort error, a `ProtocolError`, ...) when known.
    """

    def __init__(self, message: str, reason: BaseException | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class MessageTooLarge(RpcError):
    """A message exceeds the session's size limit."""


class HttpStatusError(RpcError):
    """The HTTP endpoint answered with a non-success status (e.g. 401 before any RPC)."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code


class RemoteError(RpcError):
    """An error value from the peer: `["error", type, message, stack?, props?]`.

    Raised when a call is rejected; also the decoded form of an error inside a value.
    """

    def __init__(
        self,
        type: str,
        message: str,
        stack: str | None = None,
        props: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.stack = stack
        self.props = props

    def __str__(self) -> str:
        return self.message if self.type == "Error" else f"{self.type}: {self.message}"

    def __repr__(self) -> str:
        return f"RemoteError({self.type!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RemoteError):
            return NotImplemented
        return (self.type, self.message, self.stack, self.props) == (
            other.type,
            other.message,
            other.stack,
            other.props,
        )

    def __hash__(self) -> int:
        return hash((self.type, self.message))
