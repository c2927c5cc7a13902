"""Render packaging/icons/streamdesk.svg to the PNG and ICO files the installers use.

The rendered files are committed; run this again only after changing the SVG:
`.venv/bin/python packaging/make_icon.py` (renders offscreen, no display needed).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parent / "icons"
SVG = ICONS / "streamdesk.svg"
PNG_SIZE = 256


def render(size: int) -> QImage:
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"cannot parse {SVG}")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QGuiApplication(sys.argv[:1])
    image = render(PNG_SIZE)
    # Windows scales a single 256 px ICO entry down well enough for an application icon.
    for name in ("streamdesk.png", "streamdesk.ico"):
        # Qt picks the format from the suffix.
        if not image.save(str(ICONS / name)):
            raise SystemExit(f"cannot write {ICONS / name} (no Qt image plugin for it?)")
    app.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
