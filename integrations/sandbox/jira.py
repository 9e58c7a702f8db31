"""An in-memory Jira Cloud stand-in, spoken to by the real ``jira`` client over HTTPS.

:func:`create_jira_app` builds a FastAPI app serving the part of Jira's platform REST API v2 that
warroom uses (the same routes also answer under ``/rest/api/latest``, which the client uses for some
calls), with Jira's status codes and error bodies (``{"errorMessages": [...], "errors": {...}}``):

==========================================  =====================================================
route                                       what it does
==========================================  =====================================================
``GET  serverInfo``                         ``"deploymentType": "Cloud"``, so the client searches
                                            through ``/search/jql``
``GET  myself``, ``GET field``              the authenticated user; the system fields
``GET  user/search?query=``                 prefix match on display name and e-mail address words
                                            (as Cloud: not on accountId)
``POST issue``                              project by key or id, issue type by name or id,
                                            summary (required), description, labels, assignee
``GET/PUT issue/{key}``                     read (``fields`` honoured) / edit fields (summary,
                                            description, labels, assignee) and ``update`` ops
``PUT  issue/{key}/assignee``               ``{"accountId": ...}`` (null unassigns)
``GET/POST issue/{key}/comment``            comments, paginated with ``startAt``/``maxResults``
``GET/POST issue/{key}/transitions``        the workflow below; the id may be a string or an int
``GET  issueLinkType``, ``POST issueLink``  Blocks, Cloners, Duplicate, Relates;
                                            ``"comment": null`` is accepted
``GET/POST issue/{key}/remotelink``         a ``globalId`` already present updates that link (200)
``POST issue/{key}/attachments``            multipart/form-data, each ``file`` part one attachment;
                                            needs ``X-Atlassian-Token: no-check`` (else 403, as
                                            Jira's XSRF check); answers the list of attachments
``GET  attachment/{id}``                    an attachment's metadata
``GET  attachment/content/{id}``            an attachment's bytes (served at once, no redirect)
``GET/POST search/jql``                     the JQL subset of :mod:`integrations.sandbox.jql`,
                                            paginated with ``nextPageToken``
==========================================  =====================================================

The workflow (transition names are their target statuses, as in Jira's simplified workflow)::

    To Do --In Progress (21)--> In Progress --Done (31)--> Done
      ^------------To Do (11)------'  ^                      |
      '-------------------------To Do (11)-------------------'

Every request under ``/rest/`` needs HTTP Basic ``email:api_token``; anything else is answered 401
with Jira's body. ``self`` URLs use the base URL the request came in on. An issue's
``fields.attachment`` lists its attachments. The recorder and fault layer of
:mod:`integrations.sandbox.recorder` is installed on every route, attachments included
(``/_sandbox/requests``, ``/_sandbox/faults``) with Jira-shaped error bodies. The state is in
``app.state.jira`` (:class:`JiraState`) and the recorder in ``app.state.recorder``.
:meth:`JiraState.snapshot` and ``restore`` turn the data (issues with their comments, attachments
(their bytes in base64) and remote links, issue links, the counters behind issue keys and ids) into
JSON values and back, so :class:`~integrations.sandbox.server.Sandboxes` can keep it across restarts.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import hashlib
import hmac
import json
import mimetypes
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from warroom.integrations.sandbox.jql import JqlError, JqlRecord, parse
from warroom.integrations.sandbox.recorder import Recorder, add_sandbox_admin
from warroom.integrations.sandbox.snapshot import jsonable, parse_time

__all__ = [
    "DEFAULT_API_TOKEN",
    "DEFAULT_EMAIL",
    "DEFAULT_PROJECTS",
    "DEFAULT_USERS",
    "JiraState",
    "create_jira_app",
    "jira_error_body",
    "sandbox_env",
]

DEFAULT_EMAIL = "warroom-bot@example.com"
DEFAULT_API_TOKEN = "sandbox-jira-api-token"  # noqa: S105 - a sandbox's made-up credential
DEFAULT_USERS: tuple[Mapping[str, str], ...] = (
    {"accountId": "5b10a2844c20165700ede21g", "displayName": "warroom bot", "emailAddress": DEFAULT_EMAIL},
    {
        "accountId": "5b10ac8d82e05b22cc7d4ef5",
        "displayName": "Ada Lovelace",
        "emailAddress": "ada@example.com",
    },
    {
        "accountId": "5b109f2e9729b51b54dc274d",
        "displayName": "Grace Hopper",
        "emailAddress": "grace@example.com",
    },
)
DEFAULT_PROJECTS: tuple[str, ...] = ("OPS", "SRE")
DEFAULT_ISSUE_TYPES: tuple[str, ...] = ("Bug", "Task", "Story", "Incident")

MAX_SEARCH_RESULTS = 100
SUMMARY_MAX = 255
STATE_VERSION = 1  # of the snapshot's layout


# ------------------------------------------------------------------------------------ the workflow


@dataclass(frozen=True)
class _Status:
    id: str
    name: str
    category_id: int
    category_key: str
    category_name: str
    color: str


_STATUSES = {
    "To Do": _Status("10000", "To Do", 2, "new", "To Do", "blue-gray"),
    "In Progress": _Status("3", "In Progress", 4, "indeterminate", "In Progress", "yellow"),
    "Done": _Status("10001", "Done", 3, "done", "Done", "green"),
}
# transition id -> (name, target status); and which ones each status offers
_TRANSITIONS = {"11": ("To Do", "To Do"), "21": ("In Progress", "In Progress"), "31": ("Done", "Done")}
_WORKFLOW = {"To Do": ("21",), "In Progress": ("31", "11"), "Done": ("11",)}
_LINK_TYPES = (
    ("10000", "Blocks", "is blocked by", "blocks"),
    ("10001", "Cloners", "is cloned by", "clones"),
    ("10002", "Duplicate", "is duplicated by", "duplicates"),
    ("10003", "Relates", "relates to", "relates to"),
)


def jira_error_body(messages: Sequence[str] = (), errors: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Jira's error body."""
    return {"errorMessages": list(messages), "errors": dict(errors or {})}


