"""A scripted responder: it fills each waiting form as a sensible on-call team would, and says so.

Used by ``warroom demo`` (unless ``--interactive``) and by the tests, which can replace the answer to
any form. It reads the forms the way the Prefect UI does: the paused run's saved schema and
description; it answers through ``resume_flow_run``, which the server validates like the UI's form.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import StateType
from prefect.flow_runs import resume_flow_run
from prefect.input.actions import read_flow_run_input
from prefect.input.run_input import keyset_from_paused_state

from warroom.flows.forms import KEYS, keyed
from warroom.incident.models import Phase, Role
from warroom.incident.state import IncidentState
from warroom.tasks.ledger import load_state


@dataclass(frozen=True)
class Form:
    """A form waiting in a paused flow run."""

    flow_run_id: UUID
    pause_key: str
    name: str  # the RunInput class: RolesForm, MitigationForm, ...
    schema: dict[str, Any]
    description: str
    incident_id: str
    run_name: str = ""  # the desk: "INC-… · operations lead · bob"

    def default(self, field_name: str) -> Any:
        return self.schema["properties"][KEYS.get(field_name, field_name)].get("default")

    def choices(self, field_name: str) -> list[str]:
        prop = self.schema["properties"][KEYS.get(field_name, field_name)]
        ref = prop.get("$ref", "").rsplit("/", 1)[-1]
        return list(self.schema.get("$defs", {}).get(ref, prop).get("enum", []))


Answer = Callable[[Form, IncidentState], dict[str, Any] | None]


def scripted_answer(form: Form, state: IncidentState) -> dict[str, Any] | None:
    """What a calm, competent team answers on each desk, and when; None leaves the desk waiting."""
    ic = state.commander
    match form.name:
        case "RolesForm":
            leads = ("operations_lead", "communications_lead", "planning_lead")
            return {"your_handle": ic, "incident_commander": form.default("incident_commander"),
                    **{r: form.default(r) for r in leads}}
        case "OperationsForm" if not state.divergences:
            return {"action": form.choices("action")[0], "approved_by": state.holder(Role.OPERATIONS_LEAD)}
        case "CommandForm":
            return command_answer(form, state)
        case "PlanningForm" if state.phase is Phase.REVERTING:
            reverts = [c for c in form.choices("action") if c.startswith("revert ")]
            return {"action": reverts[0], "your_handle": state.holder(Role.PLANNING_LEAD)} if reverts else None
        case "StatusUpdateForm" if "overdue" in form.description.split("---")[0]:
            return {"message": "Still working on it; next update at the usual cadence.",
                    "your_handle": state.holder(Role.COMMUNICATIONS_LEAD)}
        case "HandoffAcceptForm":
            return {"accept": True, "your_handle": form.default("your_handle")}
    return None


def command_answer(form: Form, state: IncidentState) -> dict[str, Any] | None:
    choices = form.choices("action")

    ticks = {name: True for name in form.schema["properties"] if name.startswith("criterion_")}

    def pick(prefix: str, note: str) -> dict[str, Any] | None:
        chosen = next((c for c in choices if c.startswith(prefix)), None)
        return None if chosen is None else {"action": chosen, "note": note, "your_handle": state.commander, **ticks}

    if state.phase is Phase.STABILISING:
        return pick("checkpoint: the bleeding has stopped", "error rate back to normal after the mitigation") \
            if state.divergences else None
    return (pick("service is restored", "")
            or pick("waive evidence", "nothing beyond the timeline to keep")
            or pick("close the incident", "Mitigated by the runbook, service restored, evidence kept, "
                                          "changes reverted."))


@dataclass
class Responder:
    """Polls the Prefect API for waiting forms and answers them in a background thread."""

    answer: Answer = scripted_answer
    say: Callable[[str], None] = print
    interval_s: float = 0.2
    only: frozenset[str] | None = None  # answer only these incidents' forms
    answered: list[tuple[Form, dict[str, Any]]] = field(default_factory=list)
    refused: list[tuple[Form, dict[str, Any], str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _seen: set[tuple[UUID, str]] = field(default_factory=set)

    def __enter__(self) -> Responder:
        self._thread = threading.Thread(target=self._run, name="warroom-responder", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    def waiting(self) -> list[Form]:
        forms = []
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))))
        for run in runs:
            if run.state is None or "incident_id" not in run.parameters:
                continue
            if self.only is not None and run.parameters["incident_id"] not in self.only:
                continue
            keyset = run.state.state_details.run_input_keyset or keyset_from_paused_state(run.state)
            schema = cast(dict[str, Any] | None, read_flow_run_input(keyset["schema"], run.id))
            if not schema:
                continue  # the form is being saved
            forms.append(Form(
                flow_run_id=run.id, pause_key=str(run.state.state_details.pause_key),
                name=schema.get("title", ""), schema=schema,
                description=str(read_flow_run_input(keyset["description"], run.id) or ""),
                incident_id=run.parameters["incident_id"], run_name=run.name,
            ))
        return forms

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                for form in self.waiting():
                    if (form.flow_run_id, form.pause_key) in self._seen:
                        continue
                    answer = self.answer(form, load_state(form.incident_id))
                    if answer is None:
                        self._seen.add((form.flow_run_id, form.pause_key))  # a desk left waiting
                        continue
                    self.say(f"responder: {form.name} of {form.incident_id} -> {answer}")
                    try:
                        resume_flow_run(form.flow_run_id, run_input=keyed(answer))
                    except Exception as refused:  # the server refused the answer: the run stays paused
                        self.refused.append((form, answer, str(refused)))
                        self.say(f"responder: refused: {refused}")
                        continue
                    self._seen.add((form.flow_run_id, form.pause_key))
                    self.answered.append((form, answer))
            except Exception as exc:  # keep answering; the test or demo shows what went wrong
                self.errors.append(repr(exc))
