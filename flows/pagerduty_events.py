"""PagerDuty's news about the pages warroom sent: recorded on the warroom incident, never a new one.

warroom pages through Events v2 with ``dedup_key`` = the warroom incident id, and PagerDuty's incident
carries that dedup key as its ``incident_key``; so a V3 webhook about an incident names the warroom
incident in ``data.incident_key``. Events whose ``data`` is not the incident (a note, a responder)
name only PagerDuty's incident id; it is matched against the incidents whose page PagerDuty has named
before (``IncidentState.pager_incident``, from an earlier webhook such as ``incident.triggered``).

Each event is recorded once, keyed by PagerDuty's event id: a redelivery is answered as a duplicate.
An event type PagerDuty does not document, or an event about an incident warroom did not page, is
ignored (the intake keeps its body in the inbox with the reason).
"""

from __future__ import annotations

import hashlib

from warroom.flows.intake import Outcome
from warroom.incident import events as ev
from warroom.incident.state import IncidentState
from warroom.integrations.alerts.parse import PagerDutyEvent
from warroom.tasks.ledger import done, envelope, load_state, write
from warroom.tasks.runtime import current_runtime

ACTOR = "pagerduty"
ACKNOWLEDGED = "incident.acknowledged"
MAX_INCIDENT_ID = 64
RECENT_INCIDENTS = 200  # how far back an event that names only PagerDuty's incident id is looked for


def event_key(incident_id: str, event: PagerDutyEvent) -> str:
    """The fact's idempotency key: PagerDuty's event id, which a redelivery repeats."""
    if event.event_id:
        name = event.event_id
    else:  # no id given: the event's own details are the best name it has
        when = event.occurred_at.isoformat() if event.occurred_at else ""
        name = hashlib.sha256(f"{event.event_type}|{event.incident}|{when}".encode()).hexdigest()[:32]
    return f"{incident_id}:pagerduty:{name}"


def paged_by_warroom(incident_id: str) -> IncidentState | None:
    """The warroom incident ``incident_id`` if warroom paged with it as the dedup key, else None."""
    if not incident_id or len(incident_id) > MAX_INCIDENT_ID or current_runtime().ledger.last_seq(incident_id) == 0:
        return None
    state = load_state(incident_id)
    return state if incident_id in state.pages else None


def incident_for(event: PagerDutyEvent) -> tuple[IncidentState | None, str]:
    """The warroom incident the event is about, or None and why not."""
    if event.incident_key:
        state = paged_by_warroom(event.incident_key)
        if state is not None:
            return state, ""
        return None, (f"PagerDuty incident {event.incident or '?'} (incident_key {event.incident_key!r}) "
                      "is not one warroom paged")
    if event.incident:
        for row in current_runtime().ledger.list_incidents(limit=RECENT_INCIDENTS):
            state = load_state(row.incident_id)
            if state.pager_incident == event.incident and state.pages:
                return state, ""
        return None, f"PagerDuty incident {event.incident} is not one warroom paged (or was not named to it yet)"
    return None, "the event names no PagerDuty incident"


def receive_pagerduty_event(event: PagerDutyEvent) -> Outcome:
    """Record one PagerDuty V3 webhook event on the warroom incident it is about.

    The action is ``recorded``, ``duplicate`` (this event id is in the ledger already) or ``ignored``.
    """
    if not event.known:
        return Outcome(None, "ignored", f"PagerDuty event type {event.event_type} is not an incident event")
    state, why = incident_for(event)
    if state is None:
        return Outcome(None, "ignored", f"{event.event_type}: {why}")
    incident_id = state.incident_id
    key = event_key(incident_id, event)
    seen = f"PagerDuty event {event.event_id or key} ({event.event_type}) was recorded already"
    if done(key) is not None:
        return Outcome(incident_id, "duplicate", seen)
    fact = ev.PagerEventReceived(
        **envelope(incident_id, key, ACTOR),
        event_type=event.event_type,
        event_id=event.event_id,
        pager_incident=event.incident,
        at=event.occurred_at,
        agent=event.agent,
        acknowledged=event.event_type == ACKNOWLEDGED,
    )
    if not write(fact)[1]:  # another delivery of the same event got in first
        return Outcome(incident_id, "duplicate", seen)
    return Outcome(incident_id, "recorded", f"{event.event_type} recorded on {incident_id}")
