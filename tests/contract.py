"""Contract checks: does an HTTP exchange match a vendor's OpenAPI 3.0 document?

Shared by the PagerDuty and Jira contract tests. Typical use, on exchanges taken from a sandbox's
:class:`~integrations.sandbox.recorder.Recorder` (``RecordedRequest`` carries both halves)::

    spec = load_spec("pagerduty-rest-openapiv3.json")      # skips (or fails when CI=true) if absent
    template = match_path(spec, "POST", "/incidents/PABC123/notes")   # -> "/incidents/{id}/notes"
    validate_exchange(spec, "POST", template, request_body, 200, response_body)

:func:`validate_exchange` raises :class:`ContractViolation` (an ``AssertionError``) listing every
problem: an operation the document does not have, a request body that does not match the
operation's ``requestBody`` schema, a status the operation does not list (exact, ``5XX``-style or
``default``), a response body that does not match that response's schema.

Leniencies, all on purpose and named here (DESIGN.md §7):

- ``readOnly`` is ignored on request bodies (PagerDuty marks reference ids, e.g. ``service.id``,
  readOnly although requests must send them): requests use ``OAS30Validator``, which does not
  enforce ``readOnly``; responses use ``OAS30ReadValidator`` (``writeOnly`` must not appear).
- A response whose declared body has no schema (PagerDuty Events' 400/429 are description-only)
  is accepted with any body.
- Per-call extras: ``request_fixups`` / ``response_fixups`` take a function that rewrites a copy
  of the body before validation, for the documented vendor quirks (Jira's ``"comment": null`` on
  issueLink, an integer transition id; PagerDuty's ``status_update_log_entry`` and
  ``responder_request_log_entry``, which the real API returns but the document's enum lacks).

- Known errors in a vendor document are patched, visibly, on a copy with :func:`patch_spec` (each
  patch names the pointer it changes; the contract test says why).

Spec files live in ``shared/specs`` beside the repository, or under ``$WARROOM_SHARED_DIR``
(``WARROOM_SPECS_DIR`` overrides).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from openapi_schema_validator import OAS30ReadValidator, OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.helpers import shared_dir

REPO = Path(__file__).resolve().parents[1]
SPEC_URI = "urn:warroom-contract:spec"

Fixup = Callable[[Any], Any]


class ContractViolation(AssertionError):
    """An exchange that does not match the vendor's document."""


def specs_dir() -> Path:
    configured = os.environ.get("WARROOM_SPECS_DIR")
    return Path(configured) if configured else shared_dir() / "specs"


@functools.cache
def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


def load_spec(name: str) -> dict[str, Any]:
    """The OpenAPI document ``name`` from :func:`specs_dir` (parsed once per process).

    When the file is absent the calling test is skipped, with a message saying so, except under
    ``CI=true``, where it fails: CI must never pass a contract test it did not run.
    """
    path = specs_dir() / name
    if not path.is_file():
        message = f"vendor OpenAPI document {path} is absent: contract not checked"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI=true: the specs must be present)")
        pytest.skip(message)
    return _load(str(path))


_REGISTRIES: dict[int, tuple[dict[str, Any], Registry]] = {}


def _registry(spec: dict[str, Any]) -> Registry:
    """A referencing registry holding ``spec`` under :data:`SPEC_URI` (one per document)."""
    cached = _REGISTRIES.get(id(spec))
    if cached is None or cached[0] is not spec:
        resource: Resource[Any] = Resource.from_contents(spec, default_specification=DRAFT4)
        cached = (spec, Registry().with_resource(SPEC_URI, resource))
        _REGISTRIES[id(spec)] = cached
    return cached[1]


def _escape(part: str) -> str:
    return quote(part.replace("~", "~0").replace("/", "~1"), safe="~")


def _deref(spec: dict[str, Any], node: Any, pointer: str) -> tuple[Any, str]:
    """Follow ``$ref`` chains of non-schema objects (responses, request bodies) within ``spec``.

    Returns the object and its JSON pointer (``#/...``), so schemas inside it can be validated in
    place, their own local ``$ref`` s resolving against the whole document.
    """
    for _ in range(20):
        if not (isinstance(node, dict) and "$ref" in node):
            return node, pointer
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ContractViolation(f"external $ref not supported: {ref}")
        pointer = ref
        node = spec
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    raise ContractViolation(f"$ref chain too long at {pointer}")


def _walk(doc: Any, pointer: str) -> tuple[Any, str]:
    if not pointer.startswith("#/"):
        raise ValueError(f"a patch pointer must start with '#/': {pointer}")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer[2:].split("/")]
    parent = doc
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    return parent, parts[-1]


