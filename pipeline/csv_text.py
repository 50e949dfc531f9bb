"""CSV text for every CSV file the toolkit writes, safe to open in a spreadsheet.

A cell that starts with '=', '+', '-', '@', a tab or a carriage return is a formula to
Excel, LibreOffice and Google Sheets (CSV injection): a video named "=HYPERLINK(...).mp4"
or a class name "@SUM(1+1)*cmd" would run when summary.csv is opened. As OWASP
recommends, such a text cell is written with a leading single quote ("'=1+2"), which the
spreadsheet shows as text. Numbers are data, not formulas: a cell that is a plain decimal
number ("-0.500", "+3", "1e-05") is written as it is, so numeric columns stay numeric.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: object) -> object:
    """`value` as a CSV cell that no spreadsheet reads as a formula (module docstring):
    numbers (int, float, or text that is a plain decimal number) unchanged, other text
    starting with one of FORMULA_STARTS prefixed with a single quote."""
    if isinstance(value, (int, float)):
        return value
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_text(header: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    """CSV (comma-separated, '\\n' line ends, quoted where needed) of a header row and data
    rows, every cell passed through :func:`safe_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([safe_cell(cell) for cell in header])
    writer.writerows([safe_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue()
