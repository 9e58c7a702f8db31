"""A parser and evaluator for the subset of JQL that the Jira sandbox understands.

The sandbox answers ``/search/jql`` with it, so warroom's searches are really parsed and really
evaluated: a query that would be refused by Jira is refused here too (as :class:`JqlError`), and a
value that was not escaped properly changes what the query means, as it would on the real service.

The subset
==========

Query::

    query    := [or_expr] [ORDER BY sort ("," sort)*]
    or_expr  := and_expr (OR and_expr)*
    and_expr := term (AND term)*
    term     := "(" or_expr ")" | clause
    clause   := field op value | field [NOT] IN "(" value ("," value)* ")"
    sort     := field [ASC | DESC]

Keywords (``AND OR NOT IN IS EMPTY NULL ORDER BY ASC DESC``) are case-insensitive and reserved: as a
value they must be quoted. Field names are case-insensitive.

Values are either quoted or bare words:

- quoted with ``"..."`` or ``'...'``; a backslash escapes ``\\"``, ``\\'``, ``\\\\``, ``\\n``,
  ``\\r``, ``\\t``, ``\\ `` (space) and ``\\uXXXX``; any other escape is an error;
- bare words are letters, digits, ``_`` and ``-`` (``OPS``, ``OPS-12``, ``Done``).

Fields, their operators and what they mean:

============  ==========================================  ==============================================
field         operators                                   matches
============  ==========================================  ==============================================
project       ``=  !=  IN  NOT IN``                       the project key, case-insensitive
key           ``=  !=  IN  NOT IN``                       the issue key, case-insensitive
status        ``=  !=  IN  NOT IN``                       the status name, case-insensitive
labels        ``=  !=  IN  NOT IN``                       a label, exactly (case-sensitive); ``!=`` and
                                                          ``NOT IN`` never match an issue without labels
assignee      ``=  !=  IN  NOT IN``                       the assignee's accountId or e-mail address;
                                                          ``!=`` and ``NOT IN`` never match an
                                                          unassigned issue
summary       ``~``                                       case-insensitive word/phrase match: the
                                                          value's words appear, in order and adjacent,
                                                          among the summary's words (a word is a run of
                                                          letters and digits); a value without words
                                                          matches nothing
created       ``=  !=  <  <=  >  >=  IN  NOT IN``         ``yyyy-MM-dd``, ``yyyy/MM/dd``,
                                                          ``yyyy-MM-dd HH:mm`` or ``yyyy/MM/dd HH:mm``,
                                                          in UTC, compared to the minute
============  ==========================================  ==============================================

``ORDER BY`` accepts every field but ``labels`` (as Jira: labels cannot be sorted); the default
direction is ``ASC``; ``key`` sorts by project, then number. Without ``ORDER BY``, issues keep the
order they are given in. An empty query matches every issue.

Anything else (an unknown field, an operator a field does not support, a missing parenthesis, a
reserved word used as a bare value) raises :class:`JqlError` with the character position, which
the sandbox turns into Jira's 400 body (:meth:`JqlError.jira_body`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "FIELDS",
    "And",
    "Clause",
    "JqlError",
    "JqlQuery",
    "JqlRecord",
    "Or",
    "SortKey",
    "parse",
    "search",
]

FIELDS: tuple[str, ...] = ("project", "key", "status", "labels", "assignee", "summary", "created")

_EQUALITY = frozenset({"=", "!=", "in", "not in"})
_OPERATORS: dict[str, frozenset[str]] = {
    "project": _EQUALITY,
    "key": _EQUALITY,
    "status": _EQUALITY,
    "labels": _EQUALITY,
    "assignee": _EQUALITY,
    "summary": frozenset({"~"}),
    "created": _EQUALITY | {"<", "<=", ">", ">="},
}
_SORTABLE = frozenset(FIELDS) - {"labels"}
RESERVED = frozenset({"and", "or", "not", "in", "is", "empty", "null", "order", "by", "asc", "desc"})
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t", " ": " "}
_WORD_CHARS = re.compile(r"[\w-]")
_WORDS = re.compile(r"[^\W_]+")
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")


class JqlError(ValueError):
    """A query outside the subset. ``position`` is the 0-based index of the offending character."""

    def __init__(self, message: str, query: str, position: int) -> None:
        self.message = message
        self.query = query
        self.position = position
        line = query.count("\n", 0, position) + 1
        column = position - (query.rfind("\n", 0, position) + 1) + 1
        self.line = line
        self.column = column
        super().__init__(f"{message} (line {line}, character {column})")

    @property
    def jira_message(self) -> str:
        """The message as Jira words it."""
        return f"Error in the JQL Query: {self}"

    def jira_body(self) -> dict[str, object]:
        """Jira's 400 body for a query it cannot parse."""
        return {"errorMessages": [self.jira_message], "errors": {}}


