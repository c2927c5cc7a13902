"""`python -m server`: the stream server on its own (same options as `streamdesk serve`)."""

import sys

from server.cli import main

if __name__ == "__main__":
    sys.exit(main())
