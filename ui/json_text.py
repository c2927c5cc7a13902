"""Pretty-printing JSON for display and splitting a line of JSON into coloured tokens (pure)."""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass


class TokenKind(enum.Enum):
    KEY = "key"
    STRING = "string"
    NUMBER = "number"
    LITERAL = "literal"
    PUNCTUATION = "punctuation"


@dataclass(frozen=True)
class Token:
    start: int
    length: int
    kind: TokenKind


@dataclass(frozen=True)
class PrettyJson:
    """Pretty JSON split into lines with their tokens, ready to paint without re-parsing."""

    text: str
    lines: tuple[str, ...]
    tokens: tuple[tuple[Token, ...], ...]


# A string may be unterminated while the user is typing; it then runs to the end of the line.
_TOKEN_RE = re.compile(
    r'(?P<string>"(?:[^"\\]|\\.)*(?:"|$))(?P<colon>\s*:)?'
    r"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<literal>\b(?:true|false|null)\b)"
    r"|(?P<punctuation>[{}\[\],:])"
)


def tokenize_line(line: str) -> list[Token]:
    """Tokens of one line of JSON text, in order; whitespace and stray characters are skipped."""
    tokens: list[Token] = []
    for match in _TOKEN_RE.finditer(line):
        if match.group("string") is not None:
            start, end = match.span("string")
            kind = TokenKind.KEY if match.group("colon") else TokenKind.STRING
            tokens.append(Token(start, end - start, kind))
            if match.group("colon"):
                colon_end = match.end("colon")
                tokens.append(Token(colon_end - 1, 1, TokenKind.PUNCTUATION))
            continue
        for kind in (TokenKind.NUMBER, TokenKind.LITERAL, TokenKind.PUNCTUATION):
            if match.group(kind.value) is not None:
                start, end = match.span(kind.value)
                tokens.append(Token(start, end - start, kind))
                break
    return tokens


def pretty_json_value(value: object) -> str:
    """A decoded value as JSON indented by two spaces, non-ASCII kept as is (what is shown is
    what is copied); values JSON has no form for (dates, bytes) are written as strings."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def pretty_json_text(text: str) -> str:
    """Indent JSON text by two spaces; text that is not JSON comes back unchanged."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return pretty_json_value(value)


def prepare_pretty_json(text: str, *, max_lines: int = 2000) -> PrettyJson:
    """Pretty-print and tokenise JSON for painting, keeping at most `max_lines` lines."""
    pretty = pretty_json_text(text)
    lines = pretty.split("\n")
    if len(lines) > max_lines:
        hidden = len(lines) - max_lines
        lines = [*lines[:max_lines], f"… {hidden:,} more lines (copy the row to see them all)"]
    return PrettyJson(
        text=pretty,
        lines=tuple(lines),
        tokens=tuple(tuple(tokenize_line(line)) for line in lines),
    )
