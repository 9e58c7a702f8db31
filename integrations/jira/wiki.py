"""Markdown to Jira wiki markup, for the incident ticket's description.

Jira's REST API v2 (which the ``jira`` client uses for ``description``) stores and renders Jira wiki
markup, not Markdown: ``## Summary``, ``**bold**`` and ``[text](url)`` would show as typed. The incident
document is Markdown (the Prefect artifact renders it), so :class:`JiraTracker` converts it here, at
the adapter's boundary. Pure functions, no I/O.

What is converted (everything the incident document and the people writing into it use):

==========================================  ==========================================
Markdown                                    Jira wiki markup
==========================================  ==========================================
``# x`` … ``###### x`` (and setext)         ``h1. x`` … ``h6. x``
``**x**`` / ``__x__``                       ``*x*``
``*x*`` / ``_x_``                           ``_x_``
``~~x~~``                                   ``-x-``
```x```                                     ``{{x}}``
``[text](url)``, ``![alt](src)``, ``<url>`` ``[text|url]``, ``[alt|src]``, ``[url]``
``- x`` / ``* x`` / ``+ x``, nested         ``* x``, ``** x`` (``*#`` when mixed)
``1. x`` / ``1) x``                         ``# x``
``- [ ] x`` / ``- [x] x``                   ``* ☐ x`` / ``* ☑ x``
tables (``| h |`` + ``|---|``)              ``||h||`` then ``|c|``
fenced code with a known language           ``{code:python}`` … ``{code}``
fenced code without one, indented code      ``{noformat}`` … ``{noformat}``
``> x``                                     ``{quote}`` … ``{quote}``
``---`` / ``***`` / ``___``                 ``----``
==========================================  ==========================================

Everything else is text, and text is escaped wherever Jira would read markup into it: ``{ } [ ] | !``
always; ``* _ + ^ ~ -`` unless they sit inside a word (Jira's phrase markup never starts or ends there,
so ``INC-42``, ``2026-11-26`` and ``snake_case`` stay as typed); ``??``; a ``#`` starting a line; the
parentheses of Jira's emoticons (``(x)``, ``(/)``, ``:)``); a backslash (``&#92;``: Jira reads ``\\\\``
as a line break and ``\\`` before a markup character as an escape). Bare URLs are kept as they are
(Jira links them). Inside code blocks nothing is escaped: Jira shows them verbatim.

Known limits: a line of text starting ``h1.`` … ``h6.`` or ``bq.`` followed by a space still becomes
a heading or a quote in Jira (no escape exists for a letter); ``:P`` and ``:D`` still become emoticons;
a numbered list always counts from 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["CODE_LANGUAGES", "closing", "inline", "to_wiki"]

#: languages Jira's ``{code}`` macro highlights; any other fence becomes ``{noformat}``
CODE_LANGUAGES = frozenset({
    "actionscript", "ada", "applescript", "bash", "c", "c#", "c++", "cpp", "css", "erlang", "go", "groovy",
    "haskell", "html", "java", "javascript", "js", "json", "lua", "none", "nyan", "objc", "perl", "php",
    "python", "r", "rainbow", "ruby", "scala", "sh", "sql", "swift", "visualbasic", "xml", "yaml",
})

_ALWAYS = frozenset("{}[]|!")
_PHRASE = frozenset("*_+^~-")
_BACKSLASH = "&#92;"
_EMOTICON = re.compile(r"\((?:y|n|i|/|x|!|\+|-|\?|on|off|\*[rgby]?|flag|flagoff)\)")
_MD_ESCAPABLE = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_URL = re.compile(r"https?://[^\s<>]+")
_URL_UNSAFE = {"|": "%7C", "[": "%5B", "]": "%5D", "{": "%7B", "}": "%7D", " ": "%20", "\\": "%5C"}

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FENCE = re.compile(r"^( *)(`{3,}|~{3,})[ \t]*([^`]*?)[ \t]*$")
_ITEM = re.compile(r"^([ \t]*)([-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$")
_TASK = re.compile(r"^\[([ xX])\](?:[ \t]+|$)")
_QUOTE = re.compile(r"^ {0,3}>[ ]?")
_DELIMITER = re.compile(r"^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_MACRO = re.compile(r"^\{(code|noformat|quote)(?::[^}]*)?\}$")


# ------------------------------------------------------------------------------------------ text


def _alnum(char: str) -> bool:
    return char.isalnum()


def _escape(text: str, before: str = "", after: str = "") -> str:
    """``text`` as Jira shows it literally. ``before`` and ``after`` are the characters around it in
    the output (a markup character next to a letter or digit is not markup)."""
    out: list[str] = []
    line_start = not before.strip()  # nothing but spaces before: a # would start a numbered list
    for i, char in enumerate(text):
        prev = text[i - 1] if i else before
        nxt = text[i + 1] if i + 1 < len(text) else after
        if char == "\\":
            out.append(_BACKSLASH)
        elif char in _ALWAYS:
            out.append("\\" + char)
        elif char in _PHRASE:
            out.append(char if _alnum(prev) and _alnum(nxt) else "\\" + char)
        elif char == "?":
            out.append("\\?" if "?" in (prev, nxt) else "?")
        elif char == "#":
            out.append("\\#" if line_start else "#")
        elif char == "(" and _EMOTICON.match(text, i):
            out.append("\\(")
        elif char in "()" and prev and prev in ":;":
            out.append("\\" + char)
        else:
            out.append(char)
        line_start = line_start and char.isspace()
    return "".join(out)


def _url(url: str) -> str:
    return "".join(_URL_UNSAFE.get(c, c) for c in url.strip())


def _closer(text: str, start: int, delim: str) -> int:
    """Where the emphasis opened by ``delim`` before ``start`` closes, or -1."""
    j = start
    while True:
        j = text.find(delim, j)
        if j < 0:
            return -1
        if text[j - 1] == "\\":  # an escaped delimiter
            j += 1
            continue
        after = text[j + len(delim)] if j + len(delim) < len(text) else ""
        ok = j > start and not text[j - 1].isspace()
        if delim[0] == "_" and _alnum(after):
            ok = False
        if len(delim) == 1 and after == delim:  # part of a double delimiter: skip both
            j += 2
            continue
        if ok:
            return j
        j += 1


def _code_span(text: str, i: int) -> tuple[str, int] | None:
    run = 0
    while i + run < len(text) and text[i + run] == "`":
        run += 1
    j = i + run
    while True:
        j = text.find("`" * run, j)
        if j < 0:
            return None
        end = j
        while end < len(text) and text[end] == "`":
            end += 1
        if end - j == run:
            content = text[i + run : j]
            if len(content) > 2 and content[0] == " " and content[-1] == " " and content.strip():
                content = content[1:-1]
            return content, end
        j = end


def _bracketed(text: str, i: int, open_: str, close: str) -> int:
    """The index of the ``close`` matching the ``open_`` at ``i`` (escapes and nesting), or -1."""
    depth = 0
    j = i
    while j < len(text):
        char = text[j]
        if char == "\\":
            j += 2
            continue
        if char == open_:
            depth += 1
        elif char == close:
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return -1


def _link(text: str, i: int) -> tuple[str, str, int] | None:
    """``[label](target "title")`` at ``i``: (label, target, end) or None."""
    end_label = _bracketed(text, i, "[", "]")
    if end_label < 0 or end_label + 1 >= len(text) or text[end_label + 1] != "(":
        return None
    end_target = _bracketed(text, end_label + 1, "(", ")")
    if end_target < 0:
        return None
    target = text[end_label + 2 : end_target].strip()
    if target.startswith("<") and ">" in target:
        target = target[1 : target.index(">")]
    else:
        target = re.sub(r"""\s+(?:"[^"]*"|'[^']*')$""", "", target)
    return text[i + 1 : end_label], target, end_target + 1