@dataclass(frozen=True)
class JqlRecord:
    """What the evaluator sees of an issue.

    ``assignee`` holds every identifier the assignee answers to (accountId, e-mail address); empty
    when the issue is unassigned. ``created`` must be timezone-aware.
    """

    key: str
    project: str
    summary: str
    status: str
    created: datetime
    labels: tuple[str, ...] = ()
    assignee: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------- lexer

TokenKind = Literal["string", "word", "op", "(", ")", ",", "end"]


@dataclass(frozen=True)
class _Token:
    kind: TokenKind
    text: str  # the value for strings and words, the operator for ops
    position: int

    @property
    def keyword(self) -> str | None:
        """The reserved word this bare word is, lowercased; None for anything else."""
        if self.kind == "word" and self.text.lower() in RESERVED:
            return self.text.lower()
        return None

    def describe(self) -> str:
        if self.kind == "end":
            return "the end of the query"
        if self.kind == "string":
            return f"the string '{self.text}'"
        return f"'{self.text}'"


def _read_quoted(query: str, start: int) -> tuple[str, int]:
    quote = query[start]
    out: list[str] = []
    i = start + 1
    while i < len(query):
        char = query[i]
        if char == quote:
            return "".join(out), i + 1
        if char == "\\":
            if i + 1 >= len(query):
                break
            escaped = query[i + 1]
            if escaped == "u":
                digits = query[i + 2 : i + 6]
                if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                    raise JqlError("Illegal Unicode escape sequence '\\u" + digits + "'", query, i)
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            if escaped not in _ESCAPES:
                raise JqlError(f"Illegal escape sequence '\\{escaped}'", query, i)
            out.append(_ESCAPES[escaped])
            i += 2
            continue
        out.append(char)
        i += 1
    raise JqlError(f"Missing closing quote {quote} for the string starting here", query, start)


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(query):
        char = query[i]
        if char.isspace():
            i += 1
        elif char in "\"'":
            value, end = _read_quoted(query, i)
            tokens.append(_Token("string", value, i))
            i = end
        elif char in "(),":
            kind: TokenKind = char  # type: ignore[assignment]
            tokens.append(_Token(kind, char, i))
            i += 1
        elif char in "=~":
            tokens.append(_Token("op", char, i))
            i += 1
        elif char in "!<>":
            if query.startswith("=", i + 1):
                tokens.append(_Token("op", char + "=", i))
                i += 2
            elif char == "!":
                raise JqlError("Expecting '!=' after '!'", query, i)
            else:
                tokens.append(_Token("op", char, i))
                i += 1
        elif _WORD_CHARS.match(char):
            end = i
            while end < len(query) and _WORD_CHARS.match(query[end]):
                end += 1
            tokens.append(_Token("word", query[i:end], i))
            i = end
        else:
            raise JqlError(
                f"The character '{char}' is a reserved JQL character. "
                "You must enclose it in a string or use the escape '\\u"
                f"{ord(char):04x}' instead",
                query,
                i,
            )
    tokens.append(_Token("end", "", len(query)))
    return tokens


