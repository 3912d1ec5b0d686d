"""podium's Textual themes: data turned into `textual.theme.Theme` objects and registered
by the app. `resolve_theme` falls back to the default (with a reason) for a bad name."""

from __future__ import annotations

from textual.theme import Theme

PODIUM_DARK = Theme(
    name="podium-dark",
    primary="#5fafff",
    secondary="#87d7af",
    accent="#ffaf5f",
    warning="#ffd75f",
    error="#ff5f5f",
    success="#87d787",
    foreground="#d0d0d0",
    background="#121417",
    surface="#1b1e23",
    panel="#23272e",
    dark=True,
    variables={
        "footer-key-foreground": "#5fafff",
        "block-cursor-background": "#2d4f73",
    },
)

PODIUM_LIGHT = Theme(
    name="podium-light",
    primary="#005faf",
    secondary="#2e7d5b",
    accent="#b85c00",
    warning="#9a6b00",
    error="#c62828",
    success="#2e7d32",
    foreground="#1c1c1c",
    background="#fafafa",
    surface="#f0f0f0",
    panel="#e4e4e4",
    dark=False,
    variables={
        "footer-key-foreground": "#005faf",
        "block-cursor-background": "#b9d7f5",
    },
)

THEMES = {t.name: t for t in (PODIUM_DARK, PODIUM_LIGHT)}
DEFAULT_THEME = PODIUM_DARK.name


def resolve_theme(name: str | None, available: set[str]) -> tuple[str, str | None]:
    """The theme to use for `name`, and why it is not `name` (None when it is)."""
    if not name:
        return DEFAULT_THEME, None
    if name in available:
        return name, None
    known = ", ".join(sorted(available))
    return DEFAULT_THEME, f"unknown theme {name!r}; using {DEFAULT_THEME} (themes: {known})"
