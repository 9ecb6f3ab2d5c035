"""The way out: one escaper per kind of sink, for every text that came from outside (model
ids from `/models`, error messages, header values, dataset text, metric names from
`/metrics`, endpoint strings).

- `terminal`: ANSI escape sequences removed, other control and bidi characters shown as
  `?`, flattened to one line.
- `markdown` (the Markdown file and the GitHub step summary): one line, HTML and Markdown
  syntax escaped, so `<script>`, `<img onerror>`, a fake `# heading`, a `|` that would break
  a table, a backtick or a link render as the characters they are.
- `html`: one line, HTML-escaped (quotes too, so the text is safe in an attribute).
- `xml`: the characters XML 1.0 does not allow removed (the serializer escapes the rest),
  so the document stays well-formed.
- `json_safe` / `json_dumps`: strict JSON; a non-finite number becomes null.

Every escaper also caps the text at `EXCERPT_LIMIT` characters (with an ellipsis), so a huge
message in a results file is not copied whole into every output.
"""

from __future__ import annotations

import html as _html
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from .redact import cut, one_line

__all__ = [
    "EXCERPT_LIMIT",
    "html",
    "json_dumps",
    "json_safe",
    "json_text",
    "markdown",
    "terminal",
    "xml",
]

EXCERPT_LIMIT = 500  # characters of one outside text in any output

# CSI (ESC [ or the C1 CSI), OSC (ESC ] ... BEL or ST), and any other two-byte ESC sequence
_ANSI = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[@-Z\\-_]?"
)
# characters XML 1.0 does not allow (lone surrogates included)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Markdown's inline syntax: each is shown as itself when backslash-escaped
# (`_` only at a word's edge: inside a word, as in `http_5xx`, it never emphasises)
_MD_SPECIAL = re.compile(r"([\\`*{}\[\]()#!|~:]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z]))")
# at a line's start, a list marker or an ordered-list number would start a block
_MD_START = re.compile(r"^([-+]|\d+)([.)]?)")


def terminal(text: object, limit: int = EXCERPT_LIMIT) -> str:
    """One printable line for a terminal: no escape sequence, no control character."""
    return cut(one_line(_ANSI.sub("", str(text))), limit)


def markdown(text: object, limit: int = EXCERPT_LIMIT) -> str:
    """One line of inert Markdown: safe inline, in a table cell and at a line's start."""
    flat = cut(one_line(_ANSI.sub("", str(text))), limit)
    escaped = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    escaped = _MD_SPECIAL.sub(r"\\\1", escaped)
    return _MD_START.sub(_md_start, escaped)


def _md_start(match: re.Match[str]) -> str:
    lead, mark = match.group(1), match.group(2)
    if lead in "-+":
        return "\\" + lead + mark
    return lead + ("\\" + mark if mark else "")


def html(text: object, limit: int = EXCERPT_LIMIT) -> str:
    """One line of HTML text, safe in an element or a quoted attribute."""
    return _html.escape(cut(one_line(_ANSI.sub("", str(text))), limit), quote=True)


def xml(text: object, limit: int = EXCERPT_LIMIT) -> str:
    """Text that XML 1.0 allows (for ElementTree, which escapes `<`, `&` and quotes itself):
    escape sequences and the forbidden characters removed, capped."""
    return cut(_NOT_XML.sub("", _ANSI.sub("", str(text))), limit)


def json_text(text: object, limit: int = EXCERPT_LIMIT) -> str:
    """Outside text as a JSON string value: capped, lone surrogates (which strict parsers
    refuse) removed; the encoder escapes the rest."""
    return cut(_SURROGATE.sub("", str(text)), limit)


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float (NaN, ±Infinity) replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def json_dumps(value: Any, *, indent: int | None = 2) -> str:
    """Strict JSON (RFC 8259): never NaN or Infinity."""
    separators = (",", ":") if indent is None else None
    return json.dumps(json_safe(value), indent=indent, allow_nan=False, separators=separators)