def inline(text: str) -> str:
    """One line of Markdown (no block syntax) as Jira wiki markup."""
    out: list[str] = []
    plain: list[str] = []
    i = 0

    def emitted() -> str:
        return out[-1][-1:] if out else ""

    def flush(after: str = "") -> None:
        if plain:
            out.append(_escape("".join(plain), emitted(), after))
            plain.clear()

    while i < len(text):
        char = text[i]
        rest = text[i:]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in _MD_ESCAPABLE:
            plain.append(text[i + 1])
            i += 2
            continue
        if char == "`":
            span = _code_span(text, i)
            if span is not None:
                content, end = span
                flush("{")
                out.append("{{" + _escape(content, "{", "}") + "}}" if content.strip() else _escape(content))
                i = end
                continue
            while i < len(text) and text[i] == "`":
                plain.append("`")
                i += 1
            continue
        if char == "!" and rest.startswith("!["):
            found = _link(text, i + 1)
            if found is not None:
                label, target, end = found
                flush("[")
                out.append(f"[{inline(label)}|{_url(target)}]" if label.strip() else f"[{_url(target)}]")
                i = end
                continue
        if char == "[":
            found = _link(text, i)
            if found is not None:
                label, target, end = found
                flush("[")
                if not target:
                    out.append(inline(label))
                else:
                    out.append(f"[{inline(label)}|{_url(target)}]" if label.strip() else f"[{_url(target)}]")
                i = end
                continue
        if char == "<":
            auto = re.match(r"<(https?://[^\s<>]+)>", rest)
            if auto:
                flush("[")
                out.append(f"[{_url(auto.group(1))}]")
                i += auto.end()
                continue
        if rest[:8].lower().startswith(("http://", "https://")) and not _alnum(plain[-1] if plain else emitted()):
            bare = _URL.match(rest)
            if bare:
                url = bare.group(0)
                while (url and url[-1] in ".,:;!?'\"") or (url.endswith(")") and url.count("(") < url.count(")")):
                    url = url[:-1]
                if len(url) > len("https://"):
                    flush(url[0])
                    out.append(_url(url))
                    i += len(url)
                    continue
        emphasis = _emphasis(text, i)
        if emphasis is not None:
            jira, content, end = emphasis
            before = plain[-1] if plain else emitted()
            after = text[end] if end < len(text) else ""
            flush(jira)
            inner = inline(content)
            braced = _alnum(before) or _alnum(after) or not inner or inner[0].isspace() or inner[-1].isspace()
            mark = "{" + jira + "}" if braced else jira
            out.append(f"{mark}{inner}{mark}")
            i = end
            continue
        plain.append(char)
        i += 1
    flush()
    return "".join(out)


