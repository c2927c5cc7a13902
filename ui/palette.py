"""Colours for chips, banners and error text that read well on a light and on a dark palette.

Widgets ask for a style by tone ("ok", "busy", "warn", "error", "muted", "accent") and by
whether the palette is dark; the tables pair each background with a text colour whose contrast
ratio is at least 4.5:1 (WCAG AA), which tests check with ``contrast_ratio``.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

TONES = ("ok", "busy", "warn", "error", "muted", "accent")

# (background, text) per tone.
_LIGHT = {
    "ok": ("#dff3e4", "#1e6b35"),
    "busy": ("#e3eefc", "#1f4e99"),
    "warn": ("#fff4ce", "#5c4400"),
    "error": ("#fdecea", "#8c1d18"),
    "muted": ("#ececec", "#444444"),
    "accent": ("#ede7f6", "#4527a0"),
}
_DARK = {
    "ok": ("#1f3d28", "#a8e6b8"),
    "busy": ("#1c3252", "#a9c8f5"),
    "warn": ("#4a3b00", "#ffe08a"),
    "error": ("#4f1c19", "#ffb4ab"),
    "muted": ("#3a3a3a", "#d0d0d0"),
    "accent": ("#34285a", "#d4c6ff"),
}


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether the window background is dark (then light text on dark chips reads better)."""
    if palette is None:
        palette = QApplication.palette()
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def tone_colors(tone: str, dark: bool) -> tuple[str, str]:
    return (_DARK if dark else _LIGHT).get(tone, (_DARK if dark else _LIGHT)["muted"])


def chip_style(tone: str, dark: bool) -> str:
    bg, fg = tone_colors(tone, dark)
    return f"border-radius: 8px; padding: 1px 8px; background: {bg}; color: {fg};"


def banner_style(tone: str, dark: bool) -> str:
    bg, fg = tone_colors(tone, dark)
    return f"background: {bg}; color: {fg}; padding: 4px 8px; border-radius: 4px;"


def error_text_style(dark: bool) -> str:
    """Error text on the window's own background (no chip behind it)."""
    return f"color: {'#ff8a80' if dark else '#b3261e'};"


def widget_is_dark(widget: QWidget) -> bool:
    # A widget with its own style sheet keeps the palette it was polished with; its window
    # follows the application's.
    return is_dark(widget.window().palette())


def _luminance(color: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else float(((c + 0.055) / 1.055) ** 2.4)

    q = QColor(color)
    return 0.2126 * channel(q.red()) + 0.7152 * channel(q.green()) + 0.0722 * channel(q.blue())


def contrast_ratio(first: str, second: str) -> float:
    """The WCAG contrast ratio of two colours, 1 (none) to 21 (black on white)."""
    a, b = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def apply_theme(app: QApplication, theme: str) -> None:
    """'dark' or 'light' whatever the system says (Fusion style, for the same look everywhere);
    'system' leaves the platform's style and palette alone."""
    if theme == "system":
        return
    app.setStyle("Fusion")
    app.setPalette(dark_palette() if theme == "dark" else app.style().standardPalette())


def dark_palette() -> QPalette:
    """A dark Fusion palette (for --dark, screenshots and tests; the system's wins otherwise)."""
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#202124",
        QPalette.ColorRole.WindowText: "#e8eaed",
        QPalette.ColorRole.Base: "#17181a",
        QPalette.ColorRole.AlternateBase: "#26272b",
        QPalette.ColorRole.Text: "#e8eaed",
        QPalette.ColorRole.Button: "#2d2e31",
        QPalette.ColorRole.ButtonText: "#e8eaed",
        QPalette.ColorRole.ToolTipBase: "#2d2e31",
        QPalette.ColorRole.ToolTipText: "#e8eaed",
        QPalette.ColorRole.Highlight: "#3a6fd8",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.PlaceholderText: "#9aa0a6",
        QPalette.ColorRole.Link: "#8ab4f8",
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    return palette