def _fault_body(path: str, status: int) -> Any:
    if status == 429:
        return jira_error_body(["Rate limit exceeded."])
    return jira_error_body([f"Sandbox fault: status {status}"])


def _when(at: datetime) -> str:
    """Jira's timestamp format: ``2024-05-01T12:34:56.789+0000``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


class JiraApiError(Exception):
    """An answer other than success, in Jira's shape."""

    def __init__(
        self,
        status: int,
        messages: Sequence[str] = (),
        errors: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.body = jira_error_body(messages, errors)
        self.headers = dict(headers or {})
        super().__init__(f"{status}: {self.body}")


def _not_found_issue() -> JiraApiError:
    return JiraApiError(404, ["Issue does not exist or you do not have permission to see it."])


# --------------------------------------------------------------------------------------- the state


@dataclass(frozen=True)
class _User:
    account_id: str
    display_name: str
    email: str


@dataclass
class _Comment:
    id: int
    body: str
    author: _User
    created: datetime


@dataclass
class _Attachment:
    id: int
    filename: str
    mime_type: str
    content: bytes
    author: _User
    created: datetime


@dataclass
class _RemoteLink:
    id: int
    object: dict[str, Any]
    global_id: str | None = None
    application: dict[str, Any] | None = None
    relationship: str | None = None


@dataclass
class _Link:
    id: int
    type_id: str
    outward_key: str  # the "outwardIssue" of the request
    inward_key: str


@dataclass
class _Issue:
    id: int
    key: str
    project: str
    issuetype: str
    summary: str
    description: str | None
    labels: list[str]
    status: str
    reporter: _User
    created: datetime
    updated: datetime
    assignee: _User | None = None
    comments: list[_Comment] = field(default_factory=list)
    remote_links: list[_RemoteLink] = field(default_factory=list)
    attachments: list[_Attachment] = field(default_factory=list)

    def record(self) -> JqlRecord:
        assignee = (self.assignee.account_id, self.assignee.email) if self.assignee else ()
        return JqlRecord(
            key=self.key,
            project=self.project,
            summary=self.summary,
            status=self.status,
            created=self.created,
            labels=tuple(self.labels),
            assignee=assignee,
        )


class JiraState:
    """The sandbox's data, shared by its handlers (and readable by tests). Thread-safe."""

    def __init__(
        self,
        *,
        users: Sequence[_User],
        projects: Sequence[str],
        issue_types: Sequence[str],
        me: _User,
        clock: Callable[[], datetime],
    ) -> None:
        self.lock = threading.RLock()
        self.users = list(users)
        self.projects = {key: 10000 + i for i, key in enumerate(projects)}
        self.issue_types = {name: str(10001 + i) for i, name in enumerate(issue_types)}
        self.me = me
        self.clock = clock
        self.issues: dict[str, _Issue] = {}
        self.links: list[_Link] = []
        self._next_issue_id = 10000
        self._next_number = dict.fromkeys(self.projects, 1)
        self._next_comment_id = 10000
        self._next_remote_link_id = 10000
        self._next_link_id = 10000
        self._next_attachment_id = 10000

    # reading ------------------------------------------------------------------------------------
    def issue(self, key_or_id: str) -> _Issue:
        with self.lock:
            found = self.issues.get(key_or_id.upper())
            if found is None and key_or_id.isdigit():
                found = next((i for i in self.issues.values() if str(i.id) == key_or_id), None)
            if found is None:
                raise _not_found_issue()
            return found

    def attachment(self, attachment_id: str) -> tuple[_Issue, _Attachment]:
        """The attachment with this id and the issue it is on; 404 when there is none."""
        with self.lock:
            for issue in self.issues.values():
                for attachment in issue.attachments:
                    if str(attachment.id) == attachment_id:
                        return issue, attachment
        raise JiraApiError(404, [f"The attachment with id '{attachment_id}' does not exist"])

    def search(self, jql: str) -> list[_Issue]:
        """Issues matching ``jql`` in the query's order; raises :class:`JqlError`."""
        query = parse(jql)
        with self.lock:
            issues = list(self.issues.values())
        by_key = {issue.key: issue for issue in issues}
        return [by_key[record.key] for record in query.apply(issue.record() for issue in issues)]

    def keys_with_label(self, label: str) -> list[str]:
        """Keys of the issues carrying ``label`` (for tests: how many issues an intent made)."""
        with self.lock:
            return [issue.key for issue in self.issues.values() if label in issue.labels]

    def user_by_account(self, account_id: str) -> _User | None:
        return next((u for u in self.users if u.account_id == account_id), None)

    def find_users(self, query: str) -> list[_User]:
        """Cloud's ``user/search?query=``: a prefix of the display name, a name word or the e-mail."""
        wanted = query.strip().casefold()
        if not wanted:
            return []

        def hit(user: _User) -> bool:
            names = [user.display_name.casefold(), *user.display_name.casefold().split()]
            return user.email.casefold().startswith(wanted) or any(n.startswith(wanted) for n in names)

        return [u for u in self.users if hit(u)]

    # writing ------------------------------------------------------------------------------------
    def create_issue(
        self,
        *,
        project: str,
        issuetype: str,
        summary: str,
        description: str | None,
        labels: list[str],
        assignee: _User | None,
    ) -> _Issue:
        with self.lock:
            now = self.clock()
            number = self._next_number[project]
            self._next_number[project] = number + 1
            issue = _Issue(
                id=self._next_issue_id,
                key=f"{project}-{number}",
                project=project,
                issuetype=issuetype,
                summary=summary,
                description=description,
                labels=labels,
                status="To Do",
                reporter=self.me,
                created=now,
                updated=now,
                assignee=assignee,
            )
            self._next_issue_id += 1
            self.issues[issue.key] = issue
            return issue

    def add_comment(self, issue: _Issue, body: str) -> _Comment:
        with self.lock:
            comment = _Comment(id=self._next_comment_id, body=body, author=self.me, created=self.clock())
            self._next_comment_id += 1
            issue.comments.append(comment)
            issue.updated = comment.created
            return comment

    def add_attachment(self, issue: _Issue, filename: str, mime_type: str, content: bytes) -> _Attachment:
        with self.lock:
            attachment = _Attachment(self._next_attachment_id, filename, mime_type, content, self.me, self.clock())
            self._next_attachment_id += 1
            issue.attachments.append(attachment)
            issue.updated = attachment.created
            return attachment

    def put_remote_link(
        self,
        issue: _Issue,
        obj: dict[str, Any],
        global_id: str | None,
        application: dict[str, Any] | None,
        relationship: str | None,
    ) -> tuple[_RemoteLink, bool]:
        """Add a remote link, or update the one with the same ``global_id``; True when created."""
        with self.lock:
            if global_id is not None:
                for link in issue.remote_links:
                    if link.global_id == global_id:
                        link.object, link.application, link.relationship = obj, application, relationship
                        return link, False
            link = _RemoteLink(self._next_remote_link_id, obj, global_id, application, relationship)
            self._next_remote_link_id += 1
            issue.remote_links.append(link)
            issue.updated = self.clock()
            return link, True

    def add_link(self, type_id: str, outward: _Issue, inward: _Issue) -> _Link:
        with self.lock:
            link = _Link(self._next_link_id, type_id, outward.key, inward.key)
            self._next_link_id += 1
            self.links.append(link)
            return link

    # keeping it across restarts -----------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The data as JSON values (not the users nor the credentials: those come from the options)."""
        with self.lock:
            return {
                "version": STATE_VERSION,
                "projects": dict(self.projects),
                "issue_types": dict(self.issue_types),
                "issues": [_issue_json(issue) for issue in self.issues.values()],
                "links": [jsonable(link) for link in self.links],
                "next": {
                    "issue_id": self._next_issue_id,
                    "number": dict(self._next_number),
                    "comment_id": self._next_comment_id,
                    "remote_link_id": self._next_remote_link_id,
                    "link_id": self._next_link_id,
                    "attachment_id": self._next_attachment_id,
                },
            }

    def restore(self, data: Any) -> None:
        """Take over the data of a :meth:`snapshot`, on a state with no issues yet.

        Projects and issue types the saved issues name stay even when no longer configured. Raises
        ValueError, KeyError or TypeError, changing nothing, when ``data`` is not a snapshot.
        """
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError(f"not a Jira sandbox snapshot of version {STATE_VERSION}")
        projects = _merged_ids(self.projects, {str(k): int(v) for k, v in data["projects"].items()})
        issue_types = {
            name: str(ident)
            for name, ident in _merged_ids(
                {k: int(v) for k, v in self.issue_types.items()},
                {str(k): int(v) for k, v in data["issue_types"].items()},
            ).items()
        }
        issues = {issue.key: issue for issue in (_issue_from(i) for i in data["issues"])}
        links = [_Link(**link) for link in data["links"]]
        counters = data["next"]
        numbers = {str(k): int(v) for k, v in counters["number"].items()}
        next_ids = {name: int(counters[name]) for name in ("issue_id", "comment_id", "remote_link_id", "link_id")}
        next_ids["attachment_id"] = int(counters.get("attachment_id", 10000))  # absent from older snapshots
        for issue in issues.values():
            if issue.project not in projects or issue.issuetype not in issue_types:
                raise ValueError(f"{issue.key} names an unknown project or issue type")
            if issue.status not in _STATUSES:
                raise ValueError(f"{issue.key} has an unknown status {issue.status!r}")
            number = int(issue.key.rsplit("-", 1)[1])  # a key is never given out twice
            numbers[issue.project] = max(numbers.get(issue.project, 1), number + 1)
        link_types = {t[0] for t in _LINK_TYPES}
        for link in links:
            if link.type_id not in link_types or not {link.outward_key, link.inward_key} <= issues.keys():
                raise ValueError(f"issue link {link.id} names an unknown link type or issue")
        with self.lock:
            if self.issues:
                raise RuntimeError("restore() needs a state with no issues yet")
            self.projects, self.issue_types = projects, issue_types
            self.issues, self.links = issues, links
            self._next_number = {project: max(1, numbers.get(project, 1)) for project in projects}
            self._next_issue_id = next_ids["issue_id"]
            self._next_comment_id = next_ids["comment_id"]
            self._next_remote_link_id = next_ids["remote_link_id"]
            self._next_link_id = next_ids["link_id"]
            self._next_attachment_id = next_ids["attachment_id"]


def _issue_json(issue: _Issue) -> dict[str, Any]:
    """An issue as JSON values; an attachment's bytes in base64."""
    out: dict[str, Any] = jsonable(issue)
    for saved, attachment in zip(out["attachments"], issue.attachments, strict=True):
        saved["content"] = base64.b64encode(attachment.content).decode("ascii")
    return out


def _issue_from(data: dict[str, Any]) -> _Issue:
    assignee = data["assignee"]
    return _Issue(
        **{
            **data,
            "labels": [str(label) for label in data["labels"]],
            "reporter": _User(**data["reporter"]),
            "assignee": _User(**assignee) if assignee is not None else None,
            "created": parse_time(data["created"]),
            "updated": parse_time(data["updated"]),
            "comments": [
                _Comment(**{**c, "author": _User(**c["author"]), "created": parse_time(c["created"])})
                for c in data["comments"]
            ],
            "remote_links": [_RemoteLink(**link) for link in data["remote_links"]],
            "attachments": [  # absent from older snapshots
                _Attachment(**{**a, "content": base64.b64decode(a["content"], validate=True),
                               "author": _User(**a["author"]), "created": parse_time(a["created"])})
                for a in data.get("attachments", [])
            ],
        }
    )


def _merged_ids(configured: dict[str, int], saved: dict[str, int]) -> dict[str, int]:
    """The configured names and ids, plus the saved names no longer configured (on a new id if theirs
    is taken)."""
    merged = dict(configured)
    for name, ident in saved.items():
        if name not in merged:
            merged[name] = ident if ident not in merged.values() else max(merged.values()) + 1
    return merged


# ------------------------------------------------------------------------------------ rendering


class _Render:
    """JSON shapes of the platform API, with ``self`` URLs on the request's base URL."""

    def __init__(self, request: Request, state: JiraState) -> None:
        self.base = str(request.base_url).rstrip("/")
        self.api = f"{self.base}/rest/api/2"
        self.state = state

    def user(self, user: _User, *, details: bool = False) -> dict[str, Any]:
        avatar = f"{self.base}/avatar/{user.account_id}"
        out: dict[str, Any] = {
            "self": f"{self.api}/user?accountId={quote(user.account_id)}",
            "accountId": user.account_id,
            "accountType": "atlassian",
            "emailAddress": user.email,
            "avatarUrls": {size: f"{avatar}?s={size}" for size in ("16x16", "24x24", "32x32", "48x48")},
            "displayName": user.display_name,
            "active": True,
            "timeZone": "Etc/UTC",
        }
        if not details:
            out["locale"] = "en_US"
        return out

    def status(self, name: str) -> dict[str, Any]:
        status = _STATUSES[name]
        return {
            "self": f"{self.api}/status/{status.id}",
            "description": "",
            "iconUrl": f"{self.base}/images/icons/statuses/generic.png",
            "name": status.name,
            "id": status.id,
            "statusCategory": {
                "self": f"{self.api}/statuscategory/{status.category_id}",
                "id": status.category_id,
                "key": status.category_key,
                "colorName": status.color,
                "name": status.category_name,
            },
        }

    def project(self, key: str) -> dict[str, Any]:
        pid = self.state.projects[key]
        return {
            "self": f"{self.api}/project/{pid}",
            "id": str(pid),
            "key": key,
            "name": key,
            "projectTypeKey": "software",
            "simplified": True,
        }

    def issuetype(self, name: str) -> dict[str, Any]:
        tid = self.state.issue_types[name]
        return {
            "self": f"{self.api}/issuetype/{tid}",
            "id": tid,
            "description": "",
            "name": name,
            "subtask": False,
            "hierarchyLevel": 0,
        }

    def comment(self, issue: _Issue, comment: _Comment) -> dict[str, Any]:
        when = _when(comment.created)
        return {
            "self": f"{self.api}/issue/{issue.id}/comment/{comment.id}",
            "id": str(comment.id),
            "author": self.user(comment.author, details=True),
            "body": comment.body,
            "updateAuthor": self.user(comment.author, details=True),
            "created": when,
            "updated": when,
            "jsdPublic": True,
        }

    def attachment(self, attachment: _Attachment) -> dict[str, Any]:
        """The ``Attachment`` shape (an issue's ``fields.attachment``, the answer to an upload)."""
        return {
            "self": f"{self.api}/attachment/{attachment.id}",
            "id": str(attachment.id),
            "filename": attachment.filename,
            "author": self.user(attachment.author, details=True),
            "created": _when(attachment.created),
            "size": len(attachment.content),
            "mimeType": attachment.mime_type,
            "content": f"{self.api}/attachment/content/{attachment.id}",
        }

    def attachment_metadata(self, attachment: _Attachment) -> dict[str, Any]:
        """The ``AttachmentMetadata`` shape (``GET attachment/{id}``): the id is a number there."""
        return {
            **self.attachment(attachment),
            "id": attachment.id,
            "author": self.user(attachment.author),
            "properties": {},
        }

    def comments_page(self, issue: _Issue, start: int, size: int) -> dict[str, Any]:
        page = issue.comments[start : start + size]
        return {
            "startAt": start,
            "maxResults": size,
            "total": len(issue.comments),
            "comments": [self.comment(issue, c) for c in page],
        }

    def links_of(self, issue: _Issue) -> list[dict[str, Any]]:
        out = []
        types = {t[0]: t for t in _LINK_TYPES}
        for link in self.state.links:
            if issue.key not in (link.outward_key, link.inward_key):
                continue
            entry: dict[str, Any] = {
                "id": str(link.id),
                "self": f"{self.api}/issueLink/{link.id}",
                "type": self.link_type(types[link.type_id]),
            }
            if link.inward_key == issue.key:
                entry["outwardIssue"] = self.linked(link.outward_key)
            else:
                entry["inwardIssue"] = self.linked(link.inward_key)
            out.append(entry)
        return out

    def linked(self, key: str) -> dict[str, Any]:
        other = self.state.issues[key]
        return {
            "id": str(other.id),
            "key": other.key,
            "self": f"{self.api}/issue/{other.id}",
            "fields": {"summary": other.summary, "status": self.status(other.status)},
        }

    def link_type(self, entry: tuple[str, str, str, str]) -> dict[str, Any]:
        tid, name, inward, outward = entry
        return {
            "id": tid,
            "name": name,
            "inward": inward,
            "outward": outward,
            "self": f"{self.api}/issueLinkType/{tid}",
        }

    def issue(self, issue: _Issue, wanted: set[str] | None) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "summary": issue.summary,
            "description": issue.description,
            "labels": list(issue.labels),
            "status": self.status(issue.status),
            "issuetype": self.issuetype(issue.issuetype),
            "project": self.project(issue.project),
            "assignee": self.user(issue.assignee, details=True) if issue.assignee else None,
            "reporter": self.user(issue.reporter, details=True),
            "creator": self.user(issue.reporter, details=True),
            "created": _when(issue.created),
            "updated": _when(issue.updated),
            "comment": self.comments_page(issue, 0, len(issue.comments)),
            "issuelinks": self.links_of(issue),
            "attachment": [self.attachment(a) for a in issue.attachments],
        }
        if wanted is not None and not ({"*all", "*navigable"} & wanted):
            fields = {name: value for name, value in fields.items() if name in wanted}
        return {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": str(issue.id),
            "self": f"{self.api}/issue/{issue.id}",
            "key": issue.key,
            "fields": fields,
        }

    def transitions(self, issue: _Issue) -> dict[str, Any]:
        return {
            "expand": "transitions",
            "transitions": [self.transition(tid) for tid in _WORKFLOW[issue.status]],
        }

    def transition(self, tid: str) -> dict[str, Any]:
        name, target = _TRANSITIONS[tid]
        return {
            "id": tid,
            "name": name,
            "to": self.status(target),
            "hasScreen": False,
            "isGlobal": False,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "isLooped": False,
        }

    def remote_link(self, issue: _Issue, link: _RemoteLink) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": link.id,
            "self": f"{self.api}/issue/{issue.key}/remotelink/{link.id}",
            "object": link.object,
        }
        if link.global_id is not None:
            out["globalId"] = link.global_id
        if link.application is not None:
            out["application"] = link.application
        if link.relationship is not None:
            out["relationship"] = link.relationship
        return out


