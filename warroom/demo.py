"""``warroom demo``: one whole incident on the embedded default, from the sample alert to close."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from warroom.config import load_config
from warroom.flows.lifecycle import incident_lifecycle
from warroom.incident import events as ev
from warroom.incident.criteria import decide, signals_from_alert
from warroom.incident.models import Alert
from warroom.incident.state import IncidentState
from warroom.intake import make_dispatcher
from warroom.responder import Form, Responder, scripted_answer
from warroom.settings import Settings
from warroom.stack import local_stack
from warroom.tasks.document import document
from warroom.tasks.ledger import envelope, load_state, record
from warroom.tasks.report import postmortem_path
from warroom.tasks.runtime import current_runtime, use_runtime


def run_demo(settings: Settings, environ: Mapping[str, str], interactive: bool,
             say: Callable[[str], None] = print) -> str:
    config = load_config(settings.config_dir)
    home = settings.home / "demo"
    shutil.rmtree(home, ignore_errors=True)  # each demo starts afresh
    settings = settings.model_copy(update={"home": home, "database_url": None})
    sample = Path(settings.config_dir, "samples", "alert.yaml")
    alert = Alert.model_validate(yaml.safe_load(sample.read_text()))

    say(f"warroom demo: starting Prefect, the PagerDuty and Jira sandboxes (state in {home})")
    with local_stack(settings, environ, config) as stack, use_runtime(stack.runtime) as rt:
        say(f"  Prefect UI:        {stack.ui_url}")
        say(f"  PagerDuty sandbox: {stack.sandboxes.pagerduty_url}")
        say(f"  Jira sandbox:      {stack.sandboxes.jira_url}")
        say(f"  sandbox CA:        {stack.sandboxes.tls.ca_path if stack.sandboxes.tls else '-'}")
        now = rt.clock()
        alert = alert.model_copy(update={"starts_at": now})  # it fires now, whatever date the sample says
        incident_id = f"INC-{now:%Y%m%d-%H%M%S}"
        service = config.services.services[alert.service or ""]
        decision = decide(signals_from_alert(alert, config.policy, service.customer_facing, now),
                          config.policy, now)
        say(f"\nalert: {alert.summary}\ncriteria: {decision.action} ({'; '.join(decision.reasons)})")
        record(ev.AlertAttached(**envelope(incident_id, f"{incident_id}:alert:{alert.fingerprint}",
                                                 alert.source), alert=alert))
        record(ev.DeclarationDecided(**envelope(incident_id, f"{incident_id}:decision"),
                                           action=decision.action, reasons=decision.reasons))
        if decision.action != "declare":
            say("the sample alert is not an incident by policy: nothing more to show")
            return incident_id

        if interactive:
            say("\ninteractive: answer each form in the Prefect UI; its link is printed when it waits")
            answer = link_printer(stack.ui_url, say)
        else:
            say("\na scripted responder fills each form, as the on-call team would, and says so:")
            answer = scripted_answer
        dispatcher = make_dispatcher(rt).start()  # handles the desks' answers, as in `warroom up`
        try:
            with Responder(answer=answer, say=lambda line: say(f"  {line}"), only=frozenset({incident_id})):
                incident_lifecycle(incident_id, alert.summary, service_name(alert), decision.severity,
                                   list(decision.reasons), "alertmanager")
                until_closed(incident_id)
        finally:
            dispatcher.stop()

        state = load_state(incident_id)
        say("\n" + "=" * 100 + "\nthe incident document\n" + "=" * 100 + "\n" + document(state))
        say_vendors(state, say)
        return incident_id


def until_closed(incident_id: str) -> None:
    """Until the incident is closed and its close wrapped up (people, or the responder, answer): the
    postmortem follow-up filed and the draft written."""
    pause = threading.Event()
    draft = postmortem_path(current_runtime().home, incident_id)
    while not ((state := load_state(incident_id)).closed_at and "postmortem" in state.followups
               and draft.is_file()):
        pause.wait(0.2)


def service_name(alert: Alert) -> str:
    return alert.service or alert.labels.get("service", "")


def link_printer(ui_url: str, say: Callable[[str], None]) -> Callable[[Form, IncidentState], Any]:
    def answer(form: Form, state: IncidentState) -> None:
        refused = form.description.split("\n", 1)[0].removeprefix("> **Not recorded:** ")
        again = f" again, your answer was not recorded: {refused}" if form.description.startswith("> **Not") else ""
        say(f"waiting{again}: {form.name} on {form.run_name}: {ui_url}/runs/flow-run/{form.flow_run_id}")

    return answer


def say_vendors(state: IncidentState, say: Callable[[str], None]) -> None:
    rt = current_runtime()
    say("=" * 100 + "\nPagerDuty (sandbox): the incident's log\n" + "=" * 100)
    for entry in rt.pager.log_entries(state.incident_id):
        say(f"  {entry.at:%H:%M:%S} {entry.type:32} {entry.summary}")
    say("=" * 100 + "\nJira (sandbox): the incident ticket and follow-ups\n" + "=" * 100)
    if state.ticket:
        say(f"  {state.ticket[0]:10} incident ticket  {state.ticket[1]}")
    followups = rt.tracker.find_followups(state.incident_id)
    for f in followups:
        say(f"  {f.tracker_key:10} {f.kind:16} {f.status:12} {f.summary}")
    on = ", ".join([*(state.ticket[:1] if state.ticket else ()), *(f.tracker_key for f in followups
                                                                   if f.kind == "postmortem")])
    say(f"  postmortem draft, attached to {on}: {postmortem_path(rt.home, state.incident_id)}")
    say("=" * 100 + "\ntimeline (oldest first, UTC)\n" + "=" * 100)
    for t in state.timeline:
        say(f"  {t.at:%H:%M:%S} {t.actor:14} {t.text}")
