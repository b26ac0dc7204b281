"""The tutor's themes: everyday light and dark, and high-contrast ones for projectors.

Meaning never rests on colour alone (markers and words carry it); the projector themes push
contrast to the maximum for a washed-out projector at the back of a room.
"""

from __future__ import annotations

from textual.theme import Theme

DARK = Theme(
    name="tutor-dark",
    primary="#5fafff",
    secondary="#87d787",
    accent="#ffaf5f",
    warning="#ffd75f",
    error="#ff5f5f",
    success="#87d787",
    foreground="#e4e4e4",
    background="#1c1c1c",
    surface="#262626",
    panel="#303030",
    dark=True,
)

LIGHT = Theme(
    name="tutor-light",
    primary="#005fd7",
    secondary="#008700",
    accent="#af5f00",
    warning="#875f00",
    error="#d70000",
    success="#008700",
    foreground="#1c1c1c",
    background="#fafafa",
    surface="#eeeeee",
    panel="#e4e4e4",
    dark=False,
)

PROJECTOR_DARK = Theme(
    name="tutor-projector",
    primary="#ffff00",
    secondary="#00ffff",
    accent="#ffff00",
    warning="#ffff00",
    error="#ff4040",
    success="#00ff00",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#000000",
    dark=True,
    luminosity_spread=0.0,
    text_alpha=1.0,
)

PROJECTOR_LIGHT = Theme(
    name="tutor-projector-light",
    primary="#0000c0",
    secondary="#005000",
    accent="#0000c0",
    warning="#6b4800",
    error="#b00000",
    success="#005000",
    foreground="#000000",
    background="#ffffff",
    surface="#ffffff",
    panel="#ffffff",
    dark=False,
    luminosity_spread=0.0,
    text_alpha=1.0,
)

THEMES: tuple[Theme, ...] = (DARK, LIGHT, PROJECTOR_DARK, PROJECTOR_LIGHT)


def theme_for(*, projector: bool, dark: bool) -> str:
    """The theme name for a combination of projector mode and light/dark."""
    if projector:
        return PROJECTOR_DARK.name if dark else PROJECTOR_LIGHT.name
    return DARK.name if dark else LIGHT.name
