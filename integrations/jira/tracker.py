"""``JiraTracker``: the :class:`incident.ports.Tracker` port on Jira Cloud (``jira`` 3.10.5).

Side effects happen once (DESIGN §6):

- Filing is search-before-create on labels. Every issue warroom files carries ``warroom-<incident>``
  and a label unique to its intent, ``warroom-<incident>-<intent>`` (:func:`intent_label`); each
  attempt first searches for that pair and returns the issue it finds, so a retry after a create
  that timed out (and may have succeeded) finds the issue instead of filing a second one.
  The search does not name a project: an intent is filed once, wherever. Each description ends
  with a line ``warroom: {"incident": ..., "intent": ..., "kind": ...}`` so that
  :meth:`JiraTracker.find_followups` gives back the exact intent (a label is only its slug).
- The incident ticket's description is the incident document (:meth:`JiraTracker.set_document`),
  converted from Markdown to Jira wiki markup (:func:`integrations.jira.wiki.to_wiki`: REST v2
  renders wiki markup, not Markdown): warroom's part sits between two marker lines
  (:data:`DOCUMENT_BEGIN`, :data:`DOCUMENT_END`), and whatever people write above or below them is
  kept. It is read, and written only when warroom's part as stored (the converted text) would change,
  so a retry or a rerun writes nothing, and each change is one edit. Jira holds at most
  :data:`DESCRIPTION_MAX` characters: a longer document is cut at a line, with a note, and a code or
  quote block the cut leaves open is closed.
- A comment is posted again only if no new comment with the same body appeared since the first
  attempt; a transition is not repeated once the issue reached its target status; a remote link is
  not added twice for the same URL; an assignment is a plain overwrite.
- An attachment is added unless one of the same file name is on the issue (read again before a
  retry): :meth:`JiraTracker.attach_once` callers put the version (a hash) in the name.

Limit: Jira Cloud's search is eventually consistent, and a create can still be in flight when the
retry searches; the backoff between attempts (``RetryPolicy``) is what gives it time to land.

All retries go through :func:`integrations.retry.call_with_retry` (429, 5xx and connection errors,
honouring ``Retry-After``); the client's own retries are off (they sleep on the real clock and
ignore any deadline). Vendor failures become :class:`incident.errors.IntegrationError` naming Jira
and the call; the API token never appears in a message or a log line.

Every value put into JQL goes through :func:`jql_string`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from io import BytesIO
from typing import Any, TypeVar, cast, get_args

import requests
from jira import JIRA, JIRAError

from warroom.incident.errors import IntegrationError
from warroom.incident.models import FollowUp, FollowUpKind
from warroom.incident.ports import Ticket
from warroom.integrations.jira.credentials import JiraCredentials
from warroom.integrations.jira.wiki import closing, to_wiki
from warroom.integrations.retry import Retryable, RetryPolicy, call_with_retry, parse_retry_after, scrub

__all__ = [
    "DESCRIPTION_MAX",
    "DOCUMENT_BEGIN",
    "DOCUMENT_END",
    "SERVICE",
    "JiraTracker",
    "classify",
    "document_of",
    "incident_label",
    "intent_label",
    "jql_string",
    "kind_label",
    "with_document",
]

SERVICE = "Jira"
LABEL_PREFIX = "warroom"
FOLLOWUP_LABEL = "warroom-followup"
LABELS_PER_SEARCH = 50  # incidents a search of find_followups_of names (keeps the JQL short)
TICKET_LABEL = "warroom-incident"
TICKET_INTENT = "incident"
SUMMARY_MAX = 255
_SLUG_MAX = 80
_MARKER = "warroom: "
DESCRIPTION_MAX = 32_767  # Jira Cloud refuses a longer description
DOCUMENT_BEGIN = "---- warroom: the incident document, rewritten on every change (write above this line) ----"
DOCUMENT_END = "---- warroom: end of the incident document ----"
CUT_NOTE = ("… (cut here: Jira holds {limit:,} characters; the whole document, with the oldest of the "
            "timeline, is the incident's Prefect artifact)")
_SEARCH_FIELDS = ["summary", "labels", "status", "description"]
_RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_KINDS: tuple[str, ...] = get_args(FollowUpKind)

log = logging.getLogger(__name__)
T = TypeVar("T")


# ------------------------------------------------------------------------------- JQL and labels


def jql_string(value: str) -> str:
    """``value`` as one quoted JQL string literal, whatever it contains.

    Backslashes and double quotes are escaped, and so are control characters (``\\n``, ``\\r``,
    ``\\t``, others as ``\\uXXXX``), so no value can end the string early and change the query.
    """
    out = ['"']
    for char in value:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _slug(value: str) -> str:
    """Lowercase letters, digits and single dashes; a short hash is added when that lost anything
    but case (so distinct values keep distinct labels), and long values are cut."""
    lowered = value.lower()
    slug = re.sub(r"[^a-z0-9]+", "-", lowered).strip("-")
    lossy = slug != lowered or len(slug) > _SLUG_MAX or not slug
    if not lossy:
        return slug
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    slug = slug[:_SLUG_MAX].rstrip("-")
    return f"{slug}-{digest}" if slug else digest


def incident_label(incident_id: str) -> str:
    """The label every issue of the incident carries: ``warroom-<incident>``."""
    return f"{LABEL_PREFIX}-{_slug(incident_id)}"


def intent_label(incident_id: str, intent: str) -> str:
    """The label unique to one intent of one incident: ``warroom-<incident>-<intent>``."""
    return f"{incident_label(incident_id)}-{_slug(intent)}"


def kind_label(kind: str) -> str:
    """The label naming a follow-up's kind: ``warroom-kind-<kind>``."""
    return f"{LABEL_PREFIX}-kind-{_slug(kind)}"


