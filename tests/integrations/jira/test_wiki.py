"""Markdown to Jira wiki markup (integrations/jira/wiki.py): each construct the incident document and
its writers use, the escaping of text that Jira would read as markup, and a property: any text
converts without raising and keeps its words."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.incident.test_document import the_policy, whole_incident
from warroom.incident.document import render
from warroom.incident.state import fold
from warroom.integrations.jira.wiki import closing, inline, to_wiki

# ----------------------------------------------------------------------------------------- blocks


@pytest.mark.parametrize(("markdown", "wiki"), [
    ("# Incident INC-42", "h1. Incident INC-42"),
    ("## Summary", "h2. Summary"),
    ("###### six", "h6. six"),
    ("## Closed ##", "h2. Closed"),
    ("Title\n=====", "h1. Title"),
    ("Title\n---", "h2. Title"),
    ("#inc-bridge", "\\#inc-bridge"),  # not a heading in Markdown, not a numbered list in Jira
])
def test_headings(markdown: str, wiki: str) -> None:
    assert to_wiki(markdown) == wiki


def test_bullet_lists_nest_by_repeating_the_marker() -> None:
    markdown = "- operations lead: dan\n  - database: bob (sub-lead)\n    - replica: eve\n- planning lead: grace"
    assert to_wiki(markdown) == ("* operations lead: dan\n** database: bob (sub-lead)\n*** replica: eve\n"
                                 "* planning lead: grace")
    assert to_wiki("* one\n+ two") == "* one\n* two"


def test_numbered_lists_and_mixed_nesting() -> None:
    assert to_wiki("1. stop the bleeding\n2. restore service\n3) preserve evidence") == (
        "# stop the bleeding\n# restore service\n# preserve evidence")
    assert to_wiki("1. roll back\n   - checkout\n   - search\n2. watch") == (
        "# roll back\n#* checkout\n#* search\n# watch")


def test_a_list_item_wrapped_over_lines_is_one_jira_item() -> None:
    assert to_wiki("- a long item\n  that goes on\n- next") == "* a long item that goes on\n* next"
    assert to_wiki("- lazy\ncontinuation") == "* lazy continuation"


def test_task_lists() -> None:
    assert to_wiki("- [ ] revert d1\n- [x] page bob") == "* ☐ revert d1\n* ☑ page bob"


def test_tables() -> None:
    markdown = "| role | who |\n|---|:---:|\n| IC | **alice** |\n| ops |  |\n| comms | a \\| b |"
    assert to_wiki(markdown) == "||role||who||\n|IC|*alice*|\n|ops| |\n|comms|a \\| b|"


def test_code_blocks() -> None:
    assert to_wiki("```python\nprint({'a': [1]})\n```") == "{code:python}\nprint({'a': [1]})\n{code}"
    assert to_wiki("```\n*not bold* [x](y)\n```") == "{noformat}\n*not bold* [x](y)\n{noformat}"
    assert to_wiki("~~~text\nplain\n~~~") == "{noformat}\nplain\n{noformat}"  # no language Jira knows
    assert to_wiki("```\nsays {noformat}\n```") == "{code:none}\nsays {noformat}\n{code}"
    assert to_wiki("para\n\n    indented code\n    more\n\nafter") == (
        "para\n\n{noformat}\nindented code\nmore\n{noformat}\n\nafter")
    assert to_wiki("```sh\nunclosed") == "{code:sh}\nunclosed\n{code}"


def test_quotes_and_rules() -> None:
    assert to_wiki("> the IC said\n> **continue**") == "{quote}\nthe IC said\n*continue*\n{quote}"
    assert to_wiki("> > nested") == "{quote}\nnested\n{quote}"  # Jira cannot nest {quote}
    assert to_wiki("above\n\n---\n\nbelow") == "above\n\n----\n\nbelow"
    assert to_wiki("***") == "----"
    assert to_wiki("_ _ _") == "----"


def test_lines_blank_lines_and_the_final_newline_are_kept() -> None:
    assert to_wiki("a\nb\n\n\nc\n") == "a\nb\n\n\nc\n"
    assert to_wiki("") == ""
    assert to_wiki("a\r\nb") == "a\nb"


# ----------------------------------------------------------------------------------------- inline


@pytest.mark.parametrize(("markdown", "wiki"), [
    ("**closed**, severity SEV2", "*closed*, severity SEV2"),
    ("__bold__", "*bold*"),
    ("_(last updated at 03:11 by frank)_", "_(last updated at 03:11 by frank)_"),
    ("*italic* text", "_italic_ text"),
    ("~~struck~~", "-struck-"),
    ("**bold with _italic_ inside**", "*bold with _italic_ inside*"),
    ("un**believ**able", "un{*}believ{*}able"),  # inside a word Jira needs the braced form
    ("`/evidence/INC-42/1-logs`", "{{/evidence/INC-42/1-logs}}"),
    ("`a_b*c* {x}`", "{{a_b*c\\* \\{x\\}}}"),  # a star inside a word is no markup in Jira
    ("`` a ` b ``", "{{a ` b}}"),
    ("ticket [OPS-7](https://jira.example.com/browse/OPS-7)", "ticket [OPS-7|https://jira.example.com/browse/OPS-7]"),
    ("[alice's desk](/runs/flow-run/42)", "[alice's desk|/runs/flow-run/42]"),
    ('[docs](https://x.example/a b "Title")', "[docs|https://x.example/a%20b]"),
    ("[a|b](https://x.example/?q=a|b)", "[a\\|b|https://x.example/?q=a%7Cb]"),
    ("[**bold** link](https://x.example)", "[*bold* link|https://x.example]"),
    ("[](https://x.example)", "[https://x.example]"),
    ("![graph](https://x.example/g.png)", "[graph|https://x.example/g.png]"),
    ("<https://x.example/a_b>", "[https://x.example/a_b]"),
    ("see https://wiki.example.com/incident_management-v2.", "see https://wiki.example.com/incident_management-v2."),
    ("https://x.example/a\\\\b", "https://x.example/a%5C%5Cb"),  # no \\\\ (a line break in Jira)
])
def test_inline_markup(markdown: str, wiki: str) -> None:
    assert inline(markdown) == wiki


@pytest.mark.parametrize(("text", "wiki"), [
    ("a {literal} brace", "a \\{literal\\} brace"),
    ("[not a link] and a|pipe", "\\[not a link\\] and a\\|pipe"),
    ("wow!", "wow\\!"),
    ("INC-42 on 2026-11-26, a sub-lead, snake_case, a+b", "INC-42 on 2026-11-26, a sub-lead, snake_case, a+b"),
    ("- dash at the start -x- -- and ---", "\\- dash at the start \\-x\\- \\-\\- and \\-\\-\\-"),
    ("+ins+ ^sup^ ~sub~", "\\+ins\\+ \\^sup\\^ \\~sub\\~"),
    ("2 * 3 * 4", "2 \\* 3 \\* 4"),
    ("why? ??cite??", "why? \\?\\?cite\\?\\?"),
    ("C:\\temp\\x", "C:&#92;temp&#92;x"),
    ("escaped \\*star\\* in Markdown", "escaped \\*star\\* in Markdown"),
    ("(x) (/) (!) (on) :) ;) (drill) (sub-lead)", "\\(x) \\(/) \\(\\!) \\(on) :\\) ;\\) (drill) (sub-lead)"),
    ("#1 is the bug, see #2", "\\#1 is the bug, see #2"),
    ("a_b_c and _x", "a_b_c and \\_x"),
    ("**unclosed bold", "\\*\\*unclosed bold"),
    ("`unclosed code", "`unclosed code"),
])
def test_text_is_escaped_where_jira_would_read_markup(text: str, wiki: str) -> None:
    assert inline(text) == wiki


def test_a_list_item_or_a_heading_or_a_table_cell_escapes_its_text_too() -> None:
    assert to_wiki("- 03:09 · dan · mitigation {rollback} [d1] a|b") == (
        "* 03:09 · dan · mitigation \\{rollback\\} \\[d1\\] a\\|b")
    assert to_wiki("## Status {x}") == "h2. Status \\{x\\}"
    assert to_wiki("| a |\n|---|\n| {x} |") == "||a||\n|\\{x\\}|"


# ------------------------------------------------------------------------------ the whole document


def test_the_whole_incident_document_converts_construct_by_construct() -> None:
    markdown = render(fold(whole_incident().records), the_policy(), ("next status update due 03:40 UTC",))
    wiki = to_wiki(markdown)
    lines = wiki.splitlines()
    assert lines[0] == "h1. Incident INC-42 · Checkout returns 500s: 2026-11-26"
    assert lines[2] == "Incident management info: https://wiki.example.com/incident-management"
    assert "_(last updated at 2026-11-26 03:11:00 UTC by frank)_" in lines
    assert "*closed*, severity SEV2, ticket [OPS-7|https://jira.example.com/browse/OPS-7]" in lines
    assert "* next status update due 03:40 UTC" in lines
    assert "\\#inc-bridge" in lines
    assert "** database: bob (sub-lead)" in lines
    assert ("* DONE evidence logs: {{/evidence/INC-42/1-logs}} sha256 {{abababababababab…}} "
            "(2026-11-26 03:16:00 UTC)") in lines
    assert ("* 2026-11-26 03:01:00 UTC · alice · declared SEV2 on checkout, alice commanding "
            "(customers can see it)") in lines
    headings = [line for line in lines if line.startswith("h2. ")]
    assert len(headings) == 8 and headings[-1] == "h2. Timeline (newest first, UTC)"
    # nothing of Markdown's is left to show as typed
    markdown_left = re.compile(r"^(#+ |- |\s+- )|\*\*\S|\]\(")
    assert not [line for line in lines if markdown_left.search(line)]
    assert len(lines) == len(markdown.splitlines())  # line for line


def test_the_note_for_an_unset_incident_management_link_keeps_its_code() -> None:
    markdown = render(fold(whole_incident().records), the_policy().model_copy(update={"incident_management_info": ""}))
    assert ("Incident management info: (not set: put a link in policy.yaml, {{incident_management_info}})"
            in to_wiki(markdown).splitlines())


# ---------------------------------------------------------------------------------------- closing


def test_closing_names_the_blocks_a_cut_left_open() -> None:
    assert closing(to_wiki("a\n```python\nx = 1")[: -len("\n{code}")]) == "{code}"
    assert closing("{quote}\n{noformat}\nx") == "{noformat}\n{quote}"
    assert closing("{quote}\n{noformat}\n{quote}\n") == "{noformat}\n{quote}"  # inside noformat: text
    assert closing(to_wiki("> quoted\n\n```\ncode\n```\n")) == ""
    assert closing("a \\{quote\\} b") == ""


# --------------------------------------------------------------------------------------- property

MARKDOWN_BITS = st.sampled_from([
    "#", "##", "- ", "* ", "+ ", "1. ", "  ", "    ", "> ", "```", "```python", "~~~", "---", "***", "|", "| a |",
    "|---|", "\n| ab | cd |\n|---|---|\n|",
    "`", "``", "*", "**", "_", "__", "~~", "[", "]", "(", ")", "![", "](", "<", ">", "http://", "https://",
    "\\", "{", "}", "!", "?", "??", "^", "+", "-", ":)", "(x)", "[ ] ", "[x] ", "h1. ", "\n", "\n\n", " ", "\t",
])
WORDS = st.from_regex(r"[A-Za-z][A-Za-z0-9]{1,8}", fullmatch=True)
MARKDOWN = st.lists(st.one_of(MARKDOWN_BITS, WORDS, st.text(max_size=3)), max_size=40).map("".join)


def words(text: str) -> list[str]:
    """The words a reader sees: runs of letters and digits. A fence's info string (in a quote too) is
    not text (a Markdown renderer does not show it), nor are a list's numbers or a task's ``x``: left
    out."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = [line for line in lines if not re.match(r"^[ \t>]*(```|~~~)", line)]
    return [w for w in re.findall(r"[^\W_]+", "\n".join(lines)) if len(w) > 1 and not w.isdigit()]


def kept_in_order(wanted: list[str], wiki: str) -> bool:
    at = 0
    for word in wanted:
        found = wiki.find(word, at)
        if found < 0:
            return False
        at = found + len(word)
    return True


@settings(max_examples=400, deadline=None)
@given(MARKDOWN)
def test_any_text_converts_without_raising_and_keeps_every_word_in_order(markdown: str) -> None:
    wiki = to_wiki(markdown)
    assert kept_in_order(words(markdown), wiki), (markdown, wiki)
    assert closing(wiki) == ""  # every block it opens, it closes


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_unicode_converts_and_keeps_its_words(text: str) -> None:
    assert kept_in_order(words(text), to_wiki(text))
