"""Text from the wire made harmless before it reaches a terminal.

Why: the pump's serial number, model, firmware version and every refusal reason are strings that
anyone on the line can forge.  Printed verbatim, an escape sequence in them can move the cursor,
erase "pump refused" and print a fake "Done: ... is in force" in its place, or reorder what the
clinician reads with bidirectional overrides.  So every string that comes off the line is passed
through ``safe_text`` where it enters the programmer (``Exchange`` sanitises reply and event
bodies and reasons) and every text the CLI prints passes ``safe_output`` again on its way out
(belt and braces for strings decoded elsewhere, e.g. a reply replayed from the pump's request
cache or a capture decoded by ``pumpctl trace``).

Rules: a character is escaped when it is a control (Unicode category Cc: C0, DEL, C1), a format
character (Cf: bidi embeddings, overrides and isolates, zero-width joiners, the BOM...), a line or
paragraph separator (Zl, Zp), a surrogate (Cs), private use (Co) or unassigned (Cn).  It becomes
``\\xNN`` (up to 0xFF) or ``\\uNNNN`` / ``\\UNNNNNNNN``, printable ASCII, so the result is
idempotent (escaping twice changes nothing) and a script can still see what the pump sent.
``safe_output`` keeps the newlines and tabs the programmer itself puts between lines.  JSON output
stays valid JSON: ``json.dumps`` escapes every non-ASCII character; ``safe_json`` also escapes DEL.
"""

from __future__ import annotations

import unicodedata
from typing import Any

_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def _escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _unsafe(char: str, keep: str) -> bool:
    if char in keep:
        return False
    if " " <= char <= "~":  # printable ASCII: the common case, no table look-up
        return False
    return unicodedata.category(char) in _UNSAFE_CATEGORIES


def safe_text(text: str, keep: str = "") -> str:
    """``text`` with every control, format or unassigned character escaped (see module doc)."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(_escape(ch) if _unsafe(ch, keep) else ch for ch in text)


def safe_output(text: str) -> str:
    """A whole text for the terminal: like ``safe_text`` but newlines and tabs stay."""
    return safe_text(text, keep="\n\t")


def safe_json(document: str) -> str:
    """A JSON document for the terminal (``json.dumps`` with ``ensure_ascii`` leaves DEL raw)."""
    return document.replace("\x7f", "\\u007f")


def safe_wire(value: Any) -> Any:
    """Every string inside a decoded body made safe, in place for dicts and lists (see doc)."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = safe_wire(item)
        return value
    if isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = safe_wire(item)
        return value
    if type(value) is tuple:
        return tuple(safe_wire(item) for item in value)
    return value
