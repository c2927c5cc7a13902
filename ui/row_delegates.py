"""Painting rows of the raw events list and the event feed, collapsed or expanded to JSON."""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from mirror.runtime import FeedRow
from ui.event_model import PREVIEW_COLUMN, RawEventsModel
from ui.feed_model import LIFECYCLE_COMPONENTS, FeedModel, feed_row_type
from ui.hit_paint import paint_marked_text
from ui.json_paint import monospace_font, paint_pretty_json, pretty_json_height, token_colors
from ui.json_text import PrettyJson
from ui.labels import (
    CHILD_STREAM_COMPONENT,
    counted,
    lifecycle_label,
    offset_range_label,
)
from ui.stream_list_view import StreamListView

AnyIndex = QModelIndex | QPersistentModelIndex
_JSON_INDENT = 28
_PAD = 8
LIFECYCLE_COLOR = QColor("#7c3aed")


def _disclosure(expanded: bool) -> str:
    return "▾" if expanded else "▸"


class _JsonRowDelegate(QStyledItemDelegate):
    """Shared parts: the expanded height and the JSON block under a row's first line."""

    def __init__(self, view: StreamListView) -> None:
        super().__init__(view)
        self._view = view
        self._mono = monospace_font()
        self._colors = token_colors()

    def expanded_height(self, pretty: PrettyJson | None) -> int:
        return self._view.row_height + pretty_json_height(pretty, self._mono) + _PAD

    def _paint_background(
        self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex, rect: QRect
    ) -> None:
        styled = QStyleOptionViewItem(option)
        self.initStyleOption(styled, index)
        styled.text = ""
        styled.rect = rect
        style = self._view.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, styled, painter, self._view)

    def _paint_json(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        pretty: PrettyJson | None,
        highlight: str = "",
    ) -> None:
        top = option.rect.top() + self._view.row_height
        area = QRect(option.rect.left(), top, option.rect.width(), option.rect.bottom() - top + 1)
        painter.fillRect(area, option.palette.color(QPalette.ColorRole.AlternateBase))
        text_rect = area.adjusted(_JSON_INDENT, _PAD // 2, -_PAD, 0)
        painter.save()
        painter.setClipRect(area.intersected(option.rect))
        paint_pretty_json(
            painter,
            text_rect,
            pretty,
            self._mono,
            self._colors,
            option.palette.color(QPalette.ColorRole.Text),
            highlight,
        )
        painter.restore()

    def _meta_rect(self, option: QStyleOptionViewItem) -> QRect:
        return QRect(
            option.rect.left(), option.rect.top(), option.rect.width(), self._view.row_height
        )

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        return QSize(super().sizeHint(option, index).width(), self._view.row_height)


class RawRowDelegate(_JsonRowDelegate):
    def __init__(self, view: StreamListView, model: RawEventsModel) -> None:
        super().__init__(view)
        self._model = model

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        row = index.row()
        expanded = self._model.is_row_expanded(row)
        if not (expanded and self._view.is_row_tall(row)):
            if self._model.highlight and index.column() in (1, PREVIEW_COLUMN):
                self._paint_marked_cell(painter, option, index)
                return
            super().paint(painter, option, index)
            if index.column() == 0 and self._model.event_at(row) is not None:
                self._paint_disclosure(painter, option.rect, expanded, option)
            return
        meta = self._meta_rect(option)
        self._paint_background(painter, option, index, meta)
        header = self._view.horizontalHeader()
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        painter.save()
        painter.setPen(option.palette.color(role))
        for column in range(self._model.columnCount()):
            cell = QRect(
                header.sectionViewportPosition(column),
                meta.top(),
                header.sectionSize(column),
                meta.height(),
            ).adjusted(4, 0, -4, 0)
            text = str(self._model.data(self._model.index(row, column)) or "")
            font = self._mono if column != 1 else option.font
            painter.setFont(font)
            align = Qt.AlignmentFlag.AlignVCenter | (
                Qt.AlignmentFlag.AlignRight if column == 0 else Qt.AlignmentFlag.AlignLeft
            )
            if self._model.highlight and column in (1, PREVIEW_COLUMN):
                paint_marked_text(
                    painter, cell, text, self._model.highlight, font, painter.pen().color()
                )
                continue
            elided = QFontMetrics(font).elidedText(text, Qt.TextElideMode.ElideRight, cell.width())
            painter.drawText(cell, align, elided)
        painter.restore()
        self._paint_disclosure(painter, meta, True, option)
        self._paint_json(painter, option, self._model.pretty_for_row(row), self._model.highlight)

    def _paint_marked_cell(
        self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex
    ) -> None:
        """A type or preview cell with the search text's hits marked."""
        self._paint_background(painter, option, index, option.rect)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        font = self._mono if index.column() != 1 else option.font
        text = str(self._model.data(index) or "")
        cell = option.rect.adjusted(4, 0, -4, 0)
        paint_marked_text(
            painter, cell, text, self._model.highlight, font, option.palette.color(role)
        )

    def _paint_disclosure(
        self, painter: QPainter, rect: QRect, expanded: bool, option: QStyleOptionViewItem
    ) -> None:
        painter.save()
        painter.setPen(option.palette.color(QPalette.ColorRole.PlaceholderText))
        area = QRect(rect.left() + 4, rect.top(), 14, self._view.row_height)
        painter.drawText(area, Qt.AlignmentFlag.AlignCenter, _disclosure(expanded))
        painter.restore()


class FeedRowDelegate(_JsonRowDelegate):
    """Group rows, lifecycle markers and child-stream cards."""

    openChild = Signal(str)

    def __init__(self, view: StreamListView, model: FeedModel, stream_path: str) -> None:
        super().__init__(view)
        self._model = model
        self._stream_path = stream_path
        self._bold = QFont(view.font())
        self._bold.setBold(True)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        row = index.row()
        item = self._model.item_at(row)
        expanded = self._model.is_row_expanded(row) and self._view.is_row_tall(row)
        meta = self._meta_rect(option)
        self._paint_background(painter, option, index, meta)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        text_color = option.palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        muted = option.palette.color(QPalette.ColorRole.PlaceholderText)
        painter.save()
        if item is None:
            painter.setPen(muted)
            painter.drawText(meta.adjusted(8, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, "…")
        elif item.component in LIFECYCLE_COMPONENTS:
            self._paint_lifecycle(painter, meta, item)
        elif item.component == CHILD_STREAM_COMPONENT:
            self._paint_child_card(painter, meta, item, text_color)
        else:
            self._paint_group(painter, meta, item, expanded, text_color, muted)
        painter.restore()
        if expanded:
            self._paint_json(
                painter, option, self._model.pretty_for_row(row), self._model.highlight
            )

    def _paint_group(
        self,
        painter: QPainter,
        rect: QRect,
        item: FeedRow,
        expanded: bool,
        text_color: QColor,
        muted: QColor,
    ) -> None:
        inner = rect.adjusted(6, 0, -10, 0)
        painter.setPen(muted)
        painter.drawText(
            QRect(inner.left(), inner.top(), 14, inner.height()),
            Qt.AlignmentFlag.AlignCenter,
            _disclosure(expanded),
        )
        painter.setFont(self._mono)
        offsets = QRect(inner.left() + 18, inner.top(), 120, inner.height())
        painter.setPen(text_color)
        painter.drawText(
            offsets,
            Qt.AlignmentFlag.AlignVCenter,
            offset_range_label(item.first_offset, item.last_offset),
        )
        painter.setFont(self._view.font())
        count_text = counted(item.event_count, "event")
        count_width = QFontMetrics(self._view.font()).horizontalAdvance(count_text) + 4
        count_rect = QRect(inner.right() - count_width, inner.top(), count_width, inner.height())
        painter.setPen(muted)
        painter.drawText(
            count_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, count_text
        )
        type_rect = QRect(
            offsets.right() + 8,
            inner.top(),
            count_rect.left() - offsets.right() - 16,
            inner.height(),
        )
        painter.setPen(text_color)
        elided = QFontMetrics(self._view.font()).elidedText(
            feed_row_type(item), Qt.TextElideMode.ElideMiddle, type_rect.width()
        )
        painter.drawText(type_rect, Qt.AlignmentFlag.AlignVCenter, elided)

    def _paint_lifecycle(self, painter: QPainter, rect: QRect, item: FeedRow) -> None:
        label = lifecycle_label(item.component, item.first_offset)
        metrics = QFontMetrics(self._bold)
        width = metrics.horizontalAdvance(label) + 24
        middle = rect.center().y()
        painter.setPen(QPen(LIFECYCLE_COLOR, 1))
        label_left = rect.center().x() - width // 2
        painter.drawLine(rect.left() + 12, middle, label_left, middle)
        painter.drawLine(label_left + width, middle, rect.right() - 12, middle)
        painter.setFont(self._bold)
        painter.drawText(
            QRect(label_left, rect.top(), width, rect.height()), Qt.AlignmentFlag.AlignCenter, label
        )

    def _child_layout(self, rect: QRect, item: FeedRow) -> tuple[str, str, QRect]:
        title = f"⎇  Child stream created under {self._stream_path}"
        link = f"Open {item.child_path} →" if item.child_path else "missing childPath in payload"
        metrics = QFontMetrics(self._bold)
        title_width = metrics.horizontalAdvance(title)
        link_rect = QRect(
            rect.left() + 12 + title_width + 16,
            rect.top(),
            metrics.horizontalAdvance(link) + 8,
            rect.height(),
        )
        return title, link, link_rect

    def _paint_child_card(
        self, painter: QPainter, rect: QRect, item: FeedRow, text_color: QColor
    ) -> None:
        title, link, link_rect = self._child_layout(rect, item)
        painter.setFont(self._bold)
        painter.setPen(text_color)
        painter.drawText(rect.adjusted(12, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, title)
        link_font = QFont(self._bold)
        link_font.setUnderline(item.child_path is not None)
        painter.setFont(link_font)
        painter.setPen(self._view.palette().color(QPalette.ColorRole.Link))
        painter.drawText(link_rect, Qt.AlignmentFlag.AlignVCenter, link)

    def child_link_hit(self, rect: QRect, row: int, pos: QPoint) -> str | None:
        """The child path when `pos` is on a child card's link."""
        item = self._model.item_at(row)
        if item is None or item.component != CHILD_STREAM_COMPONENT or not item.child_path:
            return None
        meta = QRect(rect.left(), rect.top(), rect.width(), self._view.row_height)
        _, _, link_rect = self._child_layout(meta, item)
        return item.child_path if link_rect.contains(pos) else None

    def editorEvent(
        self,
        event: QEvent,
        model: QAbstractItemModel,
        option: QStyleOptionViewItem,
        index: AnyIndex,
    ) -> bool:
        if event.type() == QEvent.Type.MouseButtonRelease and isinstance(event, QMouseEvent):
            path = self.child_link_hit(option.rect, index.row(), event.position().toPoint())
            if path is not None:
                self.openChild.emit(path)
                return True
        return super().editorEvent(event, model, option, index)