def patch_spec(
    spec: dict[str, Any],
    *,
    set_: dict[str, Any] | None = None,
    extend: dict[str, list[Any]] | None = None,
    rename: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A deep copy of ``spec`` with known document errors corrected.

    ``set_`` replaces the value at each JSON pointer (``#/components/...``); ``extend`` appends to
    the list there; ``rename`` renames the key at the pointer (e.g. ``oneOf`` -> ``anyOf``). Every
    pointer must exist: a patch that no longer applies fails loudly.
    """
    patched = copy.deepcopy(spec)
    for pointer, value in (set_ or {}).items():
        parent, key = _walk(patched, pointer)
        if key not in parent:
            raise KeyError(f"patch target {pointer} does not exist")
        parent[key] = copy.deepcopy(value)
    for pointer, values in (extend or {}).items():
        parent, key = _walk(patched, pointer)
        parent[key].extend(copy.deepcopy(values))
    for pointer, new_key in (rename or {}).items():
        parent, key = _walk(patched, pointer)
        parent[new_key] = parent.pop(key)
    return patched


def _template_regex(template: str) -> re.Pattern[str]:
    pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
    return re.compile(f"^{pattern}$")


def match_path(spec: dict[str, Any], method: str, path: str, *, prefix: str = "") -> str:
    """The path template of ``spec`` that ``path`` (as sent, minus ``prefix``) is an instance of.

    Literal templates win over templated ones (``/users/me`` before ``/users/{id}``).
    """
    if prefix and path.startswith(prefix):
        path = path[len(prefix) :] or "/"
    candidates = [
        template
        for template, item in spec.get("paths", {}).items()
        if method.lower() in item and _template_regex(template).match(path)
    ]
    if not candidates:
        raise ContractViolation(f"{method} {path}: no such operation in the document")
    return str(min(candidates, key=lambda t: (t.count("{"), -len(t))))


def _validator(spec: dict[str, Any], pointer: str, *, response: bool) -> Any:
    cls = OAS30ReadValidator if response else OAS30Validator
    return cls({"$ref": SPEC_URI + pointer}, registry=_registry(spec), format_checker=oas30_format_checker)


def _errors(validator: Any, instance: Any, what: str) -> list[str]:
    problems = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path]):
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        problems.append(f"{what} at {where}: {error.message[:300]}")
    return problems


def _response_key(responses: dict[str, Any], status: int) -> str | None:
    if str(status) in responses:
        return str(status)
    wildcard = f"{str(status)[0]}XX"
    for key in responses:
        if key.upper() == wildcard:
            return key
    return "default" if "default" in responses else None


def _json_media(content: dict[str, Any]) -> str | None:
    if "application/json" in content:
        return "application/json"
    return next((m for m in content if "json" in m), None)


def validate_exchange(
    spec: dict[str, Any],
    method: str,
    path_template: str,
    request_body: Any,
    status: int,
    response_body: Any,
    *,
    request_fixups: Fixup | None = None,
    response_fixups: Fixup | None = None,
    check_request: bool = True,
) -> None:
    """Check one exchange against ``spec``; raise :class:`ContractViolation` listing every problem.

    ``request_body`` ``None`` means no body was sent (then the operation must not require one);
    ``response_body`` ``None`` means an empty answer. Bodies are JSON values as decoded.
    ``check_request=False`` checks only the answer (for refusals of deliberately bad requests).
    """
    item = spec.get("paths", {}).get(path_template)
    operation = item.get(method.lower()) if isinstance(item, dict) else None
    if not isinstance(operation, dict):
        raise ContractViolation(f"{method} {path_template}: no such operation in the document")
    where = f"{method.upper()} {path_template}"
    op_pointer = "#/" + "/".join(_escape(p) for p in ("paths", path_template, method.lower()))
    problems: list[str] = []

    declared_request, request_pointer = _deref(
        spec, operation.get("requestBody"), op_pointer + "/requestBody"
    )
    if not check_request:
        pass
    elif request_body is None:
        if isinstance(declared_request, dict) and declared_request.get("required"):
            problems.append(f"{where}: the request body is required but none was sent")
    else:
        content = declared_request.get("content", {}) if isinstance(declared_request, dict) else {}
        media = _json_media(content)
        if media is None or "schema" not in content[media]:
            problems.append(f"{where}: a body was sent but the operation declares none")
        else:
            body = request_fixups(copy.deepcopy(request_body)) if request_fixups else request_body
            pointer = f"{request_pointer}/content/{_escape(media)}/schema"
            problems += _errors(_validator(spec, pointer, response=False), body, f"{where} request")

    responses = operation.get("responses", {})
    key = _response_key(responses, status)
    if key is None:
        problems.append(f"{where}: status {status} is not among the documented {sorted(responses)}")
    else:
        declared, response_pointer = _deref(spec, responses[key], f"{op_pointer}/responses/{_escape(key)}")
        content = declared.get("content", {}) if isinstance(declared, dict) else {}
        media = _json_media(content)
        if media is not None and "schema" in content[media]:
            if response_body is None:
                problems.append(f"{where} {status}: a JSON body is documented but none came back")
            else:
                body = response_fixups(copy.deepcopy(response_body)) if response_fixups else response_body
                pointer = f"{response_pointer}/content/{_escape(media)}/schema"
                validator = _validator(spec, pointer, response=True)
                problems += _errors(validator, body, f"{where} {status} response")
    if problems:
        raise ContractViolation("\n".join(problems))
