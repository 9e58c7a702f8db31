"""The desks (DESIGN §5): from the roles decision on, each role holder has a waiting form of their own
for the incident, offering what that role may do now, answered any number of times.

- incident commander: the roles at declaration; then checkpoints (continue, switch, bleeding stopped),
  more responders, another team engaged, the severity, offering command, service restored (each exit
  criterion ticked), waiving evidence, accepting a divergence, close;
- operations lead: mitigations (each becomes a divergence), "no change", sub-leads named and released;
- communications lead: a status update at any time; the overdue one is asked for as soon as it is due;
- planning lead: follow-up bugs, changes someone reports, reverts, the next commander; at the revert
  phase, each divergence reverted or left open (a follow-up);
- the incoming commander, while command is offered to them: accept or decline.

The lifecycle moves on the facts in the ledger (:func:`advance`), not on the order of forms. A desk is
a paused flow run with no process behind it (``tasks.desks``). The dispatcher stores each answer as
work in the ledger (:func:`take_answers`) and carries it out (:func:`answered`): it records what the
answer decides (or that it was refused, and why), moves the incident on and shows every desk its next
form.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect import flow
from prefect.input import RunInput
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from warroom.flows.declare import drill_picks, oncall_handle, role_history
from warroom.flows.forms import (
    EDIT_DETAILED,
    EDIT_SUMMARY,
    NAME_SUBLEAD,
    NO_CHANGE,
    NO_ONE,
    NOBODY,
    OTHER,
    POST_UPDATE,
    RELEASE_SUBLEAD,
    apply_action,
    command_form,
    handoff_accept_form,
    named,
    operations_form,
    planning_form,
    prefilled,
    roles_form,
    status_update_form,
)
from warroom.flows.report import postmortem
from warroom.incident import events as ev
from warroom.incident import work
from warroom.incident.cadence import due
from warroom.incident.document import artifact_key
from warroom.incident.errors import IllegalTransitionError, IntegrationError, WarroomError
from warroom.incident.models import Phase, Role
from warroom.incident.rotation import Suggestion, suggest_roles
from warroom.incident.state import IncidentState, check
from warroom.tasks import desks as desk_runs
from warroom.tasks.desks import Answer
from warroom.tasks.document import publish_comparison, publish_document, reminders
from warroom.tasks.evidence import changed_evidence, snapshot_evidence
from warroom.tasks.handoff import hand_over_command
from warroom.tasks.ledger import done, envelope, load_state, record_event
from warroom.tasks.paging import engage_team, post_status_update, request_responders, resolve_page
from warroom.tasks.runtime import current_runtime
from warroom.tasks.tracking import file_followup, link_ticket, transition_ticket

INCOMING = "incoming_commander"
DONE = "Done"

# the incident commander's actions
CONTINUE = "checkpoint: continue this track"
SWITCH = "checkpoint: switch to another track"
STOPPED = "checkpoint: the bleeding has stopped (go on to restore)"
MORE = "page more responders"
RESTORED = "service is restored: the exit criteria for service hold"
WAIVE = "waive evidence (the note says why)"
CLOSE = "close the incident (the note is its summary)"
OFFER = "offer command (pick who; the note is the briefing)"
SEVERITY = "change the severity (pick it; the note says why)"
ENGAGE = "engage another team (pick it; its escalation policy is paged as responders)"
# the planning lead's
FILE = "file a follow-up bug (the note is its summary)"
REPORT = "record a change someone reports (the note says what; give its revert and who)"
NEXT_IC = "arrange the next incident commander (pick who)"

log = logging.getLogger("warroom.desks")


@flow(name="desk")
def desk(incident_id: str, desk: str, person: str) -> None:
    """A desk: a form Prefect holds while warroom waits. It is answered in the UI, never run."""
    raise WarroomError(f"the {desk} desk of {incident_id} is answered in the Prefect UI's Resume form, not run")


@dataclass(frozen=True)
class Offer:
    """What one desk shows now: ``ask`` names the pressing question, timed by ``timeout``."""

    desk: str
    person: str
    form: type[RunInput]
    ask: str | None = None
    timeout: timedelta | None = None
    lapses: bool = False  # the question lapses when nobody answers (a handoff), instead of escalating

    @property
    def label(self) -> str:
        return "incoming incident commander" if self.desk == INCOMING else Role(self.desk).label


def handles() -> list[str]:
    return sorted(current_runtime().config.roster.people)


def header(state: IncidentState, who: str, label: str, lines: list[str], problem: str | None) -> str:
    """What is asked, of whom, what is due; then the incident in brief, the whole document one click away."""
    top = [f"> **Not recorded:** {problem}", ""] if problem else []
    drill = "[DRILL] " if state.drill else ""
    return "\n".join([*top, f"## {drill}{state.incident_id} · {label} desk · **{who}**", "", *lines, "", "---", "",
                      brief(state)])


def brief(state: IncidentState) -> str:
    phase = state.phase.value.replace("_", " ")
    roles = " · ".join(f"{role.label}: **{state.holder(role) or '-'}**" for role in Role)
    latest = [f"- {t.at:%H:%M:%S} · {t.actor} · {t.text}" for t in reversed(state.timeline[-6:])]
    due_lines = [f"- {line}" for line in reminders(state)]
    return "\n".join([
        f"**{state.title}** · {state.service} · **{state.severity}**{' (drill)' if state.drill else ''} · {phase}",
        "", roles, *due_lines, "", "Latest (UTC):", *latest, "",
        f"[The whole incident document](/artifacts/key/{artifact_key(state.incident_id)})"])


# -- what each desk offers ---------------------------------------------------------------------------

def offers(state: IncidentState, problems: dict[str, str] | None = None) -> list[Offer]:
    problems = problems or {}
    if not state.phase.is_open or state.commander is None:
        return []
    found: list[Offer | None] = [commander_desk(state, problems.get(Role.INCIDENT_COMMANDER.value))]
    if state.phase is not Phase.DECLARED:
        found += [operations_desk(state, problems.get(Role.OPERATIONS_LEAD.value)),
                  communications_desk(state, problems.get(Role.COMMUNICATIONS_LEAD.value)),
                  planning_desk(state, problems.get(Role.PLANNING_LEAD.value))]
    if state.handoff is not None:
        found.append(incoming_desk(state, problems.get(INCOMING)))
    return [o for o in found if o is not None]


def commander_desk(state: IncidentState, problem: str | None) -> Offer:
    rt = current_runtime()
    ic = state.commander or ""
    policy = rt.config.policy
    if state.phase is Phase.DECLARED:
        return roles_offer(state, problem)
    actions: list[str] = []
    ask = timeout = None
    lines: list[str] = []
    criteria: list[str] = []
    if state.phase is Phase.STABILISING:
        actions += [CONTINUE, SWITCH, STOPPED, MORE]
        lines.append("Consider the alternatives at each checkpoint: continue this track, or switch? "
                     "Say when the bleeding has stopped.")
    elif state.phase is Phase.RESTORING:
        actions += [RESTORED, MORE]
        criteria = service_criteria()
        lines += ["Is service restored? Tick each exit criterion below that holds (the rest are checked at "
                  "close), then choose 'service is restored'."]
        ask, timeout = f"{state.incident_id}:restore", policy.approvals.restore
    elif state.phase is Phase.PRESERVING_EVIDENCE and not state.evidence_settled:
        actions.append(WAIVE)
        lines.append("The runbook names no evidence to keep for this service: waive it, with a reason.")
        ask, timeout = f"{state.incident_id}:evidence:waive", policy.approvals.evidence
    elif state.phase is Phase.REVERTING:
        actions += [accept_action(d.id, d.what) for d in state.open_divergences]
        blockers = state.close_blockers()
        if not blockers:
            actions.append(CLOSE)
            changed = changed_evidence(state.evidence)
            lines.append(f"**Evidence changed since capture** (sha256 differs): {', '.join(changed)}" if changed
                         else f"Evidence hashes checked: {len(state.evidence)} unchanged. Close with a summary.")
            criteria = remaining_criteria(state)
            if criteria:
                lines.append("To close, tick each exit criterion below that holds (the others were met already).")
            ask, timeout = f"{state.incident_id}:closed", policy.approvals.close
        else:
            lines += ["Before closing:", *[f"- {b}" for b in blockers]]
    actions += [ENGAGE, SEVERITY, OFFER]
    if state.handoff is not None:
        lines.append(f"Command is offered to **{state.handoff.to}**; they accept on their own desk.")
    elif state.next_commander:
        lines.append(f"The planning lead arranged **{state.next_commander}** as the next incident commander.")
    severities = list(policy.severities)
    form = command_form(handles(), actions, severities, other_teams(state), criteria)
    description = header(state, ic, "incident commander", lines, problem)
    return Offer(Role.INCIDENT_COMMANDER.value, ic,
                 prefilled(form, description, your_handle=ic, action=actions[0], severity=state.severity or
                           severities[0], offer_to=state.next_commander or NOBODY), ask, timeout)


def remaining_criteria(state: IncidentState) -> list[str]:
    """The exit criteria nobody has said hold yet: the IC ticks them to close."""
    return [c for c in current_runtime().config.policy.exit_criteria if c not in state.criteria_met]


def service_criteria() -> list[str]:
    """The exit criteria the IC confirms to restore: those that later phases do not settle."""
    return [c for c in current_runtime().config.policy.exit_criteria if not settled_at_close(c)]


def teams() -> dict[str, str]:
    """Each team that owns a service, by its label, with the escalation policy that pages it."""
    services = current_runtime().config.services.services
    return {f"{s.owner} ({s.escalation_policy})": s.escalation_policy for s in services.values()}


def other_teams(state: IncidentState) -> list[str]:
    services = current_runtime().config.services.services
    own = services[state.service].escalation_policy if state.service in services else None
    return [label for label, policy in teams().items() if policy != own]


def settled_at_close(criterion: str) -> bool:
    """Exit criteria that only later phases can meet (divergences, evidence, bugs): checked at close."""
    return any(word in criterion.lower() for word in ("divergence", "evidence", "follow-up", "bug"))


def accept_action(divergence_id: str, what: str) -> str:
    return f"accept {divergence_id} as it is (the note says why): {what}"[:200]


def roles_offer(state: IncidentState, problem: str | None) -> Offer:
    rt = current_runtime()
    roster = rt.config.roster
    suggestions: Mapping[Role, Suggestion]
    if state.drill:  # practice: whoever held each role least, drills included, and not on call now
        suggestions = drill_picks(state.incident_id, oncall_handle(state.service or ""))
        why = "Suggestions by the drill rotation (who held each role least, not on call now):"
    else:
        suggestions = suggest_roles(roster, role_history(rt.config.policy.rotation_window_days), rt.clock(),
                                    rt.config.policy.rotation_window_days, oncall=state.commander)
        why = "Suggestions, to rotate people through the roles:"
    eligible = {role: roster.eligible(role) for role in Role}
    ic = state.commander or ""
    lines = ["Take the roles. A role left as '(the incident commander)' stays with you, the IC.",
             why,
             *[f"- {role.label}: {s.reason}" for role, s in suggestions.items()]]
    prefill: dict[str, Any] = {role.value: s.person for role, s in suggestions.items()
                               if s.person and role is not Role.INCIDENT_COMMANDER}
    ic_default = ic if ic in eligible[Role.INCIDENT_COMMANDER] else suggestions[Role.INCIDENT_COMMANDER].person
    form = prefilled(roles_form(handles(), eligible), header(state, ic, "incident commander", lines, problem),
                     incident_commander=ic_default, your_handle=ic, **prefill)
    return Offer(Role.INCIDENT_COMMANDER.value, ic, form, f"{state.incident_id}:roles",
                 rt.config.policy.approvals.roles)


def operations_desk(state: IncidentState, problem: str | None) -> Offer | None:
    if state.phase not in (Phase.STABILISING, Phase.RESTORING):
        return None
    rt = current_runtime()
    ops = state.holder(Role.OPERATIONS_LEAD) or ""
    runbook = rt.config.runbook_for(state.service or "")
    mitigations = list(runbook.mitigations) if runbook else []
    lines = [f"Stop the bleeding. Runbook mitigations for {state.service}, each with its revert:", ""]
    lines += [f"- **{m.id}**: {m.title}. How: {m.how}  \n  Revert: {m.revert} (risk {m.risk})" for m in mitigations]
    lines += ["- (this service has no runbook)"] if not mitigations else []
    ask = timeout = None
    if state.phase is Phase.STABILISING and not state.divergences:
        ask, timeout = f"{state.incident_id}:mitigation", rt.config.policy.approvals.mitigation
    if state.subleads:
        lines += ["", "Sub-leads: " + ", ".join(f"{area}: **{who}**" for area, who in sorted(state.subleads.items()))]
    form = operations_form(handles(), [(m.id, m.title) for m in mitigations])
    first = apply_action(mitigations[0].id, mitigations[0].title) if mitigations else OTHER
    return Offer(Role.OPERATIONS_LEAD.value, ops,
                 prefilled(form, header(state, ops, "operations lead", lines, problem), approved_by=ops,
                           action=first), ask, timeout)


def communications_desk(state: IncidentState, problem: str | None) -> Offer:
    rt = current_runtime()
    comms = state.holder(Role.COMMUNICATIONS_LEAD) or ""
    update_due = due(state, rt.config.policy).status_update
    ask = timeout = None
    if rt.clock() >= update_due:
        lines = [f"**A status update is overdue since {update_due:%H:%M} UTC.** Write it now: it goes to "
                 "PagerDuty and the Jira ticket."]
        ask, timeout = f"{state.incident_id}:status:{update_due:%Y%m%dT%H%M%S}", rt.config.policy.approvals.checkpoint
    else:
        lines = [f"Post a status update at any time; the next is due at {update_due:%H:%M} UTC."]
    lines += ["", "You keep the incident document's summary and detailed status up to date: choose to rewrite "
              "one, and write its new text.", "",
              f"Summary now: {state.summary.text if state.summary else '(made up from the declaration)'}", "",
              "Detailed status now: " + (f"{state.detailed_status.text} (last updated at "
                                         f"{state.detailed_status.at:%H:%M} UTC by {state.detailed_status.by})"
                                         if state.detailed_status else "(not written yet)")]
    form = prefilled(status_update_form(handles()), header(state, comms, "communications lead", lines, problem),
                     your_handle=comms)
    return Offer(Role.COMMUNICATIONS_LEAD.value, comms, form, ask, timeout)


def planning_desk(state: IncidentState, problem: str | None) -> Offer:
    rt = current_runtime()
    planner = state.holder(Role.PLANNING_LEAD) or ""
    reverts = [revert_action(d.id, d.revert) for d in state.open_divergences]
    actions = [FILE, REPORT, NEXT_IC, *reverts]
    ask = timeout = None
    lines = ["File follow-up bugs, record a change someone reports, mark one reverted, arrange the next "
             "incident commander: at any time."]
    if state.phase is Phase.REVERTING and state.open_divergences:
        actions = [*reverts, *[leave_action(d.id) for d in state.open_divergences], FILE, REPORT, NEXT_IC]
        lines = ["Go through what was changed: revert each divergence, or leave it open (it becomes a "
                 "follow-up; the IC may accept it instead)."]
        ask, timeout = f"{state.incident_id}:revert", rt.config.policy.approvals.revert
    form = prefilled(planning_form(handles(), actions), header(state, planner, "planning lead", lines, problem),
                     your_handle=planner, action=actions[0], who=state.next_commander or NOBODY)
    return Offer(Role.PLANNING_LEAD.value, planner, form, ask, timeout)


def revert_action(divergence_id: str, revert: str) -> str:
    return f"revert {divergence_id}: {revert}"[:200]


def leave_action(divergence_id: str) -> str:
    return f"leave {divergence_id} open (files a follow-up)"


def incoming_desk(state: IncidentState, problem: str | None) -> Offer:
    assert state.handoff is not None
    to = state.handoff.to
    lines = [f"{state.handoff.by} offers you command of {state.incident_id}. Briefing:", "",
             f"> {state.handoff.briefing}", "", "**You're now the incident commander, okay?** Tick accept."]
    form = prefilled(handoff_accept_form(handles()), header(state, to, "incoming incident commander", lines, problem),
                     your_handle=to)
    return Offer(INCOMING, to, form, f"{state.incident_id}:handoff:{state.handoffs_offered}:accept",
                 current_runtime().config.policy.approvals.handoff, lapses=True)


# -- what an answer decides --------------------------------------------------------------------------

def plain(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


Decision = Callable[[Answer, IncidentState, str], str | None]


def decide(answer: Answer, state: IncidentState) -> str | None:
    """Record what ``answer`` decides; returns why it was not recorded, or None."""
    who = plain(answer.values.get("your_handle") or answer.values.get("approved_by"))
    if not who:
        return "name yourself in the form: Prefect has no users, so the answerer says who they are"
    handler = DECISIONS.get(answer.form)
    if handler is None:
        return f"this form ({answer.form or 'unknown'}) is no longer asked: answer the desk's current form"
    try:
        return handler(answer, state, who)
    except IllegalTransitionError as refused:
        return str(refused).removeprefix(f"{state.incident_id}: ")


def record_checked(event: ev.Event) -> None:
    """Record ``event`` if the core accepts it now (raises IllegalTransitionError with its reason)."""
    if done(event.idempotency_key) is None:
        check(load_state(event.incident_id), event)
    record_event(event)


def require(state: IncidentState, role: Role, who: str, what: str) -> None:
    holder = state.holder(role)
    if who != holder:
        raise IllegalTransitionError(f"{state.incident_id}: {what} is the {role.label}'s decision; "
                                     f"{who} is not the {role.label} ({holder} is)")


def decide_roles(answer: Answer, state: IncidentState, who: str) -> str | None:
    iid = state.incident_id
    require(state, Role.INCIDENT_COMMANDER, who, "naming the roles")
    if state.phase is not Phase.DECLARED:
        return "the roles were decided already; change a lead by handing off command"
    for role in (Role.OPERATIONS_LEAD, Role.COMMUNICATIONS_LEAD, Role.PLANNING_LEAD):
        person = plain(answer.values.get(role.value, NO_ONE))
        if person != NO_ONE:
            record_checked(ev.RoleAssigned(**envelope(iid, f"{iid}:role:{role.value}", who), role=role, person=person))
    new_ic = plain(answer.values.get("incident_commander", who))
    if new_ic != who:  # command moves only when they accept, on their own desk
        record_checked(ev.HandoffOffered(**envelope(iid, f"{iid}:handoff:{state.handoffs_offered + 1}:offer", who),
                                         to=new_ic, briefing=f"{who} named you incident commander in the roles form"))
    record_checked(ev.PhaseChanged(**envelope(iid, f"{iid}:phase:stabilising", who), to=Phase.STABILISING))
    return None


def decide_command(answer: Answer, state: IncidentState, who: str) -> str | None:
    iid, key = state.incident_id, answer.key
    action, note = plain(answer.values.get("action")), str(answer.values.get("note", "")).strip()
    require(state, Role.INCIDENT_COMMANDER, who, f"'{action}'")
    if action in (CONTINUE, SWITCH, STOPPED):
        if state.phase is not Phase.STABILISING:
            return "checkpoints are held while stabilising"
        record_checked(ev.CheckpointAnswered(**envelope(iid, key, who), bleeding_stopped=action == STOPPED,
                                             decision="switch" if action == SWITCH else "continue", why=note,
                                             more_support=False))
        if action == STOPPED:
            record_checked(ev.PhaseChanged(**envelope(iid, f"{iid}:phase:restoring", who), to=Phase.RESTORING))
    elif action == MORE:
        extra = list(current_runtime().config.policy.escalation.extra_responders)
        request_responders(iid, key, extra, f"{who} asked for more support{': ' + note if note else ''}", actor=who)
    elif action == RESTORED:
        if state.phase is not Phase.RESTORING:
            return "service is confirmed restored while restoring"
        criteria = service_criteria()
        unticked = [c for n, c in enumerate(criteria, start=1) if not answer.values.get(f"criterion_{n}")]
        if unticked:
            return "tick each exit criterion that holds; not ticked: " + "; ".join(c.rstrip(".") for c in unticked)
        for n, criterion in enumerate(criteria, start=1):
            if criterion not in state.criteria_met:
                record_checked(ev.ExitCriterionMet(**envelope(iid, f"{iid}:restore:criterion:{n}", who),
                                                   criterion=criterion))
        resolve_page(iid)
        post_status_update(iid, f"{iid}:status:restored",
                           "Service restored. We are preserving evidence and reverting temporary changes.")
        record_checked(ev.PhaseChanged(**envelope(iid, f"{iid}:phase:preserving_evidence", who),
                                       to=Phase.PRESERVING_EVIDENCE))
    elif action == WAIVE:
        if not note:
            return "say in the note why no evidence is kept"
        record_checked(ev.EvidenceWaived(**envelope(iid, f"{iid}:evidence:waived", who), reason=note))
    elif action == CLOSE:
        if not note:
            return "write the incident's summary in the note to close it"
        changed = changed_evidence(state.evidence)
        if changed:
            return f"preserved evidence changed after capture ({', '.join(changed)}): put the copies back first"
        closed = ev.Closed(**envelope(iid, f"{iid}:closed", who), summary=note)
        if done(closed.idempotency_key) is None:
            check(state, closed)  # the close is refused before any criterion is said to hold
        remaining = remaining_criteria(state)
        unticked = [c for n, c in enumerate(remaining, start=1) if not answer.values.get(f"criterion_{n}")]
        if unticked:
            return "to close, tick each remaining exit criterion that holds; not ticked: " + "; ".join(
                c.rstrip(".") for c in unticked)
        # the IC says the criteria that remain hold (the core checked divergences and evidence)
        everyone = current_runtime().config.policy.exit_criteria
        for criterion in remaining:
            record_checked(ev.ExitCriterionMet(
                **envelope(iid, f"{iid}:close:criterion:{everyone.index(criterion) + 1}", who), criterion=criterion))
        record_checked(closed)
    elif action == OFFER:
        to = plain(answer.values.get("offer_to", NOBODY))
        if to == NOBODY or not note:
            return "to offer command, pick who takes it and write the briefing in the note"
        if state.handoff is not None and state.handoff.to != to:
            record_checked(ev.HandoffLapsed(**envelope(iid, f"{key}:superseded"),
                                            reason=f"superseded by the offer to {to}"))
        record_checked(ev.HandoffOffered(**envelope(iid, key, who), to=to, briefing=note))
    elif action == SEVERITY:
        to = plain(answer.values.get("severity"))
        if not note:
            return "say in the note why the severity changes"
        record_checked(ev.SeverityChanged(**envelope(iid, key, who), to=to, why=note))
    elif action == ENGAGE:
        team = plain(answer.values.get("team", NOBODY))
        if team not in teams():
            return "pick the team to engage"
        engage_team(iid, key, teams()[team], f"{who} engaged {team}{': ' + note if note else ''}", actor=who)
    elif action.startswith("accept "):
        divergence_id = action.split()[1]
        if not note:
            return f"say in the note why {divergence_id} may stay, to accept it"
        record_checked(ev.DivergenceAccepted(**envelope(iid, key, who), divergence_id=divergence_id, reason=note))
    else:
        return f"'{action}' is not offered now"
    return None


def decide_operations(answer: Answer, state: IncidentState, who: str) -> str | None:
    iid, key = state.incident_id, answer.key
    rt = current_runtime()
    runbook = rt.config.runbook_for(state.service or "")
    mitigations = {apply_action(m.id, m.title): m for m in (runbook.mitigations if runbook else ())}
    action = plain(answer.values.get("action"))
    require(state, Role.OPERATIONS_LEAD, who, "approving a change")
    area = str(answer.values.get("area", "")).strip()
    if action == NO_CHANGE:
        record_checked(ev.AnswerNoted(**envelope(iid, key, who), desk=Role.OPERATIONS_LEAD.value,
                                      text="no change (observe only)"))
        return None
    if action in (NAME_SUBLEAD, RELEASE_SUBLEAD):
        person = plain(answer.values.get("sub_lead", NOBODY))
        if not area or (action == NAME_SUBLEAD and person == NOBODY):
            return "name the area, and for a new sub-lead pick who leads it"
        if action == NAME_SUBLEAD:
            record_checked(ev.SubleadNamed(**envelope(iid, key, who), area=area, person=person))
        else:
            record_checked(ev.SubleadReleased(**envelope(iid, key, who), area=area))
        return None
    if action == OTHER:
        what = str(answer.values.get("other_what", "")).strip()
        revert = str(answer.values.get("other_revert", "")).strip()
        if not what or not revert:
            return "for another change, say both what you change and how to revert it"
        runbook_id = None
    elif action in mitigations:
        m = mitigations[action]
        what, revert, runbook_id = m.title, m.revert, m.id
    else:
        return f"'{action}' is not offered now"
    record_checked(ev.MitigationApplied(**envelope(iid, key, who), divergence_id=f"d{len(state.divergences) + 1}",
                                        what=what, revert=revert, approved_by=who, mitigation=runbook_id))
    return None


def decide_update(answer: Answer, state: IncidentState, who: str) -> str | None:
    iid, key = state.incident_id, answer.key
    action = plain(answer.values.get("action")) or POST_UPDATE
    what = {POST_UPDATE: "posting a status update", EDIT_SUMMARY: "rewriting the summary",
            EDIT_DETAILED: "rewriting the detailed status"}.get(action)
    if what is None:
        return f"'{action}' is not offered now"
    require(state, Role.COMMUNICATIONS_LEAD, who, what)
    message = str(answer.values.get("message", "")).strip()
    if not message:
        return "write the update" if action == POST_UPDATE else "write the new text"
    longest = {EDIT_SUMMARY: ev.SUMMARY_MAX, EDIT_DETAILED: ev.DETAILED_STATUS_MAX}.get(action)
    if longest is not None and len(message) > longest:
        return f"the text is {len(message):,} characters long; the document takes at most {longest:,} here"
    if action == POST_UPDATE:
        post_status_update(iid, key, message, author=who)
    elif action == EDIT_SUMMARY:
        record_checked(ev.SummaryEdited(**envelope(iid, key, who), text=message))
    else:
        record_checked(ev.DetailedStatusEdited(**envelope(iid, key, who), text=message))
    return None


def decide_planning(answer: Answer, state: IncidentState, who: str) -> str | None:
    iid, key = state.incident_id, answer.key
    action, note = plain(answer.values.get("action")), str(answer.values.get("note", "")).strip()
    other = plain(answer.values.get("who", NOBODY))
    require(state, Role.PLANNING_LEAD, who, "planning")
    if action == FILE:
        if not note:
            return "write the bug's summary in the note"
        file_followup(iid, state.service or "", f"bug-{answer.desk.pause_key}", "bug", note,
                      f"Filed by {who}, planning lead of {iid}: {note}")
        return None
    if action == REPORT:
        revert = str(answer.values.get("revert", "")).strip()
        if not note or not revert or other == NOBODY:
            return "say what was changed (the note), how to revert it, and who reported it"
        record_checked(ev.DivergenceReported(**envelope(iid, key, who), divergence_id=f"d{len(state.divergences) + 1}",
                                             what=note, revert=revert, reported_by=other))
        return None
    if action == NEXT_IC:
        if other == NOBODY:
            return "pick who commands next"
        record_checked(ev.NextCommanderArranged(**envelope(iid, key, who), person=other))
        return None
    divergence = state.divergences.get(action.split()[1].rstrip(":")) if len(action.split()) > 1 else None
    if divergence is None or divergence.status != "open":
        return f"'{action}' is not offered now"
    if action.startswith("revert "):
        record_checked(ev.DivergenceReverted(**envelope(iid, key, who), divergence_id=divergence.id))
    else:
        file_followup(iid, state.service or "", f"divergence-{divergence.id}", "divergence",
                      f"Revert divergence {divergence.id} of {iid}: {divergence.what}",
                      f"Left open by {who} at the revert phase of {iid}. Revert: {divergence.revert}. {note}")
        record_checked(ev.AnswerNoted(**envelope(iid, key, who), desk=Role.PLANNING_LEAD.value,
                                      text=f"{divergence.id} left open: filed as a follow-up"))
    return None


def decide_handoff(answer: Answer, state: IncidentState, who: str) -> str | None:
    iid = state.incident_id
    if state.handoff is None:
        return "command is not on offer any more"
    if who != state.handoff.to:
        return f"only {state.handoff.to}, to whom command was offered, can answer this"
    n = state.handoffs_offered
    if answer.values.get("accept"):
        hand_over_command(iid, f"{iid}:handoff:{n}:accepted", who)
    else:
        record_checked(ev.HandoffLapsed(**envelope(iid, f"{iid}:handoff:{n}:lapsed", who), reason=f"declined by {who}"))
    return None


FORM_WORDS = {"RolesForm": "the roles", "StatusUpdateForm": "a status update", "HandoffAcceptForm": "command"}

DECISIONS: dict[str, Decision] = {
    "RolesForm": decide_roles,
    "CommandForm": decide_command,
    "OperationsForm": decide_operations,
    "StatusUpdateForm": decide_update,
    "PlanningForm": decide_planning,
    "HandoffAcceptForm": decide_handoff,
}


# -- moving on ---------------------------------------------------------------------------------------

def preserve(incident_id: str) -> None:
    """Copy what the runbook names, hash it and link it on the ticket; then on to reverting."""
    rt = current_runtime()
    state = load_state(incident_id)
    runbook = rt.config.runbook_for(state.service or "")
    sources = runbook.evidence if runbook else ()
    for index, source in enumerate(sources, start=1):
        recorded = snapshot_evidence(incident_id, index, source)
        link_key = f"{incident_id}:evidence:{index}:linked"
        if state.ticket and done(link_key) is None:
            assert isinstance(recorded.event, ev.EvidencePreserved)
            link_ticket(state.ticket[0], Path(recorded.event.evidence.location).as_uri(),
                        f"Evidence: {source.title} (sha256 {recorded.event.evidence.sha256[:12]})")
            record_event(ev.AnswerNoted(**envelope(incident_id, link_key), desk="evidence",
                                        text=f"evidence {index} linked on {state.ticket[0]}"))
    if load_state(incident_id).evidence_settled:
        record_event(ev.PhaseChanged(**envelope(incident_id, f"{incident_id}:phase:reverting"), to=Phase.REVERTING))


def wrap_up(incident_id: str) -> None:
    """What follows the close; each step happens once, so a rerun after a crash finishes the rest."""
    state = load_state(incident_id)
    post_status_update(incident_id, f"{incident_id}:status:closed", f"Resolved: {state.close_summary}")
    file_followup(incident_id, state.service or "", "postmortem", "postmortem",
                  f"Postmortem for {incident_id}: {state.title}",
                  f"Write the postmortem for {incident_id}. The IC's summary: {state.close_summary}")
    if state.ticket:
        transition_ticket(state.ticket[0], DONE)
    if state.drill:  # a replay: its timeline beside the original's, as an artifact
        publish_comparison(incident_id)
    else:  # the draft from the ledger, attached to the ticket and that follow-up (once a version)
        try:
            postmortem(incident_id)
        except IntegrationError as exc:  # a Jira that takes no attachments must not hold the close up
            log.warning("the postmortem draft of %s is written but not attached (%s): `warroom postmortem %s` "
                        "tries again", incident_id, exc, incident_id)


def cadence(incident_id: str) -> None:
    """The severity's cadence: an overdue update goes in the timeline (and on the communications desk),
    and the incident is looked at again when the next one falls due."""
    rt = current_runtime()
    state = load_state(incident_id)
    if state.phase is Phase.DECLARED or not state.phase.is_open:
        return
    d = due(state, rt.config.policy)
    if rt.clock() >= d.status_update:
        record_event(ev.StatusUpdateOverdue(**envelope(incident_id, f"{incident_id}:status:"
                                                       f"{d.status_update:%Y%m%dT%H%M%S}:overdue"),
                                            due_at=d.status_update))
    upcoming = [t for t in (d.status_update, d.checkpoint) if t > rt.clock()]
    if upcoming:
        timer = work.advance(incident_id, min(upcoming))
        if rt.ledger.work_by_key(timer.key) is None:
            rt.ledger.add_work([timer])


def arm(incident_id: str, offer: Offer) -> None:
    """The offer's pressing question gets its timeout as due work in the ledger (once per round)."""
    if offer.ask is None or offer.timeout is None:
        return
    rt = current_runtime()
    round_ = escalations_so_far(offer.ask)
    who = f"the {offer.label} ({offer.person})"
    timer = work.form_timeout(incident_id, offer.ask, round_, rt.clock() + offer.timeout,
                              f"no answer from {who} within {offer.timeout}")
    if rt.ledger.work_by_key(timer.key) is None:
        rt.ledger.add_work([timer])


