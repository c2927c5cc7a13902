"""PyInstaller entry script: the frozen `streamdesk` binary runs the same `app.cli:main` as the
`streamdesk` console script."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
