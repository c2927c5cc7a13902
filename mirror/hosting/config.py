"""The events that configure processors on a stream (pure builders).

`runner_subscription(...)` and `websocket_subscription(...)` build the
`events.iterate.com/stream/subscription-configured` event of an outbound subscription to the
embedded server's in-process runner (a `workers-rpc` env binding, as iterate's viewer
configures its built-in processors) or to a processor listening on a Cap'n Web WebSocket URL;
`circuit_breaker_configured(...)` builds the breaker's limits. All carry idempotency keys, so
applying the same configuration twice appends nothing new.
"""

from typing import Any, Final

SUBSCRIPTION_CONFIGURED: Final = "events.iterate.com/stream/subscription-configured"
RUNNER_BINDING: Final = "STREAM_PROCESSOR_RUNNER"
RUNNER_METHOD: Final = "requestStreamSubscription"
DEFAULT_RUNNER: Final = "runner-1"


def runner_subscription(
    processor_name: str, subscription_key: str, *, runner: str = DEFAULT_RUNNER
) -> dict[str, Any]:
    callable_ = {
        "type": "workers-rpc",
        "via": {
            "type": "env-binding",
            "bindingType": "durable-object-namespace",
            "bindingName": RUNNER_BINDING,
            "durableObject": {"name": runner},
        },
        "rpcMethod": RUNNER_METHOD,
        "argsMode": "object",
        "transformInput": {"shallowMerge": {"processorName": processor_name}},
    }
    return _configured(subscription_key, callable_)


def websocket_subscription(
    url: str, subscription_key: str, processor_name: str | None = None
) -> dict[str, Any]:
    callable_: dict[str, Any] = {
        "type": "capnweb-websocket",
        "url": url,
        "rpcMethod": RUNNER_METHOD,
        "argsMode": "object",
    }
    if processor_name is not None:
        callable_["transformInput"] = {"shallowMerge": {"processorName": processor_name}}
    return _configured(subscription_key, callable_)


def _configured(subscription_key: str, callable_: dict[str, Any]) -> dict[str, Any]:
    target = callable_.get("url") or callable_["via"]["durableObject"]["name"]
    merge = callable_.get("transformInput", {}).get("shallowMerge", {})
    return {
        "type": SUBSCRIPTION_CONFIGURED,
        "payload": {
            "subscriptionKey": subscription_key,
            "subscriber": {"type": "callable", "callable": callable_},
        },
        "idempotencyKey": (
            f"subscription-configured:{subscription_key}:{target}:{merge.get('processorName', '')}"
        ),
    }
