"""The one error type the stream engine raises for a caller's mistake or a refused request.

Its message is the text the client sees (the wire layer sends it in a `reject`), so messages
follow the protocol's exact wording where the protocol pins one.
"""


class StreamRequestError(Exception):
    """A request the stream refuses: bad input, failed precondition, paused stream, ..."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
