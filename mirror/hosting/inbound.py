"""Hosting a processor over an inbound subscription (the processor dials the stream).

`run_inbound(make_processor, client, checkpoints, stop)` loops until `stop` is set: read the
stream's incarnation (`runtimeState`), take the processor of that incarnation (a reset starts a
fresh one whose checkpoint reads as empty), subscribe with its checkpoint as
`replayAfterOffset` and its `consumes` as `eventTypes`, and apply each delivery. Deliveries are
fire-and-forget on the server, so a failed batch is healed here: the subscription is dropped
and, after `mirror.backoff.ingest_backoff_delay`, resubscribed from the durable checkpoint. A
closed session resubscribes after `reconnect_delay(CLOSED)`.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from mirror.backoff import IngestBackoff, ReconnectCause, reconnect_delay
from mirror.hosting.checkpoints import CheckpointFile
from mirror.hosting.hosted import HostedProcessor
from wire.stream_client import StreamClient, StreamError

logger = logging.getLogger(__name__)

MakeProcessor = Callable[[Any], HostedProcessor[Any]]


class ClientStream:
    """The stream handle a processor appends through, over `StreamClient` (HTTP batch)."""

    def __init__(self, client: StreamClient) -> None:
        self._client = client

    async def append(self, argument: dict[str, Any]) -> Any:
        return await self._client.append(argument["event"])

    async def appendBatch(self, argument: dict[str, Any]) -> Any:
        return await self._client.append_batch(argument["events"])


async def run_inbound(
    make_processor: MakeProcessor,
    client: StreamClient,
    checkpoints: CheckpointFile,
    stop: asyncio.Event,
    *,
    subscription_key: str,
) -> None:
    """`make_processor(storage)` builds the processor for one incarnation's checkpoints."""
    backoff = IngestBackoff()
    current: tuple[str, HostedProcessor[Any]] | None = None
    while not stop.is_set():
        delay = reconnect_delay(ReconnectCause.CLOSED)
        try:
            core = (await client.runtime_state())["coreProcessorState"]
            if current is None or current[0] != core["createdAt"]:
                storage = checkpoints.for_stream(client.namespace, client.path, core["createdAt"])
                current = (core["createdAt"], make_processor(storage))
                current[1].attach(ClientStream(client))
            processor = current[1]
            failed = await _subscribe_once(processor, client, stop, subscription_key)
            if failed:
                delay = backoff.record_failure()
        except StreamError as exc:
            logger.warning("processor %s: %s", subscription_key, exc.message)
            delay = reconnect_delay(ReconnectCause.CONNECT_FAILED)
        if not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)


async def _subscribe_once(
    processor: HostedProcessor[Any],
    client: StreamClient,
    stop: asyncio.Event,
    subscription_key: str,
) -> bool:
    """One subscription until the session ends, a batch fails (returns True) or `stop`."""
    failed = asyncio.Event()
    checkpoint = (await processor.snapshot()).offset

    async def on_batch(batch: dict[str, Any]) -> None:
        if failed.is_set():
            return
        processor.core_state = batch.get("state") or {}
        try:
            await processor.ingest(batch["events"], batch.get("streamMaxOffset"))
        except Exception:
            logger.exception("processor %s: applying a batch failed", processor.slug)
            failed.set()

    subscription = await client.subscribe(
        on_batch,
        replay_after_offset=checkpoint,
        subscription_key=subscription_key,
        event_types=sorted(processor.consumes) if processor.consumes is not None else None,
        subscriber={
            "description": f"{processor.slug} processor",
            "processor": processor.announcement(),
        },
    )
    logger.info("processor %s subscribed after offset %d", processor.slug, checkpoint)
    waiters: list[asyncio.Future[Any]] = [
        asyncio.ensure_future(stop.wait()),
        asyncio.ensure_future(failed.wait()),
        asyncio.ensure_future(asyncio.shield(subscription.closed)),
    ]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await subscription.unsubscribe()
    return failed.is_set()