# ------------------------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Clause:
    """``field op value`` or ``field [NOT] IN (values)``; ``op`` is lowercase."""

    field: str
    op: str
    values: tuple[str, ...]
    dates: tuple[datetime, ...] = ()  # the values parsed, for ``created``

    def matches(self, record: JqlRecord) -> bool:
        if self.field == "summary":
            return _phrase_in(self.values[0], record.summary)
        if self.field == "created":
            return self._match_created(record.created)
        present, candidates = self._candidates(record)
        negative = self.op in ("!=", "not in")
        if not present:
            return False  # as Jira: a missing value never matches, not even '!='
        hit = any(self._equal(value, candidate) for value in self.values for candidate in candidates)
        return not hit if negative else hit

    def _candidates(self, record: JqlRecord) -> tuple[bool, tuple[str, ...]]:
        if self.field == "labels":
            return bool(record.labels), record.labels
        if self.field == "assignee":
            return bool(record.assignee), record.assignee
        single = {"project": record.project, "key": record.key, "status": record.status}[self.field]
        return True, (single,)

    def _equal(self, value: str, candidate: str) -> bool:
        if self.field == "labels":
            return value == candidate
        return value.casefold() == candidate.casefold()

    def _match_created(self, created: datetime) -> bool:
        at = created.astimezone(UTC).replace(second=0, microsecond=0, tzinfo=None)
        if self.op in ("=", "in"):
            return at in self.dates
        if self.op in ("!=", "not in"):
            return at not in self.dates
        bound = self.dates[0]
        return {
            "<": at < bound,
            "<=": at <= bound,
            ">": at > bound,
            ">=": at >= bound,
        }[self.op]


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]

    def matches(self, record: JqlRecord) -> bool:
        return all(item.matches(record) for item in self.items)


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]

    def matches(self, record: JqlRecord) -> bool:
        return any(item.matches(record) for item in self.items)


Node = Clause | And | Or


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class JqlQuery:
    """A parsed query: a condition (None matches everything) and an order."""

    where: Node | None
    order_by: tuple[SortKey, ...] = field(default=())

    def matches(self, record: JqlRecord) -> bool:
        return self.where is None or self.where.matches(record)

    def apply(self, records: Iterable[JqlRecord]) -> list[JqlRecord]:
        """The records that match, in the query's order (stable: ties keep the given order)."""
        found = [record for record in records if self.matches(record)]
        for sort in reversed(self.order_by):
            name = sort.field
            present = [r for r in found if _sort_value(name, r) is not None]
            absent = [r for r in found if _sort_value(name, r) is None]
            present.sort(key=functools.partial(_sort_value, name), reverse=sort.descending)
            found = present + absent  # as Jira: empty values sort last either way
        return found

    def values_of(self, field_name: str) -> list[str]:
        """Every value a clause on ``field_name`` compares with (handy for tests and the sandbox)."""
        out: list[str] = []
        stack: list[Node] = [self.where] if self.where is not None else []
        while stack:
            node = stack.pop()
            if isinstance(node, Clause):
                if node.field == field_name:
                    out.extend(node.values)
            else:
                stack.extend(reversed(node.items))
        return out


def _sort_value(field_name: str, record: JqlRecord) -> Any:
    if field_name == "key":
        project, _, number = record.key.rpartition("-")
        return (project.casefold(), int(number) if number.isdigit() else 0)
    if field_name == "created":
        return record.created
    if field_name == "assignee":
        return record.assignee[0].casefold() if record.assignee else None
    value: str = getattr(record, field_name)
    return value.casefold()


def _words(text: str) -> list[str]:
    return [word.casefold() for word in _WORDS.findall(text)]


def _phrase_in(phrase: str, text: str) -> bool:
    wanted = _words(phrase)
    if not wanted:
        return False
    have = _words(text)
    width = len(wanted)
    return any(have[i : i + width] == wanted for i in range(len(have) - width + 1))