def _emphasis(text: str, i: int) -> tuple[str, str, int] | None:
    """Markdown emphasis opening at ``i``: (Jira's mark, the content, where it ends) or None."""
    for delim, jira in (("**", "*"), ("__", "*"), ("~~", "-"), ("*", "_"), ("_", "_")):
        if not text.startswith(delim, i):
            continue
        start = i + len(delim)
        if start >= len(text) or text[start].isspace():
            return None
        if delim[0] == "_" and i and _alnum(text[i - 1]):
            return None
        if len(delim) == 1 and text[start] == delim:
            return None
        end = _closer(text, start, delim)
        if end < 0:
            continue
        return jira, text[start:end], end + len(delim)
    return None


# ---------------------------------------------------------------------------------------- blocks


def _cells(row: str) -> list[str]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|") and not row.endswith("\\|"):
        row = row[:-1]
    cells: list[str] = []
    current: list[str] = []
    ticks = False
    i = 0
    while i < len(row):
        char = row[i]
        if char == "\\" and i + 1 < len(row):
            current.append(row[i : i + 2])
            i += 2
            continue
        if char == "`":
            ticks = not ticks
        if char == "|" and not ticks:
            cells.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    cells.append("".join(current))
    return [c.strip() for c in cells]


def _cell(text: str) -> str:
    return inline(text) or " "


def _code_block(lines: list[str], language: str) -> list[str]:
    body = "\n".join(lines)
    lang = language.split()[0].lower() if language.split() else ""
    if lang in CODE_LANGUAGES and "{code" not in body:
        return [f"{{code:{lang}}}", *lines, "{code}"]
    if "{noformat}" not in body:
        return ["{noformat}", *lines, "{noformat}"]
    if "{code" not in body:
        return ["{code:none}", *lines, "{code}"]
    return ["{noformat}", *[line.replace("{noformat}", "{ noformat}") for line in lines], "{noformat}"]


def _item_text(line: str) -> tuple[int, str, str] | None:
    """A list item: (indent, ``*`` or ``#``, its text), or None."""
    found = _ITEM.match(line)
    if not found or _RULE.match(line):
        return None
    indent = len(found.group(1).expandtabs(4))
    marker = "#" if found.group(2)[0].isdigit() else "*"
    return indent, marker, found.group(3) or ""


