"""A list's actions on the whole current item, whatever its size: copy it all, save it to a
file, open it in a viewer. Reading and formatting run off the UI thread; an expanded row shows
only a bounded part of a big event and points here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QWidget

from ui.big_value_viewer import BigValueViewer
from ui.offload import run_blocking, spawn


def _write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


class WholeEventActions:
    """Adds the actions to ``view``'s context menu; ``load(key)`` gives the item's indented
    JSON (blocking), ``current()`` the key of the current item (None: nothing to act on)."""

    def __init__(
        self,
        view: QWidget,
        load: Callable[[int], str],
        current: Callable[[], int | None],
        *,
        noun: str = "event",
    ) -> None:
        self._view = view
        self._load = load
        self._current = current
        self._noun = noun
        self.viewers: list[BigValueViewer] = []
        for text, slot in (
            (f"Copy whole {noun}", self.copy_all),
            (f"Save {noun} to a file…", self.save_to_file),
            (f"Open {noun} in a viewer…", self.open_viewer),
        ):
            action = QAction(text, view)
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            action.triggered.connect(slot)
            view.addAction(action)

    def copy_all(self) -> None:
        key = self._current()
        if key is not None:
            spawn(self._copy(key), what=f"copying the whole {self._noun}", owner=self._view)

    async def _copy(self, key: int) -> None:
        QGuiApplication.clipboard().setText(await run_blocking(self._load, key, long=True))

    def save_to_file(self) -> None:
        key = self._current()
        if key is None:
            return
        name, _ = QFileDialog.getSaveFileName(
            self._view, f"Save {self._noun}", f"{self._noun}-{key}.json", "JSON (*.json)"
        )
        if name:
            self.save_to(key, Path(name))

    def save_to(self, key: int, path: Path) -> None:
        spawn(self._save(key, path), what=f"saving the {self._noun}", owner=self._view)

    async def _save(self, key: int, path: Path) -> None:
        text = await run_blocking(self._load, key, long=True)
        await run_blocking(_write, path, text, long=True)

    def open_viewer(self) -> BigValueViewer | None:
        key = self._current()
        if key is None:
            return None
        load = self._load
        viewer = BigValueViewer(f"{self._noun.capitalize()} {key}", lambda: load(key), self._view)
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.destroyed.connect(lambda *_: self.viewers.remove(viewer))
        self.viewers.append(viewer)
        viewer.show()
        return viewer
