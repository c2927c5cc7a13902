"""Is there a stream server at a URL that takes this token? One light call to find out.

Public API: ``await check_server(url, token, *, deadline=5.0) -> str | None``: None when the
server answered, else what went wrong (the wire client's text, for ``ui.pane_state`` to put in
words).
"""

from __future__ import annotations

import asyncio

from wire.stream_client import StreamClient

_PROBE_PATH = "/"


async def check_server(url: str, token: str | None, *, deadline: float = 5.0) -> str | None:
    try:
        async with (
            asyncio.timeout(deadline),
            StreamClient(url, _PROBE_PATH, token=token) as client,
        ):
            await client.runtime_state()
    except TimeoutError:
        return f"no answer within {deadline:g} s (timed out)"
    except Exception as error:
        return str(error) or type(error).__name__
    return None