def waited_since_asked(incident_id: str, ask: str, offer: Offer, round_: int) -> timedelta:
    """How long the question has waited: since its first round's timer was set (due one timeout later)."""
    rt = current_runtime()
    timeout = offer.timeout or timedelta(0)
    first = rt.ledger.work_by_key(work.form_timeout(incident_id, ask, 0, rt.clock(), "").key)
    if first is None:
        return timeout * (round_ + 1)
    return rt.clock() - (first.due_at - timeout)


def escalations_so_far(ask: str) -> int:
    round_ = 0
    while done(f"{ask}:escalation:{round_ + 1}"):
        round_ += 1
    return round_


def advance(incident_id: str, answered: tuple[str, str | None] | None = None) -> None:
    """Move the incident on from what the ledger says, then show every desk its form now.
    ``answered``: the desk just answered, and why its answer was refused (None: recorded). Any other
    desk that shows a refusal keeps showing it until it is answered again."""
    state = load_state(incident_id)
    if state.phase is Phase.PRESERVING_EVIDENCE:
        preserve(incident_id)
    state = load_state(incident_id)
    if state.phase is Phase.CLOSED:
        wrap_up(incident_id)
        desk_runs.close_all(incident_id, "the incident is closed")
        publish_document(incident_id)
        return
    if not state.phase.is_open:
        return
    cadence(incident_id)
    state = load_state(incident_id)
    refused = f"{desk_runs.REFUSED}: "
    problems = {d.desk: d.message.removeprefix(refused) for d in desk_runs.desks(incident_id)
                if d.message.startswith(refused)}
    if answered is not None:
        answered_desk, problem = answered
        problems.pop(answered_desk, None)
        if problem:
            problems[answered_desk] = problem
    shown = set()
    for offer in offers(state, problems):
        message = f"{refused}{problems[offer.desk]}"[:500] if offer.desk in problems else ""
        desk_runs.show(desk, incident_id, offer.desk, offer.person, offer.label, offer.form, state.version, message)
        arm(incident_id, offer)
        shown.add(offer.desk)
    for stale in desk_runs.desks(incident_id):
        if stale.desk not in shown:
            desk_runs.close(stale.run_id, "nothing to decide here any more")
    publish_document(incident_id)


