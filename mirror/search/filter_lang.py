"""The field filter language: a pure parser from text to a small syntax tree.

Public API:

- ``parse_filter(text) -> Node``: raises ``FilterError`` (``message``, 1-based ``column``;
  ``str()`` reads "expected a value after '=' at column 17").
- Nodes (frozen dataclasses): ``Compare(path, op, value)``, ``Exists(path)``, ``Not(operand)``,
  ``And(operands)``, ``Or(operands)``; ``FieldPath(segments)`` where a segment is a key (str) or
  an array index (int); ``Literal`` is ``str | int | float | bool | None``.

Grammar (keywords case-insensitive)::

    expr    := and ("or" and)*
    and     := unary ("and" unary)*
    unary   := "not" unary | "(" expr ")" | "exists" path | path op value
    op      := "=" | "!=" | "<" | "<=" | ">" | ">=" | "~"
    path    := key ("." key | "[" digits "]")*
    key     := identifier | string   (identifier: ASCII letters, digits, _ $ -; no digit first)
    value   := string | number | "true" | "false" | "null"
    string  := "..." or '...' with backslash escapes for the quote and the backslash

Examples: ``payload.user.id = "u1"``, ``metadata.latencyMs > 500 and not type = "x"``,
``payload."weird key"[0] ~ "refund"``, ``exists payload.error``, ``offset >= 100``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal as TypingLiteral

Literal = str | int | float | bool | None
Operator = TypingLiteral["=", "!=", "<", "<=", ">", ">=", "~"]
OPERATORS: tuple[Operator, ...] = ("=", "!=", "<", "<=", ">", ">=", "~")
_KEYWORDS = frozenset({"and", "or", "not", "exists", "true", "false", "null"})


class FilterError(ValueError):
    """A bad filter expression; ``column`` is 1-based."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} at column {column}")
        self.message = message
        self.column = column


@dataclass(frozen=True, slots=True)
class FieldPath:
    segments: tuple[str | int, ...]

    def __str__(self) -> str:
        parts: list[str] = []
        for segment in self.segments:
            if isinstance(segment, int):
                parts.append(f"[{segment}]")
            else:
                text = segment if _IDENT.fullmatch(segment) else f'"{segment}"'
                parts.append(text if not parts else f".{text}")
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class Compare:
    path: FieldPath
    op: Operator
    value: Literal


@dataclass(frozen=True, slots=True)
class Exists:
    path: FieldPath


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]


Node = Compare | Exists | Not | And | Or


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # ident, string, number, op, "(", ")", ".", "[", "]", end
    text: str
    column: int
    value: Literal = None


_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_PUNCT = frozenset("().[]")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        column = i + 1
        if char.isspace():
            i += 1
        elif char in "\"'":
            value, i = _read_string(text, i)
            tokens.append(_Token("string", text[column - 1 : i], column, value))
        elif char in _PUNCT:
            tokens.append(_Token(char, char, column))
            i += 1
        elif text.startswith(("!=", "<=", ">="), i):
            tokens.append(_Token("op", text[i : i + 2], column))
            i += 2
        elif char in "=<>~":
            tokens.append(_Token("op", char, column))
            i += 1
        elif (number := _NUMBER.match(text, i)) is not None:
            literal = number.group()
            is_float = any(c in literal for c in ".eE")
            tokens.append(
                _Token("number", literal, column, float(literal) if is_float else int(literal))
            )
            i = number.end()
        elif (ident := _IDENT.match(text, i)) is not None:
            tokens.append(_Token("ident", ident.group(), column))
            i = ident.end()
        else:
            raise FilterError(f"unexpected character {char!r}", column)
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
            out.append(text[i + 1])
            i += 2
        elif char == quote:
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise FilterError("unterminated string starting", start + 1)