def _blocks(lines: list[str]) -> Iterator[str]:
    stack: list[tuple[int, str]] = []  # the open lists: (indent, * or #)
    in_item = False  # the previous line was a list item (or its continuation)
    paragraph: int | None = None  # output index of the previous paragraph line, for setext headings
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line.strip():
            out.append("")
            in_item = False
            paragraph = None
            i += 1
            continue

        fence = _FENCE.match(line)
        if fence and (fence.group(2)[0] == "~" or "`" not in fence.group(3)):
            indent, mark = len(fence.group(1)), fence.group(2)
            body: list[str] = []
            i += 1
            while i < len(lines):
                closing = re.match(r"^ *(`{3,}|~{3,})[ \t]*$", lines[i])
                if closing and closing.group(1)[0] == mark[0] and len(closing.group(1)) >= len(mark):
                    i += 1
                    break
                raw = lines[i]
                body.append(raw[min(indent, len(raw) - len(raw.lstrip(" "))) :])
                i += 1
            out += _code_block(body, fence.group(3))
            stack, in_item, paragraph = [], False, None
            continue

        if paragraph is not None and _SETEXT.match(line):
            level = "1" if line.strip()[0] == "=" else "2"
            out[paragraph] = f"h{level}. " + out[paragraph]
            paragraph = None
            i += 1
            continue

        if _RULE.match(line):
            out.append("----")
            stack, in_item, paragraph = [], False, None
            i += 1
            continue

        heading = _HEADING.match(line)
        if heading:
            text = inline(heading.group(2) or "")
            out.append(f"h{len(heading.group(1))}. {text}" if text else "")
            stack, in_item, paragraph = [], False, None
            i += 1
            continue

        if _QUOTE.match(line):
            quoted: list[str] = []
            while i < len(lines) and _QUOTE.match(lines[i]):
                inner = lines[i]
                while _QUOTE.match(inner):  # a quote in a quote: Jira cannot nest {quote}
                    inner = _QUOTE.sub("", inner, count=1)
                quoted.append(inner)
                i += 1
            out += ["{quote}", *_blocks(quoted), "{quote}"]
            stack, in_item, paragraph = [], False, None
            continue

        if "|" in line and i + 1 < len(lines) and _DELIMITER.match(lines[i + 1]) and "|" in lines[i + 1]:
            out.append("||" + "||".join(_cell(c) for c in _cells(line)) + "||")
            i += 2
            while i < len(lines) and lines[i].strip() and "|" in lines[i]:
                out.append("|" + "|".join(_cell(c) for c in _cells(lines[i])) + "|")
                i += 1
            stack, in_item, paragraph = [], False, None
            continue

        item = _item_text(line)
        if item is not None:
            indent, marker, text = item
            while stack and stack[-1][0] > indent:
                stack.pop()
            if stack and stack[-1][0] == indent:
                stack[-1] = (indent, marker)
            else:
                stack.append((indent, marker))
            task = _TASK.match(text)
            if task:
                text = ("☐ " if task.group(1) == " " else "☑ ") + text[task.end() :]
            prefix = "".join(m for _, m in stack)
            out.append(f"{prefix} {inline(text)}" if text.strip() else f"{prefix} ")
            in_item, paragraph = True, None
            i += 1
            continue

        indented = len(line) - len(line.lstrip())
        if stack and (in_item or indented >= 2):
            # the item's text goes on (a lazy or indented continuation): Jira's item is one line
            last = len(out) - 1
            while last >= 0 and not out[last]:
                last -= 1
            if last >= 0 and out[last].startswith(("*", "#")):
                if last < len(out) - 1:
                    del out[last + 1 :]
                out[last] = (out[last] + " " + inline(line.strip())).rstrip()
                in_item = True
                i += 1
                continue

        if (line.startswith("    ") or line.startswith("\t")) and (not out or not out[-1]):
            block: list[str] = []
            while i < len(lines) and (lines[i].startswith(("    ", "\t")) or not lines[i].strip()):
                block.append(lines[i][4:] if lines[i].startswith("    ") else lines[i][1:])
                i += 1
            trailing = 0
            while block and not block[-1].strip():
                block.pop()
                trailing += 1
            out += _code_block(block, "") + [""] * trailing
            stack, in_item, paragraph = [], False, None
            continue

        stack, in_item = [], False
        out.append(inline(line.strip()))
        paragraph = len(out) - 1
        i += 1
    yield from out


def to_wiki(markdown: str) -> str:
    """``markdown`` as Jira wiki markup, line for line where Markdown has lines (a list item's wrapped
    lines become one). Never raises; keeps every word."""
    text = markdown.replace("\r\n", "\n").replace("\r", "\n")
    ends_with_newline = text.endswith("\n")
    lines = text.split("\n")
    if ends_with_newline:
        lines.pop()
    wiki = "\n".join(_blocks(lines))
    return wiki + "\n" if ends_with_newline else wiki


def closing(wiki: str) -> str:
    """What closes the blocks (``{code}``, ``{noformat}``, ``{quote}``) left open at the end of
    ``wiki``, as made by :func:`to_wiki` (say, once cut at a line): empty if none is open."""
    code: str | None = None
    quote = False
    for line in wiki.split("\n"):
        macro = _MACRO.match(line.strip())
        if not macro:
            continue
        name = macro.group(1)
        if code is not None:
            if line.strip() == "{" + code + "}":
                code = None
        elif name in ("code", "noformat"):
            code = name
        else:
            quote = not quote
    suffix = [f"{{{code}}}"] if code else []
    if quote:
        suffix.append("{quote}")
    return "\n".join(suffix)