@flow(name="desk-answer")
def handle(answer: Answer) -> str:
    """One desk answer: record what it decides (or that it was refused, and why), then move on."""
    iid = answer.desk.incident_id
    state = load_state(iid)
    if not state.phase.is_open:
        desk_runs.close(answer.desk.run_id, f"{iid} is {state.phase.value}: nothing to decide here any more")
        return f"{iid} is {state.phase.value}"
    problem = decide(answer, state)
    who = plain(answer.values.get("your_handle") or answer.values.get("approved_by")) or "someone"
    if problem:
        record_event(ev.AnswerNoted(**envelope(iid, f"{answer.key}:refused", who), desk=answer.desk.desk,
                                    text=problem[:1000], refused=True))
        desk_runs.log(answer.desk.run_id, f"Not recorded: {problem}. Answer again (Resume).", refused=True)
    else:
        what = plain(answer.values.get("action")) or FORM_WORDS.get(answer.form, answer.form)
        desk_runs.log(answer.desk.run_id, f"Recorded: {who}'s answer ({what}).")
    advance(iid, (answer.desk.desk, problem))
    return f"refused: {problem}" if problem else "recorded"


def take_answers() -> int:
    """Each desk answered since the last look becomes work in the ledger, once per answer (the
    dispatcher calls this each round, and carries the work out like any other: leased, retried). A
    desk of an incident this ledger does not hold is another warroom's (one Prefect, several ledgers)."""
    rt = current_runtime()
    items = [work.answer(a.desk.incident_id, str(a.desk.run_id), str(a.desk.pause_key), rt.clock())
             for a in desk_runs.answered() if load_state(a.desk.incident_id).version > 0]
    return rt.ledger.add_work(items)