# ----------------------------------------------------------------------------------- request parts


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise JiraApiError(400, ["No content to map to Object due to end of input"])
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise JiraApiError(400, [f"Unexpected character in the request body: {exc}"]) from exc


def _multipart_files(content_type: str, raw: bytes) -> list[tuple[str, str, bytes]]:
    """The ``file`` parts of a multipart/form-data body: (file name, MIME type, bytes) each. A part
    sent as ``application/octet-stream`` (the ``jira`` client's choice) gets the type its name says."""
    if not content_type.casefold().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise JiraApiError(415, ["Unsupported Media Type: attachments are sent as multipart/form-data"])
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    files = []
    for part in message.iter_parts() if message.is_multipart() else ():
        if part.get_param("name", header="content-disposition") != "file":
            continue
        name = part.get_filename()
        if not name:
            raise JiraApiError(400, ["A 'file' part has no file name."])
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        mime = part.get_content_type()
        if mime == "application/octet-stream":
            mime = mimetypes.guess_type(name)[0] or mime
        files.append((name, mime, content))
    if not files:
        raise JiraApiError(400, ["No 'file' part in the request: nothing to attach."])
    return files


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise JiraApiError(400, [f"Can not deserialize {what}: expected a JSON object."])
    return value


def _wanted_fields(request: Request) -> set[str] | None:
    values = request.query_params.getlist("fields")
    if not values:
        return None
    return {part.strip() for value in values for part in value.split(",") if part.strip()}


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise JiraApiError(400, [f"The value '{raw}' is not valid for the parameter '{name}'."]) from exc


