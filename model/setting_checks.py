"""The checks every config section runs when it is made (in ``__post_init__``).

Each check names the setting by its full key and, when the value is not allowed, raises
one ValueError line saying what is allowed and what was given, so every section's
messages read alike::

    train.epochs must be an integer >= 1, got 0
    postprocess.nms must be one of hard, soft, got 'fast'
    model.dropout must be a number in [0, 1), got 1.0

pipeline/config/ turns the ValueError into a ConfigError. The model's, the extractors'
and the pipeline's sections all use these; the module imports nothing, so each layer may.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def require(ok: bool, message: str) -> None:
    """A rule the helpers below do not word (between two settings, say): ValueError(message) unless ok."""
    if not ok:
        raise ValueError(message)


def _number_text(bound: float) -> str:
    """A bound as people write it: 0 and 1 rather than 0.0 and 1.0."""
    return str(int(bound)) if isinstance(bound, float) and bound.is_integer() else str(bound)


def _range_text(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    """' >= 1', ' > 0', ' <= 8', ' in [0, 1]', ' in (0, 1]', ... ('' with neither bound)."""
    if low is not None and high is not None:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        return f" in {left}{_number_text(low)}, {_number_text(high)}{right}"
    if low is not None:
        return f" {'>' if low_open else '>='} {_number_text(low)}"
    if high is not None:
        return f" {'<' if high_open else '<='} {_number_text(high)}"
    return ""


def _within(value: float, low: float | None, high: float | None, low_open: bool, high_open: bool) -> bool:
    above = low is None or (value > low if low_open else value >= low)
    below = high is None or (value < high if high_open else value <= high)
    return above and below


def _suffix(note: str) -> str:
    return f" ({note})" if note else ""


def check_int(key: str, value: Any, low: int | None = None, high: int | None = None, note: str = "") -> None:
    """An integer (not a bool) in [low, high]; a bound left None is open. `note` follows the
    range in the message, e.g. "0: automatic"."""
    allowed = _range_text(low, high, False, False)
    if isinstance(value, bool) or not isinstance(value, int) or not _within(value, low, high, False, False):
        raise ValueError(f"{key} must be an integer{allowed}{_suffix(note)}, got {value!r}")


def check_number(
    key: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    note: str = "",
) -> None:
    """A finite number (an int or a float, not a bool, NaN or infinity) within the bounds
    (closed unless low_open / high_open; a bound left None is open)."""
    allowed = _range_text(low, high, low_open, high_open)
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not _within(value, low, high, low_open, high_open)):
        raise ValueError(f"{key} must be a number{allowed}{_suffix(note)}, got {value!r}")


MAX_SEED = 2**63 - 1  # every seed reaches numpy (non-negative only) and torch (64 bits)


def check_seed(key: str, value: Any) -> None:
    """A seed: an integer in [0, MAX_SEED], what numpy and torch both take."""
    check_int(key, value, 0, MAX_SEED, note="2**63 - 1")


def check_choice(key: str, value: Any, choices: Sequence[str], note: str = "") -> None:
    """One of `choices`."""
    if value not in choices:
        raise ValueError(f"{key} must be one of {', '.join(choices)}{_suffix(note)}, got {value!r}")


def check_bool(key: str, value: Any) -> None:
    """True or False (not 0 or 1)."""
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r}")


def check_names(
    key: str, values: Any, known: Sequence[str] | None = None, *, what: str = "name", empty_ok: bool = False
) -> None:
    """A tuple of distinct non-empty names (of `what`: "stream", "class", ...), each one of
    `known` when given; empty only when `empty_ok`."""
    if not isinstance(values, tuple) or not all(isinstance(value, str) for value in values):
        raise ValueError(f"{key} must be a list of {what} names, got {values!r}")
    if not values and not empty_ok:
        raise ValueError(f"{key} must name at least one {what}")
    if any(not value.strip() for value in values):
        raise ValueError(f"{key} must list non-empty {what} names, got {list(values)}")
    unknown = [value for value in values if known is not None and value not in known]
    if unknown:
        raise ValueError(f"{key}: unknown {what} {unknown[0]!r}; choose from {', '.join(known or ())}")
    if len(set(values)) != len(values):
        raise ValueError(f"{key} lists a {what} twice: {list(values)}")