def answered(run_id: str, pause_key: str) -> str:
    """Carry out an answer's work: the answer as the desk holds it now (another dispatcher may have
    handled it already)."""
    answer = desk_runs.answer_of(UUID(run_id))
    if answer is None or answer.desk.pause_key != pause_key:
        return "handled already"
    answer = replace(answer, values=named(answer.values))
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return handle.with_options(flow_run_name=f"{answer.desk.name} answered")(answer)


def timed_out(incident_id: str, ask: str, round_: int, reason: str) -> str:
    """A desk's pressing question passed its timeout: escalate (or let a handoff offer lapse), if it is
    still asked; then time the next round."""
    state = load_state(incident_id)
    pending = next((o for o in offers(state) if o.ask == ask), None)
    if pending is None:
        return "answered meanwhile"
    policy = current_runtime().config.policy.escalation
    if pending.lapses:
        record_event(ev.HandoffLapsed(**envelope(incident_id, f"{ask}:lapsed"), reason=reason))
        advance(incident_id)
        return f"lapsed ({reason})"
    key = f"{ask}:escalation:{round_ + 1}"
    waited_for = f"the {pending.label} ({pending.person})"
    waited = waited_since_asked(incident_id, ask, pending, round_)
    if round_ + 1 <= policy.max_rounds:
        request_responders.fn(incident_id, key, list(policy.extra_responders), reason, waited_for, waited)
    else:
        record_event(ev.Escalated(**envelope(incident_id, key), reason=f"{reason} (no one more to page)",
                                  waited_for=waited_for, waited=waited))
        return "escalated: no one more to page"
    arm(incident_id, pending)
    return f"escalated ({reason})"
