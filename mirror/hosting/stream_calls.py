"""Calling a stream handle that is either a local object (the embedded server's in-process
`stream` target, whose methods return plain values) or a Cap'n Web stub (methods return
awaitables). Pure helpers, no I/O of their own."""

import inspect
from typing import Any, Final

PAUSED_PREFIX: Final = "stream paused"


async def call_stream(stream: Any, method: str, argument: dict[str, Any]) -> Any:
    """`stream.<method>(argument)`, awaited when the handle is remote."""
    result = getattr(stream, method)(argument)
    if inspect.isawaitable(result):
        return await result
    return result


def is_paused_error(error: BaseException) -> bool:
    """True for the refusal of an append by a paused stream (`stream paused: <reason>`), as
    raised locally, by a remote session (`RemoteError.message`) or by `StreamClient`."""
    message = getattr(error, "message", None)
    text = message if isinstance(message, str) else str(error)
    return text.startswith(PAUSED_PREFIX)
