"""Desks on Prefect: each one a flow run holding a role holder's form, paused, with no process behind it.

warroom keeps the waiting, not a process: a desk run is created and put into a Paused state with its
form (the RunInput schema and the text above it), exactly as ``pause_flow_run`` would save them, so
the Prefect UI shows its Resume form. The server validates an answer against the schema and moves the
run to Running; the dispatcher finds it there (:func:`answered`), records what the answer decides, and
shows the desk again (:func:`show`) with the next form. Nothing runs while a person thinks.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from prefect import Flow
from prefect._internal.pydantic.v2_schema import create_v2_schema
from prefect.client.schemas.actions import LogCreate
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.input import RunInput
from prefect.input.actions import create_flow_run_input, read_flow_run_input
from prefect.input.run_input import keyset_from_base_key, keyset_from_paused_state
from prefect.states import Completed, Paused
from prefect.types._datetime import now

from warroom.tasks.prefect_client import prefect_client

TAG = "warroom-desk"
REFUSED = "Not recorded"  # the state name of a desk shown again after a refused answer
DESK_FLOW = "desk"
WAITING = [StateType.PAUSED, StateType.RUNNING, StateType.PENDING]


@dataclass(frozen=True)
class Desk:
    """A desk as Prefect holds it."""

    run_id: UUID
    name: str
    incident_id: str
    desk: str  # the role (or "incoming_commander")
    person: str
    paused: bool
    pause_key: str | None
    since: datetime | None  # when its current form was shown
    message: str  # the state's message: "Not recorded: ..." after a refused answer


@dataclass(frozen=True)
class Answer:
    desk: Desk
    form: str  # the form's name (RolesForm, ...)
    values: dict[str, Any]

    @property
    def key(self) -> str:
        """Names this answer's intent: the same answer handled twice records nothing twice."""
        return f"{self.desk.incident_id}:answer:{self.desk.pause_key}"



def _desk(run: FlowRun) -> Desk:
    state = run.state
    paused = state is not None and state.type is StateType.PAUSED
    return Desk(
        run_id=run.id, name=run.name, incident_id=str(run.parameters.get("incident_id", "")),
        desk=str(run.parameters.get("desk", "")), person=str(run.parameters.get("person", "")),
        paused=paused, pause_key=str(state.state_details.pause_key) if state and state.state_details.pause_key
        else None, since=state.timestamp if state else None, message=(state.message or "") if state else "",
    )


def desks(incident_id: str | None = None, person: str | None = None) -> list[Desk]:
    """The desks not closed yet, oldest first (of one incident, or one person's)."""
    tags = [TAG] + ([f"incident:{incident_id}"] if incident_id else []) + ([f"person:{person}"] if person else [])
    with prefect_client() as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[DESK_FLOW])),
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=tags),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=WAITING)),
            ),
            limit=200,
        )
    return sorted((_desk(r) for r in runs), key=lambda d: d.since or datetime.min)


def schema_of(form: type[RunInput]) -> dict[str, Any]:
    """The form's schema as ``pause_flow_run`` saves it (and the UI and the server read it); fields
    that were pre-filled stay required (``_required``), so the UI does not call them optional."""
    schema = create_v2_schema(form.__name__, model_base=form)
    required = [*schema.get("required", []), *getattr(form, "_required", ())]
    if required:
        schema["required"] = list(dict.fromkeys(required))
    return schema


def fingerprint(form: type[RunInput], version: int) -> str:
    """The pause key of a form: the same form on the same version of the incident is shown once."""
    schema = json.dumps(schema_of(form), sort_keys=True)
    digest = hashlib.sha256(f"{schema}\n{form._description}".encode()).hexdigest()[:12]
    return f"v{version}-{digest}"


def show(flow: Flow[..., Any], incident_id: str, desk: str, person: str, label: str, form: type[RunInput],
         version: int, message: str = "") -> UUID:
    """Show ``form`` on ``person``'s ``desk`` for the incident: the desk run is created if there is
    none, and paused with the form unless it already shows this very form."""
    key = fingerprint(form, version)
    existing = next((d for d in desks(incident_id) if d.desk == desk), None)
    if existing is not None and existing.person != person:
        close(existing.run_id, f"the {label} is {person} now")
        existing = None
    if existing is not None and existing.paused and existing.pause_key == key:
        return existing.run_id
    with prefect_client() as client:
        if existing is None:
            run_id = client.create_flow_run(
                flow, name=f"{incident_id} · {label} · {person}",
                parameters={"incident_id": incident_id, "desk": desk, "person": person},
                tags=[TAG, f"incident:{incident_id}", f"role:{desk}", f"person:{person}"],
            ).id
        else:
            run_id = existing.run_id
        keyset = keyset_from_base_key(f"paused-{key}")
        # the form first, then the state that points at it: nobody sees a pause without its form
        create_flow_run_input(key=keyset["schema"], value=schema_of(form), flow_run_id=run_id)
        create_flow_run_input(key=keyset["description"], value=form._description, flow_run_id=run_id)
        # after a refused answer the badge itself says so ("Not recorded"), the reason in its message
        paused: State[Any] = Paused(pause_key=key, message=message or None, name=REFUSED if message else "Paused")
        paused.state_details.run_input_keyset = {str(k): v for k, v in keyset.items()}
        client.set_flow_run_state(run_id, paused, force=True)
    return run_id


def log(run_id: UUID, text: str, refused: bool = False) -> None:
    """A line on the desk run's Logs tab (the page a person sees after answering), as Prefect shows it."""
    with prefect_client() as client:
        client.create_logs([LogCreate(name="warroom.desk", level=logging.ERROR if refused else logging.INFO,
                                      message=text, timestamp=now("UTC"), flow_run_id=run_id)])


def close(run_id: UUID, why: str) -> None:
    with prefect_client() as client:
        client.set_flow_run_state(run_id, Completed(message=why), force=True)


def close_all(incident_id: str, why: str) -> int:
    open_desks = desks(incident_id)
    for d in open_desks:
        close(d.run_id, why)
    return len(open_desks)


def _running_desks(client: Any, run_ids: Sequence[UUID] | None = None) -> list[FlowRun]:
    runs: list[FlowRun] = client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[DESK_FLOW])),
        flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=list(run_ids)) if run_ids else None,
            tags=FlowRunFilterTags(all_=[TAG]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])),
        ),
        limit=200,
    )
    return runs


def _answer(client: Any, run: FlowRun) -> Answer | None:
    last_pause = next((s for s in reversed(client.read_flow_run_states(run.id)) if s.is_paused()), None)
    if last_pause is None:
        return None
    keyset = last_pause.state_details.run_input_keyset or keyset_from_paused_state(last_pause)
    values = cast(dict[str, Any] | None, read_flow_run_input(keyset["response"], run.id)) or {}
    schema = cast(dict[str, Any] | None, read_flow_run_input(keyset["schema"], run.id)) or {}
    desk = _desk(run)
    desk = Desk(**{**desk.__dict__, "pause_key": str(last_pause.state_details.pause_key)})
    return Answer(desk=desk, form=str(schema.get("title", "")), values=values)


def answered() -> list[Answer]:
    """The desks someone answered (the server moved them to Running), with their answers."""
    with prefect_client() as client:
        return [a for run in _running_desks(client) if (a := _answer(client, run)) is not None]


def answer_of(run_id: UUID) -> Answer | None:
    """The desk's answer, if it is still waiting to be handled."""
    with prefect_client() as client:
        runs = _running_desks(client, [run_id])
        return _answer(client, runs[0]) if runs else None