# ------------------------------------------------------------------------------------------ parser


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = _tokenize(query)
        self.index = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def at(self, kind: TokenKind) -> bool:
        return self.tokens[self.index].kind == kind

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def error(self, message: str, token: _Token | None = None) -> JqlError:
        return JqlError(message, self.query, (token or self.token).position)

    def at_keyword(self, *words: str) -> bool:
        return self.token.keyword in words

    def expect_keyword(self, word: str) -> None:
        if not self.at_keyword(word):
            raise self.error(f"Expecting '{word.upper()}' but got {self.token.describe()}")
        self.advance()

    def parse(self) -> JqlQuery:
        where: Node | None = None
        if not self.at("end") and not self.at_keyword("order"):
            where = self.or_expr()
        order_by: tuple[SortKey, ...] = ()
        if self.at_keyword("order"):
            order_by = self.order_by()
        if not self.at("end"):
            expected = "'AND', 'OR' or 'ORDER BY'" if not order_by else "',', 'ASC' or 'DESC'"
            raise self.error(f"Expecting either {expected} but got {self.token.describe()}")
        return JqlQuery(where=where, order_by=order_by)

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.at_keyword("or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.term()]
        while self.at_keyword("and"):
            self.advance()
            items.append(self.term())
        return items[0] if len(items) == 1 else And(tuple(items))

    def term(self) -> Node:
        if self.at("("):
            opening = self.advance()
            node = self.or_expr()
            if not self.at(")"):
                if self.at("end"):
                    raise self.error("Expecting ')' to close the '(' here", opening)
                raise self.error(f"Expecting either 'AND', 'OR' or ')' but got {self.token.describe()}")
            self.advance()
            return node
        return self.clause()

    def field_name(self) -> str:
        token = self.token
        if token.kind not in ("word", "string") or token.keyword is not None:
            raise self.error(f"Expecting a field name but got {token.describe()}")
        name = token.text.lower()
        if name not in _OPERATORS:
            raise self.error(f"Field '{token.text}' does not exist or you do not have permission to view it")
        self.advance()
        return name

    def clause(self) -> Clause:
        name = self.field_name()
        op_token = self.token
        if op_token.kind == "op":
            op = self.advance().text
        elif self.at_keyword("in"):
            self.advance()
            op = "in"
        elif self.at_keyword("not"):
            self.advance()
            self.expect_keyword("in")
            op = "not in"
        else:
            raise self.error(f"Expecting an operator but got {op_token.describe()}")
        if op not in _OPERATORS[name]:
            raise self.error(
                f"The operator '{op.upper() if op.isalpha() or ' ' in op else op}' "
                f"is not supported by the '{name}' field",
                op_token,
            )
        values = self.value_list() if op in ("in", "not in") else (self.value(),)
        dates: tuple[datetime, ...] = ()
        if name == "created":
            dates = tuple(self.date(value, op_token) for value in values)
        return Clause(field=name, op=op, values=values, dates=dates)

    def value_list(self) -> tuple[str, ...]:
        if not self.at("("):
            raise self.error(f"Expecting '(' but got {self.token.describe()}")
        self.advance()
        values = [self.value()]
        while self.at(","):
            self.advance()
            values.append(self.value())
        if not self.at(")"):
            raise self.error(f"Expecting either ',' or ')' but got {self.token.describe()}")
        self.advance()
        return tuple(values)

    def value(self) -> str:
        token = self.token
        if token.kind == "string":
            return self.advance().text
        if token.kind == "word":
            if token.keyword is not None:
                raise self.error(
                    f"'{token.text}' is a reserved JQL word. "
                    "You must surround it in quotation marks to use it in a query"
                )
            return self.advance().text
        raise self.error(f"Expecting a value but got {token.describe()}")

    def date(self, value: str, at: _Token) -> datetime:
        for fmt in _DATE_FORMATS:
            try:
                return datetime.strptime(value.strip(), fmt)  # naive: UTC by definition
            except ValueError:
                continue
        raise self.error(
            f"Date value '{value}' for field 'created' is invalid. Valid formats include: "
            "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd'",
            at,
        )

    def order_by(self) -> tuple[SortKey, ...]:
        self.expect_keyword("order")
        self.expect_keyword("by")
        keys = [self.sort_key()]
        while self.at(","):
            self.advance()
            keys.append(self.sort_key())
        return tuple(keys)

    def sort_key(self) -> SortKey:
        token = self.token
        name = self.field_name()
        if name not in _SORTABLE:
            raise self.error(f"Field '{name}' does not support sorting", token)
        descending = False
        if self.at_keyword("asc", "desc"):
            descending = self.advance().text.lower() == "desc"
        return SortKey(field=name, descending=descending)


def parse(query: str) -> JqlQuery:
    """Parse ``query`` (see the module docstring for the subset); raise :class:`JqlError`."""
    return _Parser(query).parse()


def search(query: str, records: Sequence[JqlRecord]) -> list[JqlRecord]:
    """Parse ``query`` and apply it to ``records``."""
    return parse(query).apply(records)