def _describe(token: _Token) -> str:
    return "the end" if token.kind == "end" else repr(token.text)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.i]

    def _keyword(self, word: str) -> bool:
        token = self.token
        if token.kind == "ident" and token.text.lower() == word:
            self.i += 1
            return True
        return False

    def parse(self) -> Node:
        if self.token.kind == "end":
            raise FilterError("expected a condition", self.token.column)
        node = self._or()
        if self.token.kind != "end":
            raise FilterError(
                f"expected 'and', 'or' or the end, found {_describe(self.token)}", self.token.column
            )
        return node

    def _or(self) -> Node:
        operands = [self._and()]
        while self._keyword("or"):
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _and(self) -> Node:
        operands = [self._unary()]
        while self._keyword("and"):
            operands.append(self._unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _unary(self) -> Node:
        if self._keyword("not"):
            return Not(self._unary())
        if self.token.kind == "(":
            opened = self.token
            self.i += 1
            node = self._or()
            if self.token.kind != ")":
                raise FilterError(
                    f"expected ')' to close the '(' at column {opened.column}, "
                    f"found {_describe(self.token)}",
                    self.token.column,
                )
            self.i += 1
            return node
        if self._keyword("exists"):
            return Exists(self._path("after 'exists'"))
        path = self._path("")
        op_token = self.token
        if op_token.kind != "op":
            raise FilterError(
                f"expected an operator (= != < <= > >= ~) after {str(path)!r}, "
                f"found {_describe(op_token)}",
                op_token.column,
            )
        self.i += 1
        op = next(o for o in OPERATORS if o == op_token.text)
        value_token = self.token
        value = self._value(op_token)
        if op == "~" and not isinstance(value, str):
            raise FilterError("'~' needs a string after it", value_token.column)
        if op in ("<", "<=", ">", ">=") and (value is None or isinstance(value, bool)):
            raise FilterError(
                f"'{op}' compares numbers or strings, not {value_token.text}", value_token.column
            )
        return Compare(path, op, value)

    def _path(self, where: str) -> FieldPath:
        token = self.token
        if token.kind == "ident" and token.text.lower() not in _KEYWORDS:
            segments: list[str | int] = [token.text]
        elif token.kind == "string":
            segments = [self._key(token)]
        else:
            context = f" {where}" if where else ""
            raise FilterError(
                f"expected a field name{context}, found {_describe(token)}", token.column
            )
        self.i += 1
        while self.token.kind in (".", "["):
            if self.token.kind == ".":
                self.i += 1
                key = self.token
                if key.kind == "ident":
                    segments.append(key.text)
                elif key.kind == "string":
                    segments.append(self._key(key))
                else:
                    raise FilterError(
                        f"expected a key after '.', found {_describe(key)}", key.column
                    )
                self.i += 1
            else:
                self.i += 1
                index = self.token
                if index.kind != "number" or not isinstance(index.value, int) or index.value < 0:
                    raise FilterError(
                        f"expected an array index (0, 1, ...) after '[', found {_describe(index)}",
                        index.column,
                    )
                self.i += 1
                if self.token.kind != "]":
                    raise FilterError(
                        f"expected ']' after the index, found {_describe(self.token)}",
                        self.token.column,
                    )
                self.i += 1
                segments.append(index.value)
        return FieldPath(tuple(segments))

    @staticmethod
    def _key(token: _Token) -> str:
        key = str(token.value)
        if '"' in key:
            raise FilterError("a key cannot contain '\"'", token.column)
        return key

    def _value(self, op_token: _Token) -> Literal:
        token = self.token
        if token.kind in ("string", "number"):
            self.i += 1
            return token.value
        if token.kind == "ident" and token.text.lower() in ("true", "false", "null"):
            self.i += 1
            return {"true": True, "false": False, "null": None}[token.text.lower()]
        raise FilterError(
            f"expected a value after '{op_token.text}', found {_describe(token)}", token.column
        )


def parse_filter(text: str) -> Node:
    """Parse a filter expression; raises ``FilterError`` with the column of the problem."""
    return _Parser(text).parse()
