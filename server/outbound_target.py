"""`OutboundStreamRpcTarget`: the `stream` handed to a dialed subscriber in the handshake.

The public stream API plus `subscribeOutbound` (reference §2.1: only a dialed subscriber gets
this object; the public endpoint never exposes it). It is an `RpcTarget`, so over a WebSocket
dial it travels by reference and the subscriber's calls come back over that session.
"""

from typing import TYPE_CHECKING, Any

from server.errors import StreamRequestError
from server.outbound import OutboundManager
from server.rpc_target import StreamRpcTarget, _one_argument
from server.validation import parse_subscribe_outbound
from wire.codec import UNDEFINED, RpcTarget

if TYPE_CHECKING:
    from server.registry import StreamRegistry


class OutboundStreamRpcTarget(StreamRpcTarget, RpcTarget):
    def __init__(
        self, registry: "StreamRegistry", namespace: str, path: str, manager: OutboundManager
    ) -> None:
        super().__init__(registry, namespace, path)
        self._manager = manager

    def subscribeOutbound(self, *args: Any) -> dict[str, Any]:
        parsed = parse_subscribe_outbound(_one_argument("subscribeOutbound", args))
        callback = parsed.process_event_batch
        if not callable(callback):
            raise StreamRequestError('subscribeOutbound: "processEventBatch" must be a function')
        engine = self._engine()
        if engine.outbound is not self._manager:
            raise StreamRequestError("the stream incarnation that dialed this subscriber ended")
        assert parsed.subscription_key is not None
        connection = self._manager.open(
            parsed.subscription_key,
            callback,
            replay_after_offset=parsed.replay_after_offset,
            event_types=parsed.event_types,
            subscriber=parsed.subscriber,
            subscribe=engine.subscribe,
        )

        def unsubscribe(*_: Any) -> Any:
            engine.close_connection(connection, "unsubscribed")
            return UNDEFINED

        return {
            "subscriptionKey": connection.key,
            "streamMaxOffset": engine.max_offset,
            "unsubscribe": unsubscribe,
        }
