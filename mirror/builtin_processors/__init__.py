"""Built-in processors (`circuit-breaker`, `echo-example`) and the in-process runner binding the
embedded server is started with.

`builtin_bindings(checkpoint_file)` -> `{"STREAM_PROCESSOR_RUNNER": factory}` for
`EmbeddedServer(bindings=...)` (the app layer wires it: mirror and server never import each
other); the factory returns one `ProcessorRunner` per runner name, all sharing the file.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Final

from mirror.builtin_processors.circuit_breaker import CircuitBreaker
from mirror.builtin_processors.echo import EchoProcessor
from mirror.hosting.checkpoints import CheckpointFile
from mirror.hosting.config import RUNNER_BINDING
from mirror.hosting.runner import ProcessorClass, ProcessorRunner

BUILTIN_PROCESSORS: Final[dict[str, ProcessorClass]] = {
    CircuitBreaker.slug: CircuitBreaker,
    EchoProcessor.slug: EchoProcessor,
}
CHECKPOINT_FILE_NAME: Final = "processor-checkpoints.sqlite3"


def builtin_bindings(checkpoint_file: Path | str) -> dict[str, Callable[[str], object]]:
    checkpoints = CheckpointFile(checkpoint_file)
    runners: dict[str, ProcessorRunner] = {}

    def runner(name: str) -> object:
        if name not in runners:
            runners[name] = ProcessorRunner(BUILTIN_PROCESSORS, checkpoints)
        return runners[name]

    return {RUNNER_BINDING: runner}
