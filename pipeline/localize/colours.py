"""The colours of the report and the timeline plot, and the WCAG 2 contrast they are held to.

The class pair is colour-blind safe (Okabe & Ito, "Color Universal Design", 2008): blue
#0072B2 for positive, vermillion #D55E00 for negative, the rest of their palette for other
classes. Text is held to WCAG 2.1 AA (contrast >= 4.5 against what it is drawn on, 1.4.3);
lines and bands, which carry no text, to 3 (1.4.11). Labels drawn on a coloured band take
black or white, whichever contrasts more (one of them always reaches 4.58).

The face emotions take Paul Tol's "muted" qualitative palette (colour-blind safe for its
nine colours, and apart from the Okabe-Ito sentiment pair, so an emotion is never read as
a sentiment class), in the checkpoint's class order; snippets without a face take Tol's
pale grey. The emotion strip is a stack of areas named by a legend and by a title per
snippet (its text), so no text is drawn on them; a label drawn on one would take
`text_colour_on`.
"""

from __future__ import annotations

from collections.abc import Sequence

POSITIVE_COLOUR = "#0072B2"  # Okabe-Ito blue
NEGATIVE_COLOUR = "#D55E00"  # Okabe-Ito vermillion
BACKGROUND_COLOUR = "#767676"  # the background score (dashed): the lightest grey at 4.5 on white
FACE_COLOUR = "#009E73"  # Okabe-Ito bluish green: face presence
# Okabe-Ito reddish purple, black (its orange, sky blue, yellow are under 3 on white)
OTHER_COLOURS = ("#CC79A7", "#000000")
# Paul Tol's muted palette, ordered for FER2013's classes (happy, surprise, sad, anger, disgust, fear, neutral)
EMOTION_COLOURS = ("#DDCC77", "#88CCEE", "#332288", "#CC6677", "#999933", "#AA4499", "#44AA99", "#117733", "#882255")
NO_FACE_COLOUR = "#DDDDDD"  # Tol's pale grey: snippets without a face in the emotion strip
TEXT_COLOUR = "#1D1D1F"  # body text
MUTED_TEXT_COLOUR = "#595959"  # axis marks, small notes (7.0 on white)
WARNING_TEXT_COLOUR = "#8B1A13"  # the random-weights title and notes (9.3 on white)
POSITIVE_NAMES = {"positive", "pos", "p"}
NEGATIVE_NAMES = {"negative", "neg", "n"}
AA_TEXT = 4.5  # WCAG 2.1 AA, normal text (1.4.3)
AA_GRAPHICS = 3.0  # WCAG 2.1 AA, graphical objects (1.4.11)


def label_colours(class_names: Sequence[str]) -> dict[str, str]:
    """A colour per class name: blue for positive spellings, vermillion for negative, others
    from the rest of the palette (the plot and the HTML report use the same colours)."""
    colours, others = {}, iter(OTHER_COLOURS * (1 + len(class_names) // len(OTHER_COLOURS)))
    for name in class_names:
        key = name.strip().lower()
        if key in POSITIVE_NAMES:
            colours[name] = POSITIVE_COLOUR
        else:
            colours[name] = NEGATIVE_COLOUR if key in NEGATIVE_NAMES else next(others)
    return colours


def emotion_colours(emotion_names: Sequence[str]) -> dict[str, str]:
    """A colour per emotion class name, by position (the palette repeats after nine classes)."""
    return {name: EMOTION_COLOURS[index % len(EMOTION_COLOURS)] for index, name in enumerate(emotion_names)}


def relative_luminance(colour: str) -> float:
    """WCAG 2 relative luminance of '#RRGGBB' (or '#RGB'), in [0, 1]."""
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(2 * d for d in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two colours, in [1, 21]."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_colour_on(background: str) -> str:
    """Black or white, whichever contrasts more with `background`."""
    return "#000000" if contrast_ratio("#000000", background) >= contrast_ratio("#ffffff", background) else "#ffffff"
