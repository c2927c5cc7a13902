"""`HostedProcessor`: a `StreamProcessor` that runs in a host and appends side effects.

A host attaches the stream handle (`attach`) and keeps `core_state` up to date with each
delivered batch's `state`. Side effects are appends through `append` / `append_batch`; give each
an idempotency key derived from the event that caused it (`effect_key`), so a batch re-applied
after a crash (its checkpoint was not written yet) appends nothing twice.
"""

from typing import Any, ClassVar, TypeVar

from mirror.errors import ProcessorNotReadyError
from mirror.hosting.stream_calls import call_stream
from mirror.processor import StateStorage, StreamProcessor
from mirror.types import Event

S = TypeVar("S")


class HostedProcessor(StreamProcessor[S]):
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    emits: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, storage: StateStorage | None = None, subscription_key: str = "") -> None:
        super().__init__(storage=storage, subscription_key=subscription_key)
        self._stream: Any = None
        self.core_state: dict[str, Any] = {}
        """The stream's core state from the batch being processed (`paused`, ...)."""

    def attach(self, stream: Any) -> None:
        """The handle side effects are appended through (local target or remote stub)."""
        self._stream = stream

    def effect_key(self, event: Event, name: str = "") -> str:
        """An idempotency key for a side effect of `event` (stable across re-deliveries)."""
        suffix = f":{name}" if name else ""
        return f"{self.slug}:{self.subscription_key}:{event['offset']}{suffix}"

    async def append(self, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await call_stream(
            self._require_stream(), "append", {"event": self._sourced(event)}
        )
        return result

    async def append_batch(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not events:
            return []
        result: list[dict[str, Any]] = await call_stream(
            self._require_stream(), "appendBatch", {"events": [self._sourced(e) for e in events]}
        )
        return result

    def announcement(self) -> dict[str, Any]:
        """The contract announced on `subscriber-connected` (reference §4.7)."""
        return {
            "slug": self.slug,
            "version": self.version,
            "description": self.description,
            "consumes": sorted(self.consumes) if self.consumes is not None else ["*"],
            "emits": list(self.emits),
            "ownedEvents": [{"type": t} for t in self.emits],
        }

    def _sourced(self, event: dict[str, Any]) -> dict[str, Any]:
        if "source" in event:
            return event
        return {**event, "source": {"processor": {"slug": self.slug, "version": self.version}}}

    def _require_stream(self) -> Any:
        if self._stream is None:
            raise ProcessorNotReadyError(f"processor {self.slug!r} is not attached to a stream")
        return self._stream