def _clean_summary(summary: str) -> str:
    """Jira refuses newlines and more than 255 characters in a summary: fold and cut."""
    folded = " ".join(summary.split())
    if len(folded) > SUMMARY_MAX:
        folded = folded[: SUMMARY_MAX - 1].rstrip() + "…"
    return folded


def _with_marker(description: str, incident_id: str, intent: str, kind: str) -> str:
    """The description with a last line that records exactly what the issue was filed for."""
    marker = json.dumps({"incident": incident_id, "intent": intent, "kind": kind}, ensure_ascii=False)
    body = description.rstrip()
    return f"{body}\n\n{_MARKER}{marker}" if body else f"{_MARKER}{marker}"


def _read_marker(description: Any) -> dict[str, str]:
    if not isinstance(description, str):
        return {}
    for line in reversed(description.splitlines()):
        if line.startswith(_MARKER):
            try:
                data = json.loads(line[len(_MARKER) :])
            except ValueError:
                return {}
            if isinstance(data, dict):
                return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
    return {}


def _is_marker(line: str) -> bool:
    return line.startswith(_MARKER) and bool(_read_marker(line))


def _parts(description: str) -> tuple[str, str, str | None, str | None]:
    """``description`` as (people's text above warroom's part, below it, warroom's part, the
    intent marker line). Without the markers, all of it is people's (above)."""
    lines = description.splitlines()
    marker = next((line for line in reversed(lines) if _is_marker(line)), None)
    lines = [line for line in lines if line != marker]
    if DOCUMENT_BEGIN in lines and DOCUMENT_END in lines[lines.index(DOCUMENT_BEGIN):]:
        begin = lines.index(DOCUMENT_BEGIN)
        end = begin + lines[begin:].index(DOCUMENT_END)
        return ("\n".join(lines[:begin]).strip(), "\n".join(lines[end + 1:]).strip(),
                "\n".join(lines[begin + 1:end]), marker)
    return "\n".join(lines).strip(), "", None, marker


def document_of(description: str | None) -> str | None:
    """warroom's part of a ticket's description (the incident document as written: Jira wiki markup),
    if it has one."""
    return _parts(description or "")[2]


