"""Entry points and wiring: the streamdesk command, settings, the qasync loop."""
