"""Qt widgets and models (PySide6). Talks to mirror, never to wire."""
