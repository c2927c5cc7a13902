"""Cap'n Web HTTP batch: one POST carries newline-separated messages, so does the response.

A batch session lives for one request: results must be pulled in the same batch, and the
server cannot call the client back afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx

from wire.errors import ConnectionClosed, HttpStatusError
from wire.session import DEFAULT_MAX_MESSAGE_SIZE, RemoteStub, RpcSession

__all__ = ["BatchCall", "handle_http_batch", "http_batch_call"]

logger = logging.getLogger(__name__)

# One call in a batch: (method, *args). `method` is a name or a property path on the main object.
BatchCall = tuple[Any, ...]


async def http_batch_call(
    url: str,
    calls: Sequence[BatchCall],
    *,
    token: str | None = None,
    client: httpx.AsyncClient | None = None,
    timeout: float | httpx.Timeout | None = None,  # noqa: ASYNC109 (httpx's own timeout)
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    return_exceptions: bool = False,
) -> list[Any]:
    """Make `calls` on the server's main object in one HTTP request; return their results.

    A rejected call raises its `RemoteError` (or, with `return_exceptions=True`, the error takes
    its place in the list). A non-200 answer raises `HttpStatusError` (401: missing or wrong
    token); a network failure raises `ConnectionClosed`.
    """
    session = RpcSession(None, max_message_size=max_message_size, buffered=True)
    promises = []
    for call in calls:
        if not call:
            raise ValueError("a batch call needs at least a method name")
        stub = _method_stub(session.main, call[0])
        promise = stub(*call[1:])
        promise.pull()
        promises.append(promise)
    body = "\n".join(session.take_outgoing())
    headers = {"Content-Type": "text/plain; charset=utf-8"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    own_client = client is None
    http = client or httpx.AsyncClient()
    try:
        kwargs: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        async with http.stream(
            "POST", url, content=body.encode(), headers=headers, **kwargs
        ) as response:
            status = response.status_code
            # Read into a buffer of our own: httpx keeps a response in a reference cycle, and
            # the copy it would keep of a page of megabytes would wait for the cycle collector.
            answer = b"".join([chunk async for chunk in response.aiter_bytes()])
    except httpx.HTTPError as exc:
        session.close()
        raise ConnectionClosed(f"HTTP batch request to {url} failed: {exc!r}", exc) from exc
    finally:
        if own_client:
            await http.aclose()
    if status != 200:
        session.close()
        detail = answer[:200].decode(errors="replace").strip()
        raise HttpStatusError(
            status,
            f"HTTP batch request to {url} failed: HTTP {status}"
            + (f": {detail}" if detail else ""),
        )
    # Bytes straight to the JSON parser: no decoded copy of the page.
    for line in answer.split(b"\n"):
        if line:
            session.receive(line)
    session.close(ConnectionClosed("HTTP batch ended before this call was answered"))
    results: list[Any] = []
    for promise in promises:
        try:
            results.append(await promise)
        except Exception as exc:
            if not return_exceptions:
                raise
            results.append(exc)
    return results


def _method_stub(main: RemoteStub, method: Any) -> RemoteStub:
    if isinstance(method, str):
        return main[method]
    stub = main
    for part in method:
        stub = stub[part]
    return stub


async def handle_http_batch(
    body: str, main: object, *, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
) -> str:
    """Serve one HTTP batch request body with `main`; return the response body.

    Answers every pulled call; calls nobody pulled keep running but their results are dropped.
    """
    session = RpcSession(main, max_message_size=max_message_size, buffered=True)
    for line in body.split("\n"):
        if session.is_closed:
            break
        if line:
            session.receive(line)
    await session.drain()
    out = session.take_outgoing()
    session.close(ConnectionClosed("HTTP batch request finished"))
    return "\n".join(out)
