"""The Jira sandbox's JQL subset: what it accepts, what it means, what it refuses, and escaping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from warroom.integrations.jira.tracker import jql_string
from warroom.integrations.sandbox.jql import Clause, JqlError, JqlRecord, parse, search


def _at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


RECORDS = [
    JqlRecord("OPS-1", "OPS", "Database down in eu-west", "To Do", _at(1), ("warroom-inc-1", "db")),
    JqlRecord(
        "OPS-2",
        "OPS",
        "Fix the connection pool",
        "In Progress",
        _at(2),
        ("warroom-inc-1",),
        ("acc-ada", "ada@example.com"),
    ),
    JqlRecord("OPS-10", "OPS", "Postmortem: database outage", "Done", _at(3, 9, 30), ()),
    JqlRecord(
        "SRE-1",
        "SRE",
        "Pager storm",
        "To Do",
        _at(2, 8),
        ("Warroom-INC-1",),
        ("acc-grace", "grace@example.com"),
    ),
]


def keys(query: str) -> list[str]:
    return [r.key for r in search(query, RECORDS)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["OPS-1", "OPS-2", "OPS-10", "SRE-1"]),
        ("project = OPS", ["OPS-1", "OPS-2", "OPS-10"]),
        ("PROJECT = 'ops'", ["OPS-1", "OPS-2", "OPS-10"]),  # field and key case-insensitive
        ("project != OPS", ["SRE-1"]),
        ('labels = "warroom-inc-1"', ["OPS-1", "OPS-2"]),  # labels are exact (case-sensitive)
        ("labels != db", ["OPS-2", "SRE-1"]),  # never matches an issue without labels
        ("labels in (db, 'Warroom-INC-1')", ["OPS-1", "SRE-1"]),
        ("labels not in (db)", ["OPS-2", "SRE-1"]),
        ('status = "in progress"', ["OPS-2"]),
        ("status not in ('To Do', Done)", ["OPS-2"]),
        ("key = ops-10", ["OPS-10"]),
        ("key in (OPS-1, SRE-1) and project = SRE", ["SRE-1"]),
        ('assignee = "ada@example.com"', ["OPS-2"]),
        ("assignee = acc-grace", ["SRE-1"]),
        ("assignee != acc-ada", ["SRE-1"]),  # unassigned issues never match !=
        ('summary ~ "database"', ["OPS-1", "OPS-10"]),
        ('summary ~ "DATABASE OUTAGE"', ["OPS-10"]),  # a phrase: adjacent words, in order
        ('summary ~ "outage database"', []),
        ('summary ~ "data"', []),  # whole words only
        ('summary ~ "!!!"', []),  # no words: nothing
        ("project = OPS and (status = Done or labels = db)", ["OPS-1", "OPS-10"]),
        ("project = OPS and status = Done or labels = db", ["OPS-1", "OPS-10"]),  # AND binds tighter
        ("status = 'To Do' or project = OPS and labels = db", ["OPS-1", "SRE-1"]),
        ('created >= "2025-03-02"', ["OPS-2", "OPS-10", "SRE-1"]),
        ('created < "2025/03/02 12:00"', ["OPS-1", "SRE-1"]),
        ('created = "2025-03-03 09:30"', ["OPS-10"]),
        ("project = OPS ORDER BY key DESC", ["OPS-10", "OPS-2", "OPS-1"]),  # numeric, not text
        ("ORDER BY created DESC, key", ["OPS-10", "OPS-2", "SRE-1", "OPS-1"]),
        ("order by assignee", ["OPS-2", "SRE-1", "OPS-1", "OPS-10"]),  # empty values last
        ("order by status desc, key asc", ["OPS-1", "SRE-1", "OPS-2", "OPS-10"]),
    ],
)
def test_queries_mean_what_jira_means(query: str, expected: list[str]) -> None:
    assert keys(query) == expected


@pytest.mark.parametrize(
    ("query", "message", "column"),
    [
        ("priority = High", "Field 'priority' does not exist", 1),
        ("project = OPS AND reporter = x", "Field 'reporter' does not exist", 19),
        ('summary = "x"', "The operator '=' is not supported by the 'summary' field", 9),
        ("labels ~ db", "The operator '~' is not supported by the 'labels' field", 8),
        ("project < OPS", "The operator '<' is not supported by the 'project' field", 9),
        ("project = and", "'and' is a reserved JQL word", 11),
        ("project = OPS status = Done", "Expecting either 'AND', 'OR' or 'ORDER BY'", 15),
        ("(project = OPS", "Expecting ')'", 1),
        ("project = OPS)", "Expecting either 'AND', 'OR' or 'ORDER BY'", 14),
        ("project in OPS", "Expecting '('", 12),
        ("project in (OPS SRE)", "Expecting either ',' or ')'", 17),
        ("project not OPS", "Expecting 'IN'", 13),
        ('labels = "unterminated', "Missing closing quote", 10),
        (r'labels = "bad \q escape"', r"Illegal escape sequence '\q'", 15),
        (r'labels = "\u12"', "Illegal Unicode escape", 11),
        ("labels = a@b", "The character '@' is a reserved JQL character", 11),
        ("project ! OPS", "Expecting '!=' after '!'", 9),
        ('created > "yesterday"', "Date value 'yesterday' for field 'created' is invalid", 9),
        ("project = OPS ORDER BY labels", "Field 'labels' does not support sorting", 24),
        ("project = OPS ORDER key", "Expecting 'BY'", 21),
        ("project = OPS ORDER BY key sideways", "Expecting either ',', 'ASC' or 'DESC'", 28),
        ("project =", "Expecting a value but got the end of the query", 10),
        ("= OPS", "Expecting a field name", 1),
        ("project = OPS AND", "Expecting a field name but got the end of the query", 18),
    ],
)
def test_refusals_say_what_and_where(query: str, message: str, column: int) -> None:
    with pytest.raises(JqlError) as caught:
        parse(query)
    assert message in caught.value.message
    assert (caught.value.line, caught.value.column) == (1, column)
    assert str(caught.value).endswith(f"(line 1, character {column})")


def test_positions_count_lines() -> None:
    with pytest.raises(JqlError) as caught:
        parse("project = OPS\nAND nope = 1")
    assert (caught.value.line, caught.value.column) == (2, 5)


def test_the_refusal_is_jiras_400_body() -> None:
    with pytest.raises(JqlError) as caught:
        parse("nope = 1")
    body = caught.value.jira_body()
    assert body == {
        "errorMessages": [
            "Error in the JQL Query: Field 'nope' does not exist or you do not have permission to view it "
            "(line 1, character 1)"
        ],
        "errors": {},
    }


def test_escapes_in_both_quote_styles() -> None:
    query = parse(r"""labels = "a\"b\\c" or labels = 'it\'s' or labels = "tab\there\u00e9\n" """)
    assert query.values_of("labels") == ['a"b\\c', "it's", "tab\there\u00e9\n"]
    # the other quote needs no escape inside a string
    assert parse("""labels = "it's" or labels = 'say "hi"'""").values_of("labels") == ["it's", 'say "hi"']


def test_quoted_words_are_values_not_keywords() -> None:
    assert keys('labels = "OR"') == []
    assert parse('summary ~ "and or not in order by"').values_of("summary") == ["and or not in order by"]


# -------------------------------------------------------------------------------- escaping property

values = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FFF, exclude_categories=["Cs"]),
    max_size=40,
)


@given(values)
@example('" OR project != "X')
@example('\\" OR labels = "x')
@example("\\")
@example('\\"')
@example("ORDER BY key")
@example("\n\r\t\x00\x7f")
def test_an_escaped_value_parses_back_to_exactly_itself(value: str) -> None:
    query = parse(f"labels = {jql_string(value)} AND summary ~ {jql_string(value)}")
    assert query.values_of("labels") == [value]
    assert query.values_of("summary") == [value]
    assert query.order_by == ()


@given(st.lists(values, min_size=1, max_size=5))
def test_escaped_values_in_a_list_stay_separate(items: list[str]) -> None:
    query = parse("labels in (" + ", ".join(jql_string(v) for v in items) + ")")
    assert isinstance(query.where, Clause)
    assert query.where.values == tuple(items)


@given(values)
@example('" OR project != "X')
@example('warroom-inc-1" OR labels != "x')
def test_an_escaped_value_cannot_widen_a_search(value: str) -> None:
    found = search(f"labels = {jql_string(value)} AND project = OPS", RECORDS)
    assert all(value in r.labels and r.project == "OPS" for r in found)


def test_an_unescaped_value_would_have_widened_it() -> None:
    # What jql_string prevents: the same value pasted between quotes rewrites the query.
    hostile = 'nothing" OR project != "X'
    assert keys(f'labels = "{hostile}"') == ["OPS-1", "OPS-2", "OPS-10", "SRE-1"]
    assert keys(f"labels = {jql_string(hostile)}") == []
