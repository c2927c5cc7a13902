"""`ProcessorRunner`: the object a stream dials for its outbound subscriptions.

`requestStreamSubscription(handshake)` is the `rpcMethod` the configured callable names. The
handshake (reference §4.9) carries `stream` (a handle with `subscribeOutbound`, `append`, ...),
`subscriptionKey`, `streamRuntimeState.coreProcessorState` and, merged in by the callable's
`transformInput`, `processorName`. The runner takes the processor for (stream, processor,
key) with its durable checkpoint and calls `stream.subscribeOutbound` with that checkpoint as
`replayAfterOffset` and the processor's `consumes` as `eventTypes`. The same runner serves the
embedded server in-process (an env binding) and other servers over a Cap'n Web WebSocket
(`mirror.hosting.listener`).

One processor instance per (namespace, path, slug, key) lives as long as the runner: a re-dial
reuses it, so two connections never apply batches to one checkpoint at the same time.
"""

import logging
from collections.abc import Mapping
from typing import Any

from mirror.hosting.checkpoints import CheckpointFile
from mirror.hosting.hosted import HostedProcessor
from mirror.hosting.stream_calls import call_stream

logger = logging.getLogger(__name__)

ProcessorClass = type[HostedProcessor[Any]]
_Slot = tuple[str, str, str, str]


class ProcessorRunner:
    def __init__(
        self,
        processors: Mapping[str, ProcessorClass],
        checkpoints: CheckpointFile,
        *,
        default_processor: str | None = None,
    ) -> None:
        self._classes = dict(processors)
        self._checkpoints = checkpoints
        self._default = default_processor
        self._live: dict[_Slot, tuple[str, HostedProcessor[Any]]] = {}

    def processor(
        self, namespace: str, path: str, name: str, key: str
    ) -> HostedProcessor[Any] | None:
        """The live processor instance for a stream and key, if one was dialed."""
        found = self._live.get((namespace, path, name, key))
        return None if found is None else found[1]

    async def requestStreamSubscription(self, handshake: dict[str, Any]) -> dict[str, Any]:
        name = handshake.get("processorName") or self._default
        if not isinstance(name, str) or name not in self._classes:
            raise ValueError(f"this runner hosts no processor named {name!r}")
        stream = handshake["stream"]
        key = handshake["subscriptionKey"]
        core = handshake["streamRuntimeState"]["coreProcessorState"]
        processor = self._take(core["namespace"], core["path"], name, key, core["createdAt"])
        processor.attach(stream)
        processor.core_state = core
        checkpoint = (await processor.snapshot()).offset

        async def process_event_batch(batch: dict[str, Any]) -> None:
            processor.core_state = batch["state"]
            await processor.ingest(batch["events"], batch.get("streamMaxOffset"))

        request: dict[str, Any] = {
            "subscriptionKey": key,
            "processEventBatch": process_event_batch,
            "replayAfterOffset": checkpoint,
            "subscriber": {
                "description": f"{name} processor",
                "processor": processor.announcement(),
            },
        }
        if processor.consumes is not None:
            request["eventTypes"] = sorted(processor.consumes)
        await call_stream(stream, "subscribeOutbound", request)
        logger.info(
            "processor %s subscribed to %s:%s as %s after offset %d",
            name,
            core["namespace"],
            core["path"],
            key,
            checkpoint,
        )
        return {"subscriptionKey": key, "replayAfterOffset": checkpoint}

    def _take(
        self, namespace: str, path: str, name: str, key: str, incarnation: str
    ) -> HostedProcessor[Any]:
        slot = (namespace, path, name, key)
        found = self._live.get(slot)
        if found is not None and found[0] == incarnation:
            return found[1]
        storage = self._checkpoints.for_stream(namespace, path, incarnation)
        processor = self._classes[name](storage=storage, subscription_key=key)
        self._live[slot] = (incarnation, processor)
        return processor
