"""The forms people fill on their desks in the Prefect UI, one per desk, addressed to one role.

Choices (people, actions, mitigations) are built from the configuration and the incident as enums, so
the UI shows a list and the Prefect server refuses anything else. Every field has a title (what the UI
shows); a field is optional only when an answer makes sense without it.
"""

from __future__ import annotations

import copy
from enum import Enum
from typing import Any

from prefect.input import RunInput
from pydantic import Field, create_model
from pydantic.fields import FieldInfo

from warroom.incident.models import Role

NO_ONE = "(the incident commander)"
NOBODY = "(nobody)"


def _choice(name: str, values: list[str]) -> Any:
    return Enum(name, {v: v for v in values}, type=str)


# A field the answer cannot do without has a one-word title that is also its key in the form: the
# Prefect server names a missing field by its key ("'Approver' is a required property"), and the UI shows
# that message under the field, so the message says the field's title. Inside warroom, the answer's
# values are read by field name (`named`); the scripted responder and the tests answer by name (`keyed`).
KEYS = {"your_handle": "You", "approved_by": "Approver", "action": "Decision", "incident_commander": "Commander",
        "message": "Update"}
NAMES = {key: name for name, key in KEYS.items()}


def named(values: dict[str, Any]) -> dict[str, Any]:
    """An answer's values by warroom's field names."""
    return {NAMES.get(k, k): v for k, v in values.items()}


def keyed(values: dict[str, Any]) -> dict[str, Any]:
    """Values by field name, as the form's keys (to answer a form as the UI does)."""
    return {KEYS.get(k, k): v for k, v in values.items()}


def _form(name: str, fields: dict[str, Any]) -> type[RunInput]:
    for field_name, key in KEYS.items():
        if field_name in fields:
            kind, info = fields[field_name]
            fields[field_name] = (kind, FieldInfo.merge_field_infos(
                info, alias=key, validation_alias=key, serialization_alias=key, title=key))
    return create_model(name, __base__=RunInput, **fields)


def _person(handles: list[str], who: str) -> tuple[Any, Any]:
    return _choice("Person", handles), Field(description=f"{who}. Prefect has no logins: pick your own handle")


def _someone(name: str, handles: list[str], title: str, description: str) -> tuple[Any, Any]:
    return _choice(name, [NOBODY, *handles]), Field(NOBODY, title=title, description=description)


def _text(title: str, description: str) -> tuple[Any, Any]:
    return str, Field("", title=title, description=description)


def roles_form(handles: list[str], eligible: dict[Role, list[str]]) -> type[RunInput]:
    """Each role lists only the people the roster allows to hold it."""

    def lead(role: Role, what: str) -> tuple[Any, Any]:
        name = "".join(w.title() for w in role.value.split("_"))
        return (_choice(name, [NO_ONE, *eligible[role]]), Field(NO_ONE, title=role.label.capitalize(),
                                                                 description=what))

    return _form(
        "RolesForm",
        {
            "your_handle": _person(handles, "You, the incident commander now (the on-call paged)"),
            "incident_commander": (_choice("IncidentCommander", eligible[Role.INCIDENT_COMMANDER]),
                                   Field(description="Keep command, or name who takes it (they accept on their desk)")),
            "operations_lead": lead(Role.OPERATIONS_LEAD, "The only one who approves changes"),
            "communications_lead": lead(Role.COMMUNICATIONS_LEAD, "Posts the status updates"),
            "planning_lead": lead(Role.PLANNING_LEAD, "Bugs filed, handoffs, the divergence list"),
        },
    )


def command_form(handles: list[str], actions: list[str], severities: list[str], teams: list[str],
                 criteria: list[str]) -> type[RunInput]:
    """The incident commander's desk: one decision per answer; ``criteria`` are ticked to restore or to
    close."""
    fields: dict[str, Any] = {
        "action": (_choice("CommandAction", actions), Field(description="What you decide")),
        "note": _text("Note", "Why (a checkpoint, a new severity), the reason, the briefing or the summary"),
        "offer_to": _someone("OfferTo", handles, "Offer command to", "Only to offer command"),
        "severity": (_choice("Severity", severities), Field(severities[0], title="Severity",
                                                             description="Only to change the severity")),
        "team": (_choice("Team", [NOBODY, *teams]), Field(NOBODY, title="Team to engage",
                                                          description="Only to engage another team")),
    }
    for n, criterion in enumerate(criteria, start=1):
        fields[f"criterion_{n}"] = (bool, Field(False, title=criterion,
                                                description="Only to restore or to close: tick it if it holds"))
    fields["your_handle"] = _person(handles, "You, the incident commander")
    return _form("CommandForm", fields)