def _page_token(offset: int, jql: str) -> str:
    digest = hashlib.sha256(jql.encode()).hexdigest()[:12]
    return base64.urlsafe_b64encode(f"{offset}:{digest}".encode()).decode().rstrip("=")


def _page_offset(token: str | None, jql: str) -> int:
    if not token:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        offset_text, digest = base64.urlsafe_b64decode(padded).decode().split(":", 1)
        offset = int(offset_text)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise JiraApiError(400, ["The provided next page token is invalid or expired."]) from exc
    if digest != hashlib.sha256(jql.encode()).hexdigest()[:12] or offset < 0:
        raise JiraApiError(400, ["The provided next page token is invalid or expired."])
    return offset


def _labels(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise JiraApiError(400, errors={"labels": "Labels must be a list of strings."})
    for label in value:
        if not label or any(c.isspace() for c in label):
            raise JiraApiError(
                400, errors={"labels": f"The label '{label}' contains spaces which is invalid."}
            )
        if len(label) > 255:
            raise JiraApiError(400, errors={"labels": "The label must not exceed 255 characters."})
    return list(dict.fromkeys(value))


def _summary(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise JiraApiError(400, errors={"summary": "You must specify a summary of the issue."})
    if len(value) > SUMMARY_MAX:
        raise JiraApiError(400, errors={"summary": "Summary must be less than 255 characters."})
    if "\n" in value or "\r" in value:
        raise JiraApiError(
            400, errors={"summary": "The summary is invalid because it contains newline characters."}
        )
    return value


DESCRIPTION_MAX = 32_767


def _description(value: Any) -> str | None:
    if isinstance(value, str) and len(value) > DESCRIPTION_MAX:
        raise JiraApiError(400, errors={"description": "The entered text is too long. It exceeds the allowed "
                                                       f"limit of {DESCRIPTION_MAX:,} characters."})
    if value is None or isinstance(value, str):
        return value
    raise JiraApiError(400, errors={"description": "Operation value must be a string"})


# -------------------------------------------------------------------------------------- the app


def _user_of(entry: Mapping[str, str] | _User) -> _User:
    if isinstance(entry, _User):
        return entry
    return _User(
        account_id=str(entry["accountId"]),
        display_name=str(entry.get("displayName", entry["accountId"])),
        email=str(entry.get("emailAddress", "")),
    )


def create_jira_app(
    *,
    email: str = DEFAULT_EMAIL,
    api_token: str = DEFAULT_API_TOKEN,
    users: Sequence[Mapping[str, str]] = DEFAULT_USERS,
    projects: Sequence[str] = DEFAULT_PROJECTS,
    issue_types: Sequence[str] = DEFAULT_ISSUE_TYPES,
    recorder: Recorder | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """A Jira Cloud stand-in for ``email``/``api_token``.

    ``users`` are mappings with ``accountId``, ``displayName`` and ``emailAddress``; the one whose
    ``emailAddress`` is ``email`` is the authenticated user (added when absent). ``projects`` are
    project keys. ``clock`` (UTC-aware) stamps issues and comments; the wall clock by default.
    """
    people = [_user_of(u) for u in users]
    me = next((u for u in people if u.email.casefold() == email.casefold()), None)
    if me is None:
        me = _User(
            account_id="sandbox-" + hashlib.sha256(email.encode()).hexdigest()[:20],
            display_name=email,
            email=email,
        )
        people.insert(0, me)
    if not projects:
        raise ValueError("the Jira sandbox needs at least one project")
    state = JiraState(
        users=people,
        projects=[p.upper() for p in projects],
        issue_types=issue_types,
        me=me,
        clock=clock or (lambda: datetime.now(UTC)),
    )
    recorder = recorder or Recorder(error_body=_fault_body)
    expected = "Basic " + base64.b64encode(f"{email}:{api_token}".encode()).decode()

    app = FastAPI(title="warroom Jira sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.jira = state
    app.state.recorder = recorder
    app.state.credentials = (email, api_token)

    @app.exception_handler(JiraApiError)
    async def _jira_error(request: Request, exc: JiraApiError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "null for uri: " + str(request.url) if exc.status_code == 404 else str(exc.detail)
        return JSONResponse(jira_error_body([message]), status_code=exc.status_code)

    @app.middleware("http")
    async def _authenticate(request: Request, call_next: Callable[[Request], Any]) -> Response:
        if request.url.path.startswith("/rest/"):
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return JSONResponse(
                    jira_error_body(["Client must be authenticated to access this resource."]),
                    status_code=401,
                    headers={
                        "WWW-Authenticate": 'Basic realm="protected-area"',
                        "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
                    },
                )
        response: Response = await call_next(request)
        return response

    router = APIRouter()

    @router.get("/serverInfo")
    def server_info(request: Request) -> dict[str, Any]:
        base = str(request.base_url).rstrip("/")
        return {
            "baseUrl": base,
            "displayUrl": base,
            "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0],
            "deploymentType": "Cloud",
            "buildNumber": 100290,
            "buildDate": "2025-01-01T00:00:00.000+0000",
            "serverTime": _when(state.clock()),
            "scmInfo": "sandbox",
            "serverTitle": "warroom Jira sandbox",
            "serverTimeZone": "Etc/UTC",
        }

    @router.get("/myself")
    def myself(request: Request) -> dict[str, Any]:
        return _Render(request, state).user(state.me)

    @router.get("/field")
    def fields() -> list[dict[str, Any]]:
        def system(fid: str, name: str, kind: str, items: str | None = None) -> dict[str, Any]:
            schema: dict[str, Any] = {"type": kind, "system": fid}
            if items:
                schema["items"] = items
            return {
                "id": fid,
                "key": fid,
                "name": name,
                "custom": False,
                "orderable": True,
                "navigable": True,
                "searchable": True,
                "clauseNames": [fid],
                "schema": schema,
            }

        return [
            system("summary", "Summary", "string"),
            system("description", "Description", "string"),
            system("labels", "Labels", "array", "string"),
            system("status", "Status", "status"),
            system("assignee", "Assignee", "user"),
            system("reporter", "Reporter", "user"),
            system("project", "Project", "project"),
            system("issuetype", "Issue Type", "issuetype"),
            system("created", "Created", "datetime"),
            system("updated", "Updated", "datetime"),
            system("comment", "Comment", "comments-page"),
            system("issuelinks", "Linked Issues", "array", "issuelinks"),
            system("attachment", "Attachment", "array", "attachment"),
        ]

    @router.get("/user/search")
    def user_search(request: Request) -> list[dict[str, Any]]:
        query = request.query_params.get("query")
        account_id = request.query_params.get("accountId")
        if not query and not account_id:
            raise JiraApiError(400, ["The query parameter 'query' or 'accountId' is required."])
        if account_id:
            found = [u for u in state.users if u.account_id == account_id]
        else:
            found = state.find_users(query or "")
        start = _int_param(request, "startAt", 0)
        size = _int_param(request, "maxResults", 50)
        render = _Render(request, state)
        return [render.user(u) for u in found[start : start + size]]

    @router.post("/issue", status_code=201)
    async def create_issue(request: Request) -> dict[str, Any]:
        body = _object(await _json_body(request), "the issue")
        fields = _object(body.get("fields", {}), "fields")
        problems: dict[str, str] = {}
        project = _resolve_project(fields.get("project"), problems)
        issuetype = _resolve_issuetype(fields.get("issuetype"), problems)
        try:
            summary = _summary(fields.get("summary"))
        except JiraApiError as exc:
            problems.update(exc.body["errors"])
            summary = ""
        if problems:
            raise JiraApiError(400, errors=problems)
        labels = _labels(fields.get("labels", []))
        description = _description(fields.get("description"))
        assignee = _resolve_assignee(fields.get("assignee"))
        assert project is not None and issuetype is not None
        issue = state.create_issue(
            project=project,
            issuetype=issuetype,
            summary=summary,
            description=description,
            labels=labels,
            assignee=assignee,
        )
        render = _Render(request, state)
        return {"id": str(issue.id), "key": issue.key, "self": f"{render.api}/issue/{issue.id}"}

    def _resolve_project(value: Any, problems: dict[str, str]) -> str | None:
        if not isinstance(value, dict) or not (value.get("key") or value.get("id")):
            problems["project"] = "Specify a valid project ID or key"
            return None
        if value.get("key"):
            key = str(value["key"]).upper()
            if key in state.projects:
                return key
        else:
            by_id = {str(pid): key for key, pid in state.projects.items()}
            if str(value["id"]) in by_id:
                return by_id[str(value["id"])]
        problems["project"] = "valid project is required"
        return None

    def _resolve_issuetype(value: Any, problems: dict[str, str]) -> str | None:
        if not isinstance(value, dict) or not (value.get("name") or value.get("id")):
            problems["issuetype"] = "Specify an issue type"
            return None
        for name, tid in state.issue_types.items():
            if value.get("name") == name or str(value.get("id", "")) == tid:
                return name
        problems["issuetype"] = "The issue type selected is invalid."
        return None

    def _resolve_assignee(value: Any) -> _User | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise JiraApiError(400, errors={"assignee": "Could not find a user for the assignee."})
        account_id = value.get("accountId", value.get("id"))
        if account_id is None:
            if "accountId" in value:
                return None
            raise JiraApiError(400, errors={"assignee": "Specify the assignee by accountId."})
        user = state.user_by_account(str(account_id))
        if user is None:
            raise JiraApiError(400, errors={"assignee": f"User '{account_id}' does not exist."})
        return user

    @router.get("/issue/{key}")
    def get_issue(request: Request, key: str) -> dict[str, Any]:
        with state.lock:
            return _Render(request, state).issue(state.issue(key), _wanted_fields(request))

    @router.put("/issue/{key}", status_code=204)
    async def edit_issue(request: Request, key: str) -> Response:
        body = _object(await _json_body(request), "the edit")
        fields = _object(body.get("fields") or {}, "fields")
        update = _object(body.get("update") or {}, "update")
        with state.lock:
            issue = state.issue(key)
            changes: dict[str, Any] = {}
            for name, value in fields.items():
                if name == "summary":
                    changes["summary"] = _summary(value)
                elif name == "description":
                    changes["description"] = _description(value)
                elif name == "labels":
                    changes["labels"] = _labels(value)
                elif name == "assignee":
                    changes["assignee"] = _resolve_assignee(value)
                else:
                    unknown = (
                        f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                    )
                    raise JiraApiError(400, errors={name: unknown})
            labels = list(changes.get("labels", issue.labels))
            for name, operations in update.items():
                if name != "labels" or not isinstance(operations, list):
                    raise JiraApiError(400, errors={name: f"Field '{name}' cannot be updated this way."})
                for op in operations:
                    op = _object(op, "the update operation")
                    if "add" in op:
                        labels = _labels([*labels, op["add"]])
                    elif "remove" in op:
                        labels = [label for label in labels if label != op["remove"]]
                    elif "set" in op:
                        labels = _labels(op["set"])
                    else:
                        raise JiraApiError(400, errors={"labels": "Unknown update operation."})
            changes["labels"] = labels
            for name, value in changes.items():
                setattr(issue, name, value)
            issue.updated = state.clock()
        return Response(status_code=204)

    @router.put("/issue/{key}/assignee", status_code=204)
    async def assign(request: Request, key: str) -> Response:
        body = _object(await _json_body(request), "the assignee")
        if "accountId" not in body:
            raise JiraApiError(
                400, ["'accountId' must be the only user identifying query parameter in GDPR strict mode."]
            )
        with state.lock:
            issue = state.issue(key)
            account_id = body["accountId"]
            if account_id is None:
                issue.assignee = None
            else:
                user = state.user_by_account(str(account_id))
                if user is None:
                    raise JiraApiError(404, [f"The user with account ID '{account_id}' does not exist."])
                issue.assignee = user
            issue.updated = state.clock()
        return Response(status_code=204)

    @router.post("/issue/{key}/comment", status_code=201)
    async def add_comment(request: Request, key: str) -> dict[str, Any]:
        body = _object(await _json_body(request), "the comment")
        text = body.get("body")
        if not isinstance(text, str) or not text.strip():
            raise JiraApiError(400, errors={"comment": "Comment body can not be empty!"})
        issue = state.issue(key)
        comment = state.add_comment(issue, text)
        return _Render(request, state).comment(issue, comment)

    @router.get("/issue/{key}/comment")
    def list_comments(request: Request, key: str) -> dict[str, Any]:
        with state.lock:
            issue = state.issue(key)
            start = max(0, _int_param(request, "startAt", 0))
            size = max(0, min(_int_param(request, "maxResults", 5000), 5000))
            return _Render(request, state).comments_page(issue, start, size)

    @router.post("/issue/{key}/attachments")
    async def add_attachments(request: Request, key: str) -> list[dict[str, Any]]:
        if request.headers.get("x-atlassian-token", "").casefold() != "no-check":
            raise JiraApiError(403, ["XSRF check failed"])  # Jira blocks an upload without the header
        files = _multipart_files(request.headers.get("content-type", ""), await request.body())
        issue = state.issue(key)
        added = [state.add_attachment(issue, name, mime, content) for name, mime, content in files]
        render = _Render(request, state)
        return [render.attachment(a) for a in added]

    @router.get("/attachment/content/{attachment_id}")
    def attachment_content(attachment_id: str) -> Response:
        _, attachment = state.attachment(attachment_id)
        return Response(attachment.content, media_type=attachment.mime_type)

    @router.get("/attachment/{attachment_id}")
    def attachment_metadata(request: Request, attachment_id: str) -> dict[str, Any]:
        _, attachment = state.attachment(attachment_id)
        return _Render(request, state).attachment_metadata(attachment)

    @router.get("/issue/{key}/transitions")
    def list_transitions(request: Request, key: str) -> dict[str, Any]:
        with state.lock:
            issue = state.issue(key)
            out = _Render(request, state).transitions(issue)
            wanted = request.query_params.get("transitionId")
            if wanted:
                out["transitions"] = [t for t in out["transitions"] if t["id"] == wanted]
            return out

    @router.post("/issue/{key}/transitions", status_code=204)
    async def do_transition(request: Request, key: str) -> Response:
        body = _object(await _json_body(request), "the transition")
        transition = body.get("transition")
        if not isinstance(transition, dict) or transition.get("id") in (None, ""):
            raise JiraApiError(400, ["Missing 'transition' identifier"])
        tid = str(transition["id"])  # the client sends an int; Jira accepts both
        comments = []
        for op in _object(body.get("update") or {}, "update").get("comment", []):
            added = _object(op, "the comment operation").get("add")
            if isinstance(added, dict) and isinstance(added.get("body"), str):
                comments.append(added["body"])
        with state.lock:
            issue = state.issue(key)
            if tid not in _WORKFLOW[issue.status]:
                raise JiraApiError(400, [f"Transition id '{tid}' is not valid for this issue."])
            issue.status = _TRANSITIONS[tid][1]
            issue.updated = state.clock()
            for text in comments:
                state.add_comment(issue, text)
        return Response(status_code=204)

    @router.get("/issueLinkType")
    def link_types(request: Request) -> dict[str, Any]:
        render = _Render(request, state)
        return {"issueLinkTypes": [render.link_type(t) for t in _LINK_TYPES]}

    @router.post("/issueLink", status_code=201)
    async def link_issues(request: Request) -> Response:
        body = _object(await _json_body(request), "the link")
        kind = _object(body.get("type") or {}, "type")
        link_type = next(
            (t for t in _LINK_TYPES if kind.get("name") == t[1] or str(kind.get("id", "")) == t[0]), None
        )
        if link_type is None:
            raise JiraApiError(404, [f"No issue link type with name '{kind.get('name')}' found."])
        inward = _object(body.get("inwardIssue") or {}, "inwardIssue")
        outward = _object(body.get("outwardIssue") or {}, "outwardIssue")
        inward_issue = state.issue(str(inward.get("key") or inward.get("id") or ""))
        outward_issue = state.issue(str(outward.get("key") or outward.get("id") or ""))
        comment = body.get("comment")  # the client sends null when there is none
        with state.lock:
            state.add_link(link_type[0], outward_issue, inward_issue)
            if isinstance(comment, dict) and isinstance(comment.get("body"), str):
                state.add_comment(inward_issue, comment["body"])
        return Response(status_code=201)

    @router.post("/issue/{key}/remotelink")
    async def add_remote_link(request: Request, key: str) -> JSONResponse:
        body = _object(await _json_body(request), "the remote link")
        obj = body.get("object")
        if not isinstance(obj, dict):
            raise JiraApiError(400, errors={"object": "'object' is required."})
        problems = {}
        for name in ("url", "title"):
            if not isinstance(obj.get(name), str) or not obj[name].strip():
                problems[name] = f"'{name}' is required."
        if problems:
            raise JiraApiError(400, errors=problems)
        global_id = body.get("globalId")
        issue = state.issue(key)
        link, created = state.put_remote_link(
            issue,
            dict(obj),
            str(global_id) if global_id is not None else None,
            body.get("application") if isinstance(body.get("application"), dict) else None,
            body.get("relationship") if isinstance(body.get("relationship"), str) else None,
        )
        render = _Render(request, state)
        return JSONResponse(
            {"id": link.id, "self": f"{render.api}/issue/{issue.key}/remotelink/{link.id}"},
            status_code=201 if created else 200,
        )

    @router.get("/issue/{key}/remotelink")
    def list_remote_links(request: Request, key: str) -> Any:
        with state.lock:
            issue = state.issue(key)
            render = _Render(request, state)
            wanted = request.query_params.get("globalId")
            if wanted is not None:
                for link in issue.remote_links:
                    if link.global_id == wanted:
                        return render.remote_link(issue, link)
                raise JiraApiError(404, [f"No remote link with globalId '{wanted}' on {issue.key}."])
            return [render.remote_link(issue, link) for link in issue.remote_links]

    def _search(request: Request, params: Mapping[str, Any]) -> dict[str, Any]:
        jql = params.get("jql") or ""
        if not isinstance(jql, str):
            raise JiraApiError(400, ["The 'jql' parameter must be a string."])
        try:
            found = state.search(jql)
        except JqlError as exc:
            raise JiraApiError(400, [exc.jira_message]) from exc
        size = params.get("maxResults", 50)
        if not isinstance(size, int) or size < 0:
            raise JiraApiError(400, [f"The value '{size}' is not valid for the parameter 'maxResults'."])
        size = min(size, MAX_SEARCH_RESULTS)
        token = params.get("nextPageToken")
        offset = _page_offset(token if isinstance(token, str) else None, jql)
        page = found[offset : offset + size]
        wanted = params.get("fields")
        render = _Render(request, state)
        issues = []
        with state.lock:
            for issue in page:
                rendered = render.issue(issue, set(wanted) if wanted else set())
                if not wanted:
                    rendered.pop("fields")
                issues.append(rendered)
        out: dict[str, Any] = {"issues": issues, "isLast": offset + size >= len(found)}
        if not out["isLast"]:
            out["nextPageToken"] = _page_token(offset + size, jql)
        return out

    @router.get("/search/jql")
    def search_get(request: Request) -> dict[str, Any]:
        q = request.query_params
        fields = [part.strip() for v in q.getlist("fields") for part in v.split(",") if part.strip()]
        return _search(
            request,
            {
                "jql": q.get("jql", ""),
                "maxResults": _int_param(request, "maxResults", 50),
                "nextPageToken": q.get("nextPageToken"),
                "fields": fields,
            },
        )

    @router.post("/search/jql")
    async def search_post(request: Request) -> dict[str, Any]:
        body = _object(await _json_body(request), "the search")
        fields = body.get("fields") or []
        if not isinstance(fields, list):
            raise JiraApiError(400, ["'fields' must be a list of strings."])
        return _search(
            request,
            {
                "jql": body.get("jql", ""),
                "maxResults": body.get("maxResults", 50),
                "nextPageToken": body.get("nextPageToken"),
                "fields": [str(f) for f in fields],
            },
        )

    for version in ("2", "latest"):
        app.include_router(router, prefix=f"/rest/api/{version}")

    add_sandbox_admin(app, recorder)
    return app


def sandbox_env(app: FastAPI, base_url: str) -> dict[str, str]:
    """The ``WARROOM_JIRA_*`` settings for a running sandbox (used by ``Sandboxes.env()``)."""
    email, api_token = app.state.credentials
    return {"WARROOM_JIRA_URL": base_url, "WARROOM_JIRA_EMAIL": email, "WARROOM_JIRA_API_TOKEN": api_token}
