"""Loading a user's processor class from `module:Class` (`streamdesk processor run`)."""

import importlib
from typing import Any

from mirror.hosting.hosted import HostedProcessor
from mirror.processor import StreamProcessor


class ProcessorLoadError(ValueError):
    pass


def load_processor_class(spec: str) -> type[HostedProcessor[Any]]:
    """The class named by `module:Class` (module importable from the current directory or
    PYTHONPATH). A plain `StreamProcessor` subclass is mixed with `HostedProcessor`, so it can
    be hosted (and append side effects through `self.append`)."""
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ProcessorLoadError(f"expected module:Class, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ProcessorLoadError(f"cannot import {module_name}: {exc}") from exc
    found = getattr(module, class_name, None)
    if not isinstance(found, type) or not issubclass(found, StreamProcessor):
        raise ProcessorLoadError(f"{spec} is not a StreamProcessor subclass")
    if not found.slug:
        raise ProcessorLoadError(f"{spec} has no slug")
    if issubclass(found, HostedProcessor):
        return found
    hosted: type[HostedProcessor[Any]] = type(found.__name__, (found, HostedProcessor), {})
    return hosted
