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


# Longer lines are wrapped: one text run of megabytes is slow to lay out and past a few
# million pixels Qt draws it at the wrong place (over its key).
WRAP_COLUMNS = 160


def wrap_line(
    line: str, tokens: list[Token], width: int = WRAP_COLUMNS
) -> list[tuple[str, list[Token]]]:
    """A line cut into pieces of at most ``width`` characters, each with its share of the
    tokens; continuation pieces are indented under the line's own indentation."""
    if len(line) <= width:
        return [(line, tokens)]
    indent = min(len(line) - len(line.lstrip(" ")) + 4, width // 2)
    pieces: list[tuple[str, list[Token]]] = []
    start, first = 0, True
    while start < len(line):
        room = width if first else width - indent
        end = min(len(line), start + room)
        pad = 0 if first else indent
        shared = [
            Token(
                max(t.start, start) - start + pad,
                min(t.start + t.length, end) - max(t.start, start),
                t.kind,
            )
            for t in tokens
            if t.start < end and t.start + t.length > start
        ]
        pieces.append((" " * pad + line[start:end], shared))
        start, first = end, False
    return pieces


def pretty_lines(pretty: str, *, max_lines: int, notes: tuple[str, ...] = ()) -> PrettyJson:
    """Pretty text as wrapped, tokenised lines (at most ``max_lines`` and a last line saying
    how many were left out), with ``notes`` (plain lines) on top."""
    lines: list[str] = list(notes)
    tokens: list[tuple[Token, ...]] = [() for _ in notes]
    raw_lines = pretty.split("\n")
    used = 0
    for raw in raw_lines:
        if len(lines) >= max_lines:
            break
        used += 1
        for piece, piece_tokens in wrap_line(raw, tokenize_line(raw)):
            lines.append(piece)
            tokens.append(tuple(piece_tokens))
    if used < len(raw_lines) or len(lines) > max_lines:
        hidden = len(raw_lines) - used
        lines, tokens = lines[:max_lines], tokens[:max_lines]
        lines.append(f"… {hidden:,} more lines (copy the row to see them all)")
        tokens.append(())
    return PrettyJson(text=pretty, lines=tuple(lines), tokens=tuple(tokens))


def prepare_pretty_json(text: str, *, max_lines: int = 2000) -> PrettyJson:
    """Pretty-print and tokenise JSON for painting, keeping at most `max_lines` lines."""
    return pretty_lines(pretty_json_text(text), max_lines=max_lines)
