"""The main window's menus and toolbar as a table: every action's name, menu, text, shortcut,
handler and when it is enabled. Menus list the actions in table order."""

from __future__ import annotations

from typing import Protocol

from PySide6.QtGui import QKeySequence

from ui import pane_commands
from ui.action_specs import ActionSpec
from ui.file_job_runner import FileJobRunner
from ui.generator_dialog import open_generator
from ui.server_actions import ServerActions
from ui.stream_actions import StreamActions
from ui.stream_browser import StreamBrowser
from ui.stream_pane import StreamPane

MENUS = (
    ("file", "&File"),
    ("stream", "&Stream"),
    ("view", "&View"),
    ("tools", "&Tools"),
    ("servers", "Se&rvers"),
    ("help", "&Help"),
)


class WindowActionHost(Protocol):
    """What the actions call on the main window."""

    current: StreamPane | None

    @property
    def stream_actions(self) -> StreamActions: ...
    @property
    def file_jobs(self) -> FileJobRunner: ...
    @property
    def browser(self) -> StreamBrowser: ...
    def new_window(self) -> None: ...
    def open_mirror_manager(self) -> object: ...
    def open_mirror_file(self) -> None: ...
    def close(self) -> bool: ...
    def quit_app(self) -> None: ...
    def focus_path(self) -> None: ...
    def focus_namespace(self) -> None: ...
    def split(self) -> StreamPane | None: ...
    def close_current_pane(self) -> None: ...
    def next_pane(self) -> None: ...
    @property
    def server_actions(self) -> ServerActions: ...
    def add_server(self) -> None: ...
    def remove_server(self) -> None: ...
    def show_shortcuts(self) -> None: ...


def _live(window: WindowActionHost) -> bool:
    """The current pane has a server (an offline mirror has nothing to reconnect or reset)."""
    return window.current is not None and window.current.runtime.server_url is not None


Spec = ActionSpec[WindowActionHost]

