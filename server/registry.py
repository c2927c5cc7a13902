"""The live streams of one server: an engine per (namespace, path), woken on first use.

Lifecycle (reference §5): the first request for a stream after server start, `kill` or `reset`
wakes it (`created` if its storage is empty, then `woken`). `kill` drops the live engine;
`reset` drops it and deletes its storage. `evict_idle` drops engines nobody is subscribed to and
nobody asked for in a while, the way the reference's Durable Objects are evicted when idle: the
next request wakes the stream again with a new `woken`. Without it a long-running server would
keep every stream it ever touched in memory, each with its SQLite connection and tail cache.
A stream created at a non-root path announces itself to every ancestor, root first
(`child-stream-created`, idempotent per ancestor and child).

One server owns a data directory at a time (a lock file), since each engine keeps the head of
its log in memory.
"""

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import filelock

from server.core_state import CHILD_STREAM_CREATED, WOKEN, ancestors
from server.engine import DEFAULT_DELIVERY_BATCH_LIMIT, StreamEngine
from server.errors import StreamRequestError
from server.outbound import Binding, OutboundManager
from server.outbound_policy import idle_teardown_seconds
from server.outbound_target import OutboundStreamRpcTarget
from server.storage import StreamStorage, delete_stream_files, stream_file

logger = logging.getLogger(__name__)

_LOCK_NAME: Final = "server.lock"


class DataDirInUse(RuntimeError):
    """Another server process already serves this data directory."""


class StreamRegistry:
    def __init__(
        self,
        data_dir: Path,
        *,
        delivery_batch_limit: int = DEFAULT_DELIVERY_BATCH_LIMIT,
        bindings: Mapping[str, Binding] | None = None,
        idle_teardown: float | None = None,
    ) -> None:
        """`bindings`: the env bindings outbound `workers-rpc` callables may name;
        `idle_teardown`: seconds (default: env `STREAM_IDLE_TEARDOWN_MS`, else 5 minutes)."""
        self.data_dir = Path(data_dir)
        self._delivery_batch_limit = delivery_batch_limit
        self._bindings = dict(bindings or {})
        self._idle_teardown = (
            idle_teardown_seconds(os.environ) if idle_teardown is None else idle_teardown
        )
        self._engines: dict[tuple[str, str], StreamEngine] = {}
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = filelock.FileLock(str(self.data_dir / _LOCK_NAME), timeout=0)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise DataDirInUse(
                f"another Streamdesk server is already using the data directory {self.data_dir}"
            ) from None
        self._closed = False

    def engine(self, namespace: str, path: str) -> StreamEngine:
        """The live engine of a stream, waking it if needed. `path` must be normalised."""
        if self._closed:
            raise StreamRequestError("the server is shutting down")
        key = (namespace, path)
        engine = self._engines.get(key)
        if engine is not None:
            engine.last_used = time.monotonic()
            return engine
        storage = StreamStorage(stream_file(self.data_dir, namespace, path), namespace, path)
        try:
            engine = StreamEngine.wake(
                namespace, path, storage, delivery_batch_limit=self._delivery_batch_limit
            )
        except BaseException:
            storage.close()
            raise
        self._engines[key] = engine
        self._attach_outbound(engine)
        if engine.created_on_wake:
            self._announce_to_ancestors(namespace, path)
        return engine

    def evict_idle(self, idle_for: float, now: float | None = None) -> int:
        """Shut down (no presence facts, as a kill) every engine without connections that no
        request asked for in the last `idle_for` seconds; returns how many."""
        now = time.monotonic() if now is None else now
        idle = [
            key
            for key, engine in self._engines.items()
            if not engine.has_connections and now - engine.last_used >= idle_for
        ]
        for key in idle:
            self._engines.pop(key).shutdown()
            logger.info("evicted idle stream %s:%s", *key)
        return len(idle)

    def live_engine(self, namespace: str, path: str) -> StreamEngine | None:
        return self._engines.get((namespace, path))

    def kill(self, namespace: str, path: str) -> None:
        """End the stream's incarnation; the next request wakes it with a new `woken`."""
        # Like any request, kill wakes a cold stream first (as the reference's DO would).
        self.engine(namespace, path)
        self._engines.pop((namespace, path)).shutdown()
        logger.info("killed stream %s:%s", namespace, path)

    def reset(self, namespace: str, path: str) -> None:
        """Delete all of the stream's storage and end its incarnation."""
        engine = self._engines.pop((namespace, path), None)
        if engine is not None:
            engine.destroy()
        else:
            delete_stream_files(stream_file(self.data_dir, namespace, path))
        logger.info("reset stream %s:%s", namespace, path)

    def close(self) -> None:
        """Shut every live engine down (no presence facts: their connections die with the
        server) and release the data directory."""
        if self._closed:
            return
        self._closed = True
        for engine in self._engines.values():
            engine.shutdown()
        self._engines.clear()
        self._lock.release()

    def _attach_outbound(self, engine: StreamEngine) -> None:
        namespace, path = engine.namespace, engine.path

        def make_target(manager: OutboundManager, key: str) -> object:
            return OutboundStreamRpcTarget(self, namespace, path, manager)

        engine.outbound = OutboundManager(
            engine,
            bindings=self._bindings,
            make_target=make_target,
            idle_teardown=self._idle_teardown,
        )
        # The `woken` just committed reconciles: configured subscribers are dialed now.
        engine.outbound.after_commit([{"type": WOKEN}])

    def _announce_to_ancestors(self, namespace: str, path: str) -> None:
        for ancestor in ancestors(path):
            announcement = {
                "type": CHILD_STREAM_CREATED,
                "payload": {"childPath": path},
                "idempotencyKey": f"child-stream-created:{ancestor}:{path}",
            }
            try:
                self.engine(namespace, ancestor).append(announcement)
            except StreamRequestError as exc:
                # Fire-and-forget in the reference: a paused ancestor just misses it.
                logger.warning("could not announce %s to %s: %s", path, ancestor, exc)
