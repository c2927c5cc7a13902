"""View-menu commands on the current pane (none when no pane is current): switch views, focus
the composer, the type or field filter, find in or jump within the shown view, scroll a list
to either end."""

from __future__ import annotations

from ui.feed_view import FeedView
from ui.raw_view import RawEventsView
from ui.stream_list_view import StreamListView
from ui.stream_pane import StreamPane


def show_view(pane: StreamPane | None, index: int) -> None:
    if pane is not None:
        pane.show_view(index)


def focus_composer(pane: StreamPane | None) -> None:
    if pane is not None:
        pane.composer.editor.setFocus()


def focus_type_filter(pane: StreamPane | None) -> None:
    if pane is not None:
        pane.show_view(0)
        pane.raw_view.type_filter.setFocus()
        pane.raw_view.type_filter.showPopup()


def _shown_list(pane: StreamPane | None) -> StreamListView | None:
    """The list of the view on show (the State view has none)."""
    if pane is None:
        return None
    view = pane.tabs.currentIndex()
    lists = (pane.raw_view.list, pane.feed_view.list)
    return lists[view] if view < len(lists) else None


def _shown_view(pane: StreamPane | None) -> RawEventsView | FeedView | None:
    """The raw or feed view on show (the State view has no search)."""
    if pane is None:
        return None
    view = pane.tabs.currentWidget()
    return view if isinstance(view, RawEventsView | FeedView) else None


def find(pane: StreamPane | None) -> None:
    shown = _shown_view(pane)
    if shown is not None:
        shown.search_bar.open_bar()


def find_next(pane: StreamPane | None, forward: bool = True) -> None:
    shown = _shown_view(pane)
    if shown is not None:
        shown.search_bar.step(forward)


def jump(pane: StreamPane | None) -> None:
    shown = _shown_view(pane)
    if shown is not None:
        shown.open_jump()


def focus_field_filter(pane: StreamPane | None) -> None:
    if pane is not None:
        pane.show_view(0)
        pane.raw_view.filter_bar.edit.setFocus()


def scroll_to_top(pane: StreamPane | None) -> None:
    shown = _shown_list(pane)
    if shown is not None:
        shown.scroll_to_top()


def scroll_to_bottom(pane: StreamPane | None) -> None:
    shown = _shown_list(pane)
    if shown is not None:
        shown.scroll_to_end()