WINDOW_ACTIONS: tuple[Spec, ...] = (
    Spec("new_window", "file", "New window", lambda w: w.new_window(), "Ctrl+N", toolbar=True),
    Spec("open_mirror", "file", "Open mirror file…", lambda w: w.open_mirror_file(), "Ctrl+O"),
    Spec(
        "save_mirror",
        "file",
        "Save mirror as…",
        lambda w: w.file_jobs.save_mirror_as(),
        "Ctrl+Shift+S",
        toolbar=True,
    ),
    Spec(
        "export_jsonl",
        "file",
        "Export JSONL…",
        lambda w: w.file_jobs.export_jsonl(),
        "Ctrl+E",
        toolbar=True,
        tip="Export the shown (filtered) events as JSON lines",
    ),
    Spec(
        "cancel_job",
        "file",
        "Cancel export or save",
        lambda w: w.file_jobs.cancel(),
        "Esc",
        tip="Stop writing the file",
        enabled_when=lambda w: w.file_jobs.running,
    ),
    Spec(
        "close_window", "file", "Close window", lambda w: w.close(), "Ctrl+W", separator_before=True
    ),
    Spec("quit", "file", "Quit", lambda w: w.quit_app(), QKeySequence.StandardKey.Quit),
    Spec("go_to_path", "stream", "Go to path", lambda w: w.focus_path(), "Ctrl+L"),
    Spec(
        "change_namespace",
        "stream",
        "Change namespace",
        lambda w: w.focus_namespace(),
        "Ctrl+Shift+L",
    ),
    Spec(
        "focus_composer",
        "stream",
        "Focus composer",
        lambda w: pane_commands.focus_composer(w.current),
        "Ctrl+Shift+E",
    ),
    Spec(
        "reconnect",
        "stream",
        "Reconnect",
        lambda w: w.stream_actions.reconnect(),
        "F5",
        toolbar=True,
        enabled_when=_live,
        separator_before=True,
    ),
    Spec(
        "kill",
        "stream",
        "Kill",
        lambda w: w.stream_actions.kill(),
        "Ctrl+Shift+K",
        toolbar=True,
        tip="Stop the stream's server instance (it wakes up on the next request)",
        enabled_when=_live,
    ),
    Spec(
        "reset",
        "stream",
        "Reset…",
        lambda w: w.stream_actions.reset(),
        "Ctrl+Shift+R",
        toolbar=True,
        tip="Delete every event of the stream on the server",
        enabled_when=_live,
    ),
    Spec(
        "search_index_off",
        "stream",
        "Turn search index off",
        lambda w: w.stream_actions.search_index(False),
        tip="Drop this mirror's search index (search then scans); kept per mirror",
    ),
    Spec(
        "search_index_on",
        "stream",
        "Turn search index on",
        lambda w: w.stream_actions.search_index(True),
        tip="Build this mirror's search index again, in the background",
    ),
    Spec(
        "clear_local",
        "stream",
        "Clear local mirror…",
        lambda w: w.stream_actions.clear_local(),
        "Ctrl+Shift+Backspace",
        toolbar=True,
        tip="Discard the local mirror and sync it again",
        enabled_when=_live,
    ),
    Spec(
        "raw_view", "view", "Raw events", lambda w: pane_commands.show_view(w.current, 0), "Ctrl+1"
    ),
    Spec(
        "feed_view", "view", "Event feed", lambda w: pane_commands.show_view(w.current, 1), "Ctrl+2"
    ),
    Spec("state_view", "view", "State", lambda w: pane_commands.show_view(w.current, 2), "Ctrl+3"),
    Spec(
        "filter_by_type",
        "view",
        "Filter by type",
        lambda w: pane_commands.focus_type_filter(w.current),
        "Ctrl+Shift+F",
        separator_before=True,
    ),
    Spec(
        "filter_by_field",
        "view",
        "Filter by field",
        lambda w: pane_commands.focus_field_filter(w.current),
        "Ctrl+Alt+F",
    ),
    Spec("find", "view", "Find…", lambda w: pane_commands.find(w.current), "Ctrl+F"),
    Spec("find_next", "view", "Find next", lambda w: pane_commands.find_next(w.current), "F3"),
    Spec(
        "find_previous",
        "view",
        "Find previous",
        lambda w: pane_commands.find_next(w.current, forward=False),
        "Shift+F3",
    ),
    Spec(
        "go_to", "view", "Go to offset or time…", lambda w: pane_commands.jump(w.current), "Ctrl+G"
    ),
    Spec(
        "scroll_to_top",
        "view",
        "Scroll to top",
        lambda w: pane_commands.scroll_to_top(w.current),
        "Ctrl+Home",
    ),
    Spec(
        "scroll_to_bottom",
        "view",
        "Scroll to bottom",
        lambda w: pane_commands.scroll_to_bottom(w.current),
        "Ctrl+End",
    ),
    Spec(
        "split",
        "view",
        "New split",
        lambda w: w.split(),
        "Ctrl+T",
        toolbar=True,
        tip="Show the current stream a second time, side by side",
        separator_before=True,
    ),
    Spec("close_split", "view", "Close split", lambda w: w.close_current_pane(), "Ctrl+Shift+W"),
    Spec("next_pane", "view", "Next pane", lambda w: w.next_pane(), "F6"),
    Spec(
        "sql_console",
        "tools",
        "SQL console…",
        lambda w: w.stream_actions.open_sql_console(),
        "Ctrl+Shift+Q",
        toolbar=True,
        tip="Read-only SQL over the current mirror",
    ),
    Spec(
        "mirror_manager",
        "tools",
        "Local mirrors…",
        lambda w: w.open_mirror_manager(),
        tip="Every mirror on disk: open, reveal or delete",
    ),
    Spec(
        "insert_events",
        "tools",
        "Insert events…",
        lambda w: open_generator(w.current),
        tip="Append random events to the current stream (load test)",
        enabled_when=_live,
    ),
    Spec(
        "refresh_browser",
        "tools",
        "Refresh stream browser",
        lambda w: w.browser.refresh(),
        "Ctrl+R",
    ),
    Spec("add_server", "servers", "Add server…", lambda w: w.add_server()),
    Spec("edit_server", "servers", "Edit server…", lambda w: w.server_actions.edit_server()),
    Spec("remove_server", "servers", "Remove server…", lambda w: w.remove_server()),
    Spec(
        "copy_server_url",
        "servers",
        "Copy embedded server URL",
        lambda w: w.server_actions.copy_embedded_url(),
        separator_before=True,
        tip="For the command line: streamdesk tail URL PATH",
    ),
    Spec(
        "shortcuts",
        "help",
        "Keyboard shortcuts",
        lambda w: w.show_shortcuts(),
        QKeySequence.StandardKey.HelpContents,
    ),
    Spec("about", "help", "About Streamdesk", lambda w: w.server_actions.show_about()),
)