def with_document(description: str | None, document: str, limit: int = DESCRIPTION_MAX) -> str:
    """``description`` with warroom's part set to ``document`` (as it is to be stored: Jira wiki
    markup), people's text above and below the markers and the intent marker line kept as they are.
    The document is cut at a line, with a note, so that the whole fits in ``limit`` characters
    (people's text is never cut); a ``{code}``, ``{noformat}`` or ``{quote}`` the cut leaves open is
    closed before the note."""
    above, below, _, marker = _parts(description or "")

    def compose(doc: str) -> str:
        parts = [above, f"{DOCUMENT_BEGIN}\n{doc}\n{DOCUMENT_END}", below, marker or ""]
        return "\n\n".join(p for p in parts if p)

    doc = document.rstrip("\n")
    whole = compose(doc)
    if len(whole) <= limit:
        return whole
    note = CUT_NOTE.format(limit=limit)
    room = limit - (len(whole) - len(doc)) - len(note) - 1
    kept = doc[: max(room, 0)]
    while True:
        kept = kept.rsplit("\n", 1)[0] if "\n" in kept else ""
        close = closing(kept)
        if not kept or len(kept) + len(close) + 1 <= room:
            break
    kept = f"{kept}\n{close}" if kept and close else kept
    return compose(f"{kept}\n{note}" if kept else note)


# ---------------------------------------------------------------------------- errors and retries


def _messages(exc: JIRAError) -> str:
    text = (exc.text or "").strip()
    return text or "no message"


