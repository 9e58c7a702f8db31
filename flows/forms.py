"""The approval forms people fill in the Prefect UI, one per decision, addressed to one role.

Choices (people, mitigations) are built from the configuration as enums, so the UI shows a list and
the Prefect server refuses anything else: a bad answer leaves the run paused, waiting.
"""

from __future__ import annotations

import copy
from enum import Enum
from typing import Any, Literal

from prefect.input import RunInput
from pydantic import Field, create_model

from incident.models import Role

NO_ONE = "(the incident commander)"


def _choice(name: str, values: list[str]) -> Any:
    return Enum(name, {v: v for v in values}, type=str)


def _form(name: str, fields: dict[str, Any]) -> type[RunInput]:
    return create_model(name, __base__=RunInput, **fields)


def roles_form(handles: list[str], eligible: dict[Role, list[str]]) -> type[RunInput]:
    """Each role lists only the people the roster allows to hold it."""

    def lead(role: Role, what: str) -> tuple[Any, Any]:
        name = "".join(w.title() for w in role.value.split("_"))
        return (_choice(name, [NO_ONE, *eligible[role]]), Field(NO_ONE, description=what))

    return _form(
        "RolesForm",
        {
            "your_handle": (
                _choice("Person", handles),
                Field(description="You: the incident commander now (the on-call paged)"),
            ),
            "incident_commander": (
                _choice("IncidentCommander", eligible[Role.INCIDENT_COMMANDER]),
                Field(description="Who commands this incident"),
            ),
            "operations_lead": lead(Role.OPERATIONS_LEAD, "The only one who approves changes"),
            "communications_lead": lead(Role.COMMUNICATIONS_LEAD, "Posts the status updates"),
            "planning_lead": lead(Role.PLANNING_LEAD, "Bugs filed, handoffs, the divergence list"),
        },
    )


OTHER = "other (describe below)"
NO_CHANGE = "no change (observe only)"


def mitigation_form(handles: list[str], mitigations: list[str]) -> type[RunInput]:
    choices = _choice("MitigationChoice", [*mitigations, OTHER, NO_CHANGE])
    return _form(
        "MitigationForm",
        {
            "mitigation": (choices, Field(description="A runbook mitigation, or describe your own")),
            "other_what": (str, Field("", description="Only for 'other': what you change")),
            "other_revert": (str, Field("", description="Only for 'other': how to undo it")),
            "approved_by": (
                _choice("Person", handles),
                Field(description="The operations lead approving this change (only they can)"),
            ),
        },
    )


NOBODY = "(nobody)"


def command_form(handles: list[str], actions: list[str]) -> type[RunInput]:
    """The incident commander's desk: one action per answer, the note saying why (or the summary)."""
    return _form(
        "CommandForm",
        {
            "action": (_choice("CommandAction", actions), Field(title="What you decide")),
            "note": (str, Field("", title="Note",
                                description="Why (a checkpoint), the reason, the briefing or the summary")),
            "offer_to": (_choice("OfferTo", [NOBODY, *handles]),
                         Field(NOBODY, title="Offer command to", description="Only to offer command")),
            "your_handle": (_choice("Person", handles), Field(title="You, the incident commander")),
        },
    )


def planning_form(handles: list[str], actions: list[str]) -> type[RunInput]:
    return _form(
        "PlanningForm",
        {
            "action": (_choice("PlanningAction", actions), Field(title="What you do")),
            "note": (str, Field("", title="Note", description="The bug's summary, or why it stays open")),
            "your_handle": (_choice("Person", handles), Field(title="You, the planning lead")),
        },
    )


def checkpoint_form(handles: list[str]) -> type[RunInput]:
    return _form(
        "CheckpointForm",
        {
            "bleeding_stopped": (bool, Field(False, description="Has the impact stopped growing?")),
            "decision": (
                Literal["continue", "switch"],
                Field("continue", description="Continue this track, or switch to another?"),
            ),
            "why": (str, Field("", description="Why (goes in the timeline)")),
            "more_support": (bool, Field(False, description="Page more responders now")),
            "your_handle": (_choice("Person", handles), Field(description="You, the incident commander")),
        },
    )


def status_update_form(handles: list[str]) -> type[RunInput]:
    return _form(
        "StatusUpdateForm",
        {
            "message": (str, Field(min_length=1, description="What responders and stakeholders should know")),
            "your_handle": (_choice("Person", handles), Field(description="You, the communications lead")),
        },
    )


def restore_form(handles: list[str]) -> type[RunInput]:
    return _form(
        "RestoreForm",
        {
            "restored": (bool, Field(False, description="Every exit criterion above holds")),
            "your_handle": (_choice("Person", handles), Field(description="You, the incident commander")),
        },
    )


def waive_evidence_form(handles: list[str]) -> type[RunInput]:
    return _form(
        "WaiveEvidenceForm",
        {
            "reason": (str, Field(min_length=1, description="Why there is no evidence to keep")),
            "your_handle": (_choice("Person", handles), Field(description="You, the incident commander")),
        },
    )


def revert_form(handles: list[str]) -> type[RunInput]:
    return _form(
        "RevertForm",
        {
            "action": (
                Literal["revert", "accept", "leave open"],
                Field(description="revert it (planning lead), accept it as is (IC only), or leave it open"),
            ),
            "reason": (str, Field("", description="Required to accept: why it may stay")),
            "your_handle": (_choice("Person", handles), Field(description="You")),
        },
    )


def close_form(handles: list[str]) -> type[RunInput]:
    return _form(
        "CloseForm",
        {
            "summary": (str, Field(min_length=1, description="One paragraph: what happened, what fixed it")),
            "your_handle": (_choice("Person", handles), Field(description="You, the incident commander")),
        },
    )


def handoff_briefing_form(handles: list[str]) -> type[RunInput]:
    return _form(
        "HandoffBriefingForm",
        {
            "briefing": (str, Field(min_length=1, description="State of play for the incoming IC")),
            "your_handle": (_choice("Person", handles), Field(description="You, the outgoing IC")),
        },
    )


def handoff_accept_form(handles: list[str]) -> type[RunInput]:
    return _form(
        "HandoffAcceptForm",
        {
            "accept": (
                bool,
                Field(False, description="You're now the incident commander, okay?"),
            ),
            "your_handle": (_choice("Person", handles), Field(description="You, the incoming IC")),
        },
    )


def prefilled(form: type[RunInput], description: str, **values: Any) -> type[RunInput]:
    """``form`` with ``description`` shown above it and fields pre-filled (descriptions kept)."""
    fields: dict[str, Any] = {}
    for name, value in values.items():
        info = copy.copy(form.model_fields[name])
        info.default = value
        fields[name] = (info.annotation, info)
    model = create_model(form.__name__, __base__=form, **fields)
    model._description = description
    return model
