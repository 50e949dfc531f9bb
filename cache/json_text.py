"""JSON as every file and command of the toolkit reads and writes it, in one place.

- Writing (:func:`json_text`): names as they are (non-ASCII letters unescaped), and a lone
  surrogate (a byte of a file name that was not UTF-8, as os.fsdecode carries it) as JSON's
  own `\\udcXX` escape, so the text encodes as UTF-8 and json.loads gives the exact name back.
- Reading (:func:`parse_json`): a document nested deeper than Python's recursion limit (a
  hostile `[[[[...` of 200,000 brackets) is a JSONDecodeError like any other invalid JSON,
  never a RecursionError, so every reader's "not valid JSON" line covers it.
"""

from __future__ import annotations

import json
from typing import Any

NESTED_TOO_DEEPLY = "nested too deeply"


def json_text(value: Any, indent: int | None = 2) -> str:
    """`value` as JSON text that UTF-8 can encode (see the module docstring)."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=False)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def parse_json(text: str | bytes) -> Any:
    """json.loads(text); json.JSONDecodeError (a ValueError) for invalid JSON, including a
    document nested deeper than Python can parse (message "nested too deeply")."""
    try:
        return json.loads(text)
    except RecursionError:
        document = text if isinstance(text, str) else text.decode("utf-8", "replace")
        raise json.JSONDecodeError(NESTED_TOO_DEEPLY, document, 0) from None