def classify(exc: BaseException) -> Retryable | None:
    """Which failures are worth another attempt: 429, 500/502/503/504, lost connections, timeouts."""
    if isinstance(exc, JIRAError):
        status = exc.status_code
        if status not in _RETRYABLE_STATUSES:
            return None
        response = exc.response
        header = response.headers.get("Retry-After") if response is not None else None
        return Retryable(
            status=status, retry_after_s=parse_retry_after(header), detail=f"{status}: {_messages(exc)}"
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return None  # a certificate problem does not go away by asking again
    if isinstance(exc, requests.exceptions.Timeout):
        return Retryable(detail="no answer within the timeout")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return Retryable(detail="the connection failed or was reset")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return Retryable(detail="the connection broke mid-answer")
    return None


def _refusal(exc: JIRAError) -> str:
    status = exc.status_code
    said = _messages(exc)
    if status == 401:
        return (
            f"Jira refused the credentials ({said}): check the e-mail and API token "
            "(WARROOM_JIRA_EMAIL, WARROOM_JIRA_API_TOKEN or the JiraCredentials block)"
        )
    if status == 403:
        return f"the Jira account may not do this ({said}): check its project permissions"
    if status == 404:
        return f"not found ({said})"
    return said


def _ticket_fields(raw: dict[str, Any]) -> dict[str, Any]:
    fields = raw.get("fields")
    return fields if isinstance(fields, dict) else {}


# --------------------------------------------------------------------------------------- adapter


class JiraTracker:
    """The Tracker port on Jira Cloud. Safe to share between threads."""

    def __init__(
        self,
        credentials: JiraCredentials,
        retry: RetryPolicy | None = None,
        timeout_s: float = 10.0,
        issue_type: str = "Bug",
    ) -> None:
        self._credentials = credentials
        self._retry = retry or RetryPolicy()
        self._timeout_s = timeout_s
        self._issue_type = issue_type
        self._lock = threading.Lock()
        self._jira: JIRA | None = None
        self._accounts: dict[str, str] = {}

    # plumbing -----------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self._credentials.url

    def browse_url(self, key: str) -> str:
        return f"{self._credentials.url}/browse/{key}"

    def _client(self) -> JIRA:
        with self._lock:
            if self._jira is None:
                self._jira = self._credentials.get_client(timeout_s=self._timeout_s, max_retries=0)
            return self._jira

    def close(self) -> None:
        with self._lock:
            if self._jira is not None:
                self._jira.close()  # type: ignore[no-untyped-call]
                self._jira = None

    def _call(self, call: str, fn: Callable[[JIRA], T]) -> T:
        secret = self._credentials.api_token.get_secret_value()

        def attempt() -> T:
            try:
                return fn(self._client())
            except JIRAError as exc:
                if classify(exc) is None:
                    detail = scrub(_refusal(exc), (secret,))
                    raise IntegrationError(SERVICE, call, detail, exc.status_code) from exc
                raise
            except requests.exceptions.SSLError as exc:
                detail = (
                    "TLS verification failed: point WARROOM_CA_BUNDLE (or the block's ca_bundle) "
                    f"at the CA that signed {self._credentials.url}"
                )
                raise IntegrationError(SERVICE, call, detail) from exc

        return call_with_retry(SERVICE, call, attempt, self._retry, classify, secrets=(secret,))

    def _search(self, client: JIRA, jql: str, limit: int) -> list[dict[str, Any]]:
        found = client.search_issues(jql, maxResults=limit, fields=list(_SEARCH_FIELDS))
        return [issue.raw for issue in found]

    def _file(
        self,
        call: str,
        incident_id: str,
        intent: str,
        project: str,
        summary: str,
        description: str,
        labels: Sequence[str],
    ) -> tuple[str, dict[str, Any]]:
        """Find the issue filed for this intent, or file it; returns (key, fields as known)."""
        unique = intent_label(incident_id, intent)
        jql = (
            f"labels = {jql_string(unique)} AND labels = {jql_string(incident_label(incident_id))} "
            "ORDER BY created ASC"
        )
        fields: dict[str, Any] = {
            "project": {"key": project},
            "issuetype": {"name": self._issue_type},
            "summary": _clean_summary(summary),
            "description": description,
            "labels": list(dict.fromkeys([incident_label(incident_id), unique, *labels])),
        }

        def attempt(client: JIRA) -> tuple[str, dict[str, Any]]:
            existing = self._search(client, jql, limit=2)
            if existing:
                if len(existing) > 1:
                    log.warning("Jira holds more than one issue labelled %s; using the oldest", unique)
                raw = existing[0]
                return str(raw["key"]), _ticket_fields(raw)
            created = client.create_issue(fields=fields, prefetch=False)
            key = str(created.key)
            log.info("filed %s in Jira for %s (%s)", key, incident_id, intent)
            # A retry of this read finds the issue by its label: filing stays single.
            return key, _ticket_fields(client.issue(key, fields="summary,status").raw)

        return self._call(call, attempt)

    # the port -----------------------------------------------------------------------------------
    def open_ticket(
        self, incident_id: str, project: str, summary: str, description: str, labels: tuple[str, ...] = ()
    ) -> Ticket:
        """The incident's own ticket (intent ``incident``), filed once; ``description`` is the incident
        document (Markdown), warroom's part of the description once converted to Jira wiki markup
        (:meth:`set_document` keeps it up to date)."""
        key, _ = self._file(
            "open_ticket",
            incident_id,
            TICKET_INTENT,
            project,
            summary,
            with_document(_with_marker("", incident_id, TICKET_INTENT, "incident"), to_wiki(description)),
            [TICKET_LABEL, *labels],
        )
        return Ticket(key=key, url=self.browse_url(key))

    def set_document(self, key: str, document: str) -> bool:
        """Make warroom's part of ``key``'s description ``document``, a Markdown text, converted to Jira
        wiki markup (:func:`to_wiki`, then :func:`with_document`); people's text stays. Written only if
        what Jira would then hold differs from what it holds: returns whether it was written."""
        wiki = to_wiki(document)

        def attempt(client: JIRA) -> bool:
            issue = client.issue(key, fields="description")
            current = _ticket_fields(issue.raw).get("description")
            wanted = with_document(current if isinstance(current, str) else None, wiki)
            if wanted == current:
                return False
            issue.update(fields={"description": wanted})
            log.info("rewrote the incident document in %s's description", key)
            return True

        return self._call("set_document", attempt)

    def file_followup(
        self,
        incident_id: str,
        project: str,
        intent: str,
        kind: FollowUpKind,
        summary: str,
        description: str,
        labels: tuple[str, ...] = (),
    ) -> FollowUp:
        """A follow-up issue for ``intent``, filed once however often this is called (``labels``: added)."""
        if intent == TICKET_INTENT:
            raise ValueError(f"the intent {TICKET_INTENT!r} is reserved for the incident ticket")
        key, fields = self._file(
            "file_followup",
            incident_id,
            intent,
            project,
            summary,
            _with_marker(description, incident_id, intent, kind),
            [FOLLOWUP_LABEL, kind_label(kind), *labels],
        )
        return FollowUp(
            tracker_key=key,
            kind=kind,
            summary=str(fields.get("summary") or _clean_summary(summary)),
            status=_status_name(fields) or "open",
            intent=intent,
        )

    def comment(self, key: str, body: str) -> None:
        """Post ``body`` on ``key`` once: a retry first looks for the comment an earlier attempt made."""
        before: set[str] | None = None
        posted = False

        def attempt(client: JIRA) -> None:
            nonlocal before, posted
            if before is None:
                before = {str(c.id) for c in client.comments(key)}
            elif posted and any(str(c.id) not in before and c.body == body for c in client.comments(key)):
                return  # an earlier attempt's comment landed after all
            posted = True
            client.add_comment(key, body)

        self._call("comment", attempt)

    def comment_once(self, key: str, body: str) -> bool:
        """Post ``body`` on ``key`` unless a comment with exactly this body is there already (a rerun, a
        retry, a second call): returns whether it was posted now."""

        def present(client: JIRA) -> bool:
            return any(c.body == body for c in client.comments(key))

        if self._call("comment_once", present):
            return False
        self.comment(key, body)
        return True

    def attach_once(self, key: str, filename: str, content: bytes) -> bool:
        """Attach ``content`` to ``key`` as ``filename`` unless an attachment of that name is there
        already: a name that carries the version (a hash) attaches each version once. A retry after
        an answer that was lost looks again first. Returns whether this call attached it."""
        posted = False

        def attempt(client: JIRA) -> bool:
            nonlocal posted
            attached = _ticket_fields(client.issue(key, fields="attachment").raw).get("attachment") or []
            if any(isinstance(a, dict) and a.get("filename") == filename for a in attached):
                return posted  # there already; this call's own when an earlier attempt's answer was lost
            posted = True
            # a fresh stream per attempt: the client reads it to the end
            client.add_attachment(key, attachment=cast(Any, BytesIO(content)), filename=filename)
            log.info("attached %s to %s", filename, key)
            return True

        return self._call("attach_once", attempt)

    def transition(self, key: str, name: str) -> None:
        """Move ``key`` through the transition called ``name`` (case-insensitive).

        Already in the status that transition leads to (or that status is called ``name``): nothing
        to do. No such transition: :class:`IntegrationError` listing the ones available.
        """
        target: str | None = None

        def attempt(client: JIRA) -> None:
            nonlocal target
            status = _status_name(_ticket_fields(client.issue(key, fields="status").raw))
            if status is not None and status.casefold() in {name.casefold(), (target or "").casefold()}:
                return
            available = client.transitions(key)
            chosen = next(
                (t for t in available if str(t.get("name", "")).casefold() == name.casefold()), None
            )
            if chosen is None:
                names = ", ".join(repr(str(t.get("name"))) for t in available) or "none"
                raise IntegrationError(
                    SERVICE,
                    "transition",
                    f"{key} (status {status!r}) has no transition named {name!r}; available: {names}",
                )
            target = str((chosen.get("to") or {}).get("name") or "") or None
            client.transition_issue(key, str(chosen["id"]))

        self._call("transition", attempt)

    def assign(self, key: str, assignee_email: str) -> None:
        """Assign ``key`` to the Jira user whose e-mail address is ``assignee_email``."""

        def attempt(client: JIRA) -> None:
            account_id = self._account_for(client, assignee_email)
            issue = client.issue(key, fields="assignee")
            current = _ticket_fields(issue.raw).get("assignee") or {}
            if isinstance(current, dict) and current.get("accountId") == account_id:
                return
            issue.update(fields={"assignee": {"accountId": account_id}})

        self._call("assign", attempt)

    def _account_for(self, client: JIRA, email: str) -> str:
        wanted = email.strip().casefold()
        cached = self._accounts.get(wanted)
        if cached is not None:
            return cached
        users = client.search_users(query=email.strip(), maxResults=50)
        matches = [u for u in users if str(getattr(u, "emailAddress", "")).casefold() == wanted]
        if len(matches) != 1:
            found = "no Jira user has" if not matches else f"{len(matches)} Jira users have"
            raise IntegrationError(
                SERVICE,
                "assign",
                f"{found} the e-mail address {email!r} (or it is hidden by the user's privacy "
                "settings): check the roster's e-mail for this person",
            )
        account_id = str(matches[0].accountId)
        self._accounts[wanted] = account_id
        return account_id

    def link(self, key: str, url: str, title: str) -> None:
        """A remote link from ``key`` to ``url`` (once per URL; the first title stays)."""

        def attempt(client: JIRA) -> None:
            for existing in client.remote_links(key):
                target = getattr(existing, "raw", {}).get("object") or {}
                if target.get("url") == url:
                    return
            client.add_simple_link(key, {"url": url, "title": title})

        self._call("link", attempt)

    def find_followups(
        self, incident_id: str, label: str | None = None, status: str | None = None
    ) -> list[FollowUp]:
        """The incident's follow-ups (not its ticket), oldest first, optionally with ``label`` and
        in the Jira status named ``status``. ``FollowUp.status`` is the Jira status name."""
        clauses = [
            f"labels = {jql_string(incident_label(incident_id))}",
            f"labels = {jql_string(FOLLOWUP_LABEL)}",
        ]
        if label is not None:
            clauses.append(f"labels = {jql_string(label)}")
        if status is not None:
            clauses.append(f"status = {jql_string(status)}")
        jql = " AND ".join(clauses) + " ORDER BY created ASC"
        raws = self._call("find_followups", lambda client: self._search(client, jql, limit=0))
        return [self._followup(incident_id, raw) for raw in raws]

    def find_followups_of(self, incident_ids: Sequence[str]) -> dict[str, list[FollowUp]]:
        """Each incident's follow-ups (as :meth:`find_followups`), :data:`LABELS_PER_SEARCH` incidents a
        search (``labels in (...)``): a report over a long history asks Jira a few times, not once per
        incident. An issue is the incident's whose label it carries."""
        wanted = list(dict.fromkeys(incident_ids))
        found: dict[str, list[FollowUp]] = {incident_id: [] for incident_id in wanted}
        for first in range(0, len(wanted), LABELS_PER_SEARCH):
            chunk = {incident_label(i): i for i in wanted[first : first + LABELS_PER_SEARCH]}
            jql = (
                f"labels in ({', '.join(jql_string(label) for label in chunk)}) "
                f"AND labels = {jql_string(FOLLOWUP_LABEL)} ORDER BY created ASC"
            )

            def search(client: JIRA, query: str = jql) -> list[dict[str, Any]]:
                return self._search(client, query, limit=0)

            raws = self._call("find_followups", search)
            for raw in raws:
                labels = [str(x) for x in _ticket_fields(raw).get("labels") or []]
                for label in labels:
                    if label in chunk:
                        found[chunk[label]].append(self._followup(chunk[label], raw))
                        break
        return found

    def _followup(self, incident_id: str, raw: dict[str, Any]) -> FollowUp:
        fields = _ticket_fields(raw)
        labels = [str(x) for x in fields.get("labels") or []]
        marker = _read_marker(fields.get("description"))
        kind = marker.get("kind")
        if kind not in _KINDS:
            kinds = [k for k in _KINDS if kind_label(k) in labels]
            kind = kinds[0] if kinds else "action"
        intent = marker.get("intent") if marker.get("incident") == incident_id else None
        if not intent:
            prefix = incident_label(incident_id) + "-"
            candidates = [x[len(prefix) :] for x in labels if x.startswith(prefix)]
            intent = candidates[0] if candidates else str(raw.get("key"))
        return FollowUp(
            tracker_key=str(raw["key"]),
            kind=cast(FollowUpKind, kind),
            summary=str(fields.get("summary") or ""),
            status=_status_name(fields) or "open",
            intent=intent,
        )


def _status_name(fields: dict[str, Any]) -> str | None:
    status = fields.get("status")
    if isinstance(status, dict) and isinstance(status.get("name"), str):
        return str(status["name"])
    return None
