"""Marking search hits in painted text: where the hits are (pure) and painting a line with
them marked. ASCII-case-insensitive, like the search itself (mirror.search.store)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter

from mirror.search.store import ascii_lower

HIT_COLOR = QColor(255, 213, 79, 170)


def hit_spans(text: str, needle: str) -> list[tuple[int, int]]:
    """(start, end) of each non-overlapping occurrence of ``needle`` in ``text``."""
    if not needle:
        return []
    haystack, wanted = ascii_lower(text), ascii_lower(needle)
    spans: list[tuple[int, int]] = []
    start = haystack.find(wanted)
    while start >= 0:
        spans.append((start, start + len(wanted)))
        start = haystack.find(wanted, start + len(wanted))
    return spans


def mark_hits(painter: QPainter, left: int, baseline: int, text: str, needle: str) -> None:
    """Fill behind each hit of ``needle`` in ``text`` drawn from ``left`` on ``baseline`` in
    the painter's current font (call before drawing the text)."""
    spans = hit_spans(text, needle)
    if not spans:
        return
    metrics = QFontMetrics(painter.font())
    top = baseline - metrics.ascent()
    for start, end in spans:
        x = left + metrics.horizontalAdvance(text[:start])
        width = metrics.horizontalAdvance(text[start:end])
        painter.fillRect(QRect(x, top, width, metrics.height()), HIT_COLOR)


def paint_marked_text(
    painter: QPainter,
    rect: QRect,
    text: str,
    needle: str,
    font: QFont,
    color: QColor,
    *,
    right: bool = False,
) -> None:
    """``text`` elided to ``rect``, vertically centred, hits of ``needle`` marked."""
    metrics = QFontMetrics(font)
    shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, rect.width())
    left = rect.right() - metrics.horizontalAdvance(shown) if right else rect.left()
    baseline = rect.top() + (rect.height() - metrics.height()) // 2 + metrics.ascent()
    painter.save()
    painter.setFont(font)
    mark_hits(painter, left, baseline, shown, needle)
    painter.setPen(color)
    painter.drawText(QPoint(left, baseline), shown)
    painter.restore()
