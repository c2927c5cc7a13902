"""PyInstaller runtime hook: the bundle holds PySide6 only, so a `QT_API` set in the user's
environment for other tools (e.g. `pyqt5`) must not send qasync looking for another binding."""

import os

if os.environ.get("QT_API", "").strip().lower() not in ("", "pyside6", "pyside"):
    os.environ["QT_API"] = "pyside6"
