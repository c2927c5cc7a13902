"""`python -m server`: the stream server on its own (same options as `streamdesk serve`)."""

import sys

from server.cli import main

sys.exit(main())