OTHER = "apply another change (describe it and its revert)"
NO_CHANGE = "no change (observe only)"
NAME_SUBLEAD = "name a sub-lead for an area"
RELEASE_SUBLEAD = "release the sub-lead of an area"


def apply_action(mitigation_id: str, title: str) -> str:
    return f"apply {mitigation_id}: {title}"[:200]


def operations_form(handles: list[str], mitigations: list[tuple[str, str]]) -> type[RunInput]:
    actions = [apply_action(m, title) for m, title in mitigations] + [OTHER, NO_CHANGE, NAME_SUBLEAD,
                                                                       RELEASE_SUBLEAD]
    return _form(
        "OperationsForm",
        {
            "action": (_choice("OperationsAction", actions), Field(description="What you do")),
            "other_what": _text("The change", "Only for another change: what you change"),
            "other_revert": _text("Its revert", "Only for another change: how to undo it"),
            "area": _text("Area", "Only for a sub-lead: the part of the work (e.g. database, network)"),
            "sub_lead": _someone("SubLead", handles, "Sub-lead", "Only to name a sub-lead"),
            "approved_by": _person(handles, "You, the operations lead approving it (only you can)"),
        },
    )


def planning_form(handles: list[str], actions: list[str]) -> type[RunInput]:
    return _form(
        "PlanningForm",
        {
            "action": (_choice("PlanningAction", actions), Field(description="What you do")),
            "note": _text("Note", "The bug's summary; or the change someone reported; or why it stays open"),
            "revert": _text("Its revert", "Only for a reported change: how to undo it"),
            "who": _someone("Who", handles, "Who", "Who reported the change, or who commands next"),
            "your_handle": _person(handles, "You, the planning lead"),
        },
    )


POST_UPDATE = "post a status update"
EDIT_SUMMARY = "rewrite the document's summary (the text is the new summary)"
EDIT_DETAILED = "rewrite the document's detailed status (the text is the new detailed status)"
COMMUNICATIONS_ACTIONS = [POST_UPDATE, EDIT_SUMMARY, EDIT_DETAILED]


def status_update_form(handles: list[str]) -> type[RunInput]:
    """The communications lead's desk: a status update (the default), or the incident document's
    summary or detailed status rewritten; the text is required either way."""
    return _form(
        "StatusUpdateForm",
        {
            "action": (_choice("CommunicationsAction", COMMUNICATIONS_ACTIONS),
                       Field(POST_UPDATE, description="What you do (a status update, unless you choose otherwise)")),
            "message": (str, Field(min_length=1,
                                   description="What responders and stakeholders should know; or the new "
                                               "summary, or the new detailed status")),
            "your_handle": _person(handles, "You, the communications lead"),
        },
    )


def handoff_accept_form(handles: list[str]) -> type[RunInput]:
    return _form(
        "HandoffAcceptForm",
        {
            "accept": (bool, Field(False, title="Accept command",
                                   description="You're now the incident commander, okay? Untick to decline.")),
            "your_handle": _person(handles, "You, the incoming incident commander"),
        },
    )


def prefilled(form: type[RunInput], description: str, **values: Any) -> type[RunInput]:
    """``form`` with ``description`` shown above it and fields pre-filled. A required field stays
    required (``_required``): a default only saves typing."""
    fields: dict[str, Any] = {}
    for name, value in values.items():
        info = copy.copy(form.model_fields[name])
        info.default = value
        fields[name] = (info.annotation, info)
    model = create_model(form.__name__, __base__=form, **fields)
    model._description = description
    model._required = tuple(getattr(form, "_required", ())) or tuple(  # type: ignore[attr-defined]
        info.alias or name for name, info in form.model_fields.items() if info.is_required())
    return model
