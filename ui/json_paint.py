"""Syntax colouring for JSON: a highlighter for editors and a painter for list rows."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontDatabase,
    QFontMetrics,
    QPainter,
    QPalette,
    QSyntaxHighlighter,
    QTextCharFormat,
    QTextDocument,
)
from PySide6.QtWidgets import QApplication

from ui.hit_paint import mark_hits
from ui.json_text import PrettyJson, TokenKind, tokenize_line

_LIGHT = {
    TokenKind.KEY: "#1f4e99",
    TokenKind.STRING: "#0b7a3e",
    TokenKind.NUMBER: "#a0522d",
    TokenKind.LITERAL: "#8b2fb0",
    TokenKind.PUNCTUATION: "#6b6b6b",
}
_DARK = {
    TokenKind.KEY: "#8ab4f8",
    TokenKind.STRING: "#81c995",
    TokenKind.NUMBER: "#f6ad7b",
    TokenKind.LITERAL: "#d7aefb",
    TokenKind.PUNCTUATION: "#a0a0a0",
}


def monospace_font() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


def token_colors(palette: QPalette | None = None) -> dict[TokenKind, QColor]:
    """Colours that read well on the palette's base colour (light or dark theme)."""
    palette = palette or QApplication.palette()
    dark = palette.color(QPalette.ColorRole.Base).lightness() < 128
    return {kind: QColor(value) for kind, value in (_DARK if dark else _LIGHT).items()}


class JsonHighlighter(QSyntaxHighlighter):
    """Colours JSON in a QPlainTextEdit line by line (JSON strings never span lines)."""

    def __init__(self, document: QTextDocument) -> None:
        super().__init__(document)
        self._formats: dict[TokenKind, QTextCharFormat] = {}
        for kind, color in token_colors().items():
            text_format = QTextCharFormat()
            text_format.setForeground(color)
            if kind is TokenKind.KEY:
                text_format.setFontWeight(QFont.Weight.DemiBold)
            self._formats[kind] = text_format

    def highlightBlock(self, text: str) -> None:
        for token in tokenize_line(text):
            self.setFormat(token.start, token.length, self._formats[token.kind])


def pretty_json_height(pretty: PrettyJson | None, font: QFont) -> int:
    """Pixels `paint_pretty_json` needs (one line while the JSON is still loading)."""
    lines = 1 if pretty is None else len(pretty.lines)
    return lines * QFontMetrics(font).lineSpacing()


def paint_pretty_json(
    painter: QPainter,
    rect: QRect,
    pretty: PrettyJson | None,
    font: QFont,
    colors: dict[TokenKind, QColor],
    plain: QColor,
    highlight: str = "",
) -> None:
    """Paint the lines that fall inside the painter's clip (a tall row is mostly off screen),
    hits of ``highlight`` marked."""
    metrics = QFontMetrics(font)
    painter.save()
    painter.setFont(font)
    if pretty is None:
        painter.setPen(plain)
        painter.drawText(QPoint(rect.left(), rect.top() + metrics.ascent()), "loading…")
        painter.restore()
        return
    line_height = metrics.lineSpacing()
    clip = painter.clipBoundingRect().toAlignedRect() if painter.hasClipping() else rect
    first = max(0, (clip.top() - rect.top()) // line_height)
    last = min(len(pretty.lines) - 1, (clip.bottom() - rect.top()) // line_height + 1)
    for number in range(first, last + 1):
        line = pretty.lines[number]
        baseline = rect.top() + number * line_height + metrics.ascent()
        mark_hits(painter, rect.left(), baseline, line, highlight)
        painter.setPen(plain)
        painter.drawText(QPoint(rect.left(), baseline), line)
        for token in pretty.tokens[number]:
            x = rect.left() + metrics.horizontalAdvance(line[: token.start])
            painter.setPen(colors[token.kind])
            painter.drawText(QPoint(x, baseline), line[token.start : token.start + token.length])
    painter.restore()
