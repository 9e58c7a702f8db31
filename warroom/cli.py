"""The ``warroom`` command line. Configuration is read here, once, and passed down."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn, cast

import typer
import uvicorn
from prefect.exceptions import ObjectNotFound

from warroom.bootstrap import build_runtime, utc_now
from warroom.config import load_config
from warroom.demo import run_demo
from warroom.discovery import (
    NoStackError,
    RunningStack,
    find_stack,
    prefect_api,
    remove_stack_file,
    running_stack,
    using,
    write_stack_file,
)
from warroom.flows.drill import DEFAULT_SPEED, comparison_lines, plan_drill
from warroom.incident import work
from warroom.incident.errors import ConfigError, WarroomError
from warroom.incident.events import HandoffOffered
from warroom.incident.report import report_period
from warroom.incident.state import check, fold
from warroom.init import init_configs, next_steps
from warroom.intake import create_intake_app
from warroom.integrations.jira.credentials import JiraCredentials
from warroom.integrations.jira.tracker import JiraTracker
from warroom.integrations.ledger import Ledger
from warroom.integrations.sandbox.from_config import jira_options, pagerduty_setup
from warroom.integrations.sandbox.server import Sandboxes
from warroom.recovery import carry_on
from warroom.runner import (
    Background,
    deployments,
    descendants,
    flow_run_processes,
    serve_in_background,
    stop_processes,
    wait_for_interrupt,
)
from warroom.settings import Settings
from warroom.signals import unwind_on_termination
from warroom.stack import LOCALHOST, PREFECT_PORT, check_port, free_port, local_stack, sandbox_host
from warroom.tasks.desks import desks
from warroom.tasks.report import FORMATS, compute_report, post_summary, rendered, write_postmortem, write_report
from warroom.tasks.runs import DRILL, LIFECYCLE, POSTMORTEM, run_and_wait, start_run
from warroom.tasks.runtime import use_runtime

app = typer.Typer(no_args_is_help=True, help="warroom: incident response as code, on Prefect.",
                  pretty_exceptions_enable=False)
config_app = typer.Typer(no_args_is_help=True, help="Check the policies, roster, services and runbooks.",
                         pretty_exceptions_enable=False)
app.add_typer(config_app, name="config")


@config_app.command("check")
def config_check(
    directory: Annotated[
        Path | None,
        typer.Argument(
            metavar="[DIR]",
            help="The config directory. Default: $WARROOM_CONFIG_DIR if set, else ./configs.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Check policy.yaml, roster.yaml, services.yaml and runbooks/*.yaml; list every problem."""
    if directory is None:
        directory = Path(os.environ.get("WARROOM_CONFIG_DIR") or "configs")
    try:
        config = load_config(directory)
    except ConfigError as exc:
        count = len(exc.problems)
        typer.echo(f"{count} problem{'s' if count != 1 else ''} in {directory}:", err=True)
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(code=1) from None
    typer.echo(
        f"ok: {len(config.services.services)} services, {len(config.roster.teams)} teams, "
        f"{len(config.roster.people)} people, {len(config.runbooks)} runbooks, "
        f"{len(config.drills)} drill scenarios in {directory}"
    )


def _settings() -> Settings:
    return Settings()


HostOption = Annotated[str | None, typer.Option(
    "--host", help="The address to listen on. Default: $WARROOM_INTAKE_HOST, else 127.0.0.1.", show_default=False)]


@app.command()
def demo(
    interactive: Annotated[
        bool, typer.Option(help="Print each waiting form's Prefect UI link instead of answering it.")
    ] = False,
) -> None:
    """Run one whole incident on the embedded default: alert, declare, page, roles, mitigate, restore,
    evidence, revert, close."""
    with unwind_on_termination():
        run_demo(_settings(), os.environ, interactive)


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(
        help="The address to listen on (their certificate names 127.0.0.1 and localhost).")] = LOCALHOST,
    pagerduty_port: Annotated[int, typer.Option(help="Port of the PagerDuty sandbox (0: any free).")] = 8441,
    jira_port: Annotated[int, typer.Option(help="Port of the Jira sandbox (0: any free).")] = 8442,
) -> None:
    """Serve the PagerDuty and Jira sandboxes over HTTPS until Ctrl-C or SIGTERM."""
    settings = _settings()
    config = load_config(settings.config_dir)
    check_port(host, pagerduty_port, "--pagerduty-port")
    check_port(host, jira_port, "--jira-port")
    with unwind_on_termination(), Sandboxes(
            settings.home, pagerduty_setup=pagerduty_setup(config), jira_options=jira_options(config), host=host,
            pagerduty_port=pagerduty_port, jira_port=jira_port, persist=True) as boxes:
        typer.echo(f"PagerDuty sandbox: {boxes.pagerduty_url}  (Events API and REST)")
        typer.echo(f"Jira sandbox:      {boxes.jira_url}")
        typer.echo(f"certificate authority: {boxes.tls.ca_path if boxes.tls else '-'}")
        if sandbox_host(host) != host:
            typer.echo(f"note: their certificate does not name {host}: clients must reach them as 127.0.0.1")
        typer.echo("\npoint warroom at them (these lines hold the sandbox's own tokens):")
        for name, value in boxes.env().items():
            typer.echo(f"export {name}={value}")
        typer.echo("\nCtrl-C stops them.")
        wait_for_interrupt()


@app.command()
def up(
    host: HostOption = None,
    prefect_port: Annotated[int, typer.Option(
        help="Port of the Prefect server and its UI (0: any free; unused when PREFECT_API_URL is set).")
    ] = PREFECT_PORT,
    intake_port: Annotated[int | None, typer.Option(
        help="Port of the intake (0: any free). Default: $WARROOM_INTAKE_PORT, else 8440.", show_default=False)
    ] = None,
    pagerduty_port: Annotated[int, typer.Option(help="Port of the PagerDuty sandbox (0: any free).")] = 8441,
    jira_port: Annotated[int, typer.Option(help="Port of the Jira sandbox (0: any free).")] = 8442,
) -> None:
    """Run the local stack in the foreground: Prefect and its UI (unless PREFECT_API_URL is set), the
    sandboxes, the intake and its dispatcher, and a runner serving the lifecycle and handoff deployments.
    Other commands find it through $WARROOM_HOME/stack.json. Ctrl-C or SIGTERM stops everything; started
    again, every open incident carries on."""
    settings = _settings()
    host = settings.intake_host if host is None else host
    intake_port = settings.intake_port if intake_port is None else intake_port
    config = load_config(settings.config_dir)
    if (other := running_stack(settings.home)) is not None:
        _fail(f"warroom up already runs from {settings.home} (pid {other.pid}): its UI is {other.ui_url}")
    if not os.environ.get("PREFECT_API_URL"):
        check_port(host, prefect_port, "--prefect-port")
    check_port(host, intake_port, "--intake-port")
    check_port(sandbox_host(host), pagerduty_port, "--pagerduty-port")
    check_port(sandbox_host(host), jira_port, "--jira-port")
    # plain flags, no locks: the handler runs on the main thread wherever it was interrupted, and an
    # Event's lock taken there could be the one the interrupted code holds
    signalled = {"started": False, "stop": False}

    def on_signal(signum: int, frame: object) -> None:
        first, signalled["stop"] = not signalled["stop"], True
        if first and not signalled["started"]:
            raise KeyboardInterrupt  # still starting: unwind what has started

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_signal)
    try:
        with local_stack(settings, os.environ, config, pagerduty_port, jira_port, host=host,
                         prefect_port=prefect_port) as stack, use_runtime(stack.runtime):
            os.environ.update(stack.env)  # the runner's flow runs build their runtime from these
            for deployment in deployments(config.policy.drills, config.policy.reports):
                deployment.apply()
            crashed, carried = carry_on(stack.runtime)
            intake = _serve_intake(create_intake_app(stack.runtime, settings, utc_now), host, intake_port)
            serve_in_background(config.policy.drills, config.policy.reports)
            signalled["started"] = True
            typer.echo(f"Prefect UI: {stack.ui_url}")
            typer.echo(f"PagerDuty sandbox: {stack.sandboxes.pagerduty_url}")
            typer.echo(f"Jira sandbox: {stack.sandboxes.jira_url}")
            typer.echo(f"intake: {intake.url}/v1/alerts/{{alertmanager,grafana,pagerduty,generic}}")
            typer.echo(f"export PREFECT_API_URL={stack.api_url}  # for prefect's own CLI; warroom commands "
                       "find this stack by themselves")
            if carried:
                typer.echo(f"carrying on {carried} open incident(s) ({crashed} run(s) left by the last stop)")
            typer.echo("declare with `warroom declare SERVICE TITLE`; Ctrl-C stops everything.")
            write_stack_file(settings.home, RunningStack(  # last: other commands may use the stack from now on
                api_url=stack.api_url, ui_url=stack.ui_url, pid=os.getpid(), intake_url=intake.url,
                pagerduty_url=stack.sandboxes.pagerduty_url, jira_url=stack.sandboxes.jira_url,
                home=str(settings.home)))
            try:
                while not signalled["stop"]:
                    time.sleep(0.2)  # a signal interrupts it at once; its handler sets the flag
            finally:
                remove_stack_file(settings.home)
                typer.echo("stopping: the runs waiting on forms are carried on at the next `warroom up`")
                intake.stop()
                logging.getLogger("prefect").setLevel(logging.CRITICAL)  # the runner's alarms as its runs go
                # the runs hold nothing the ledger does not: stopped at once, marked crashed at the next start
                stop_processes(flow_run_processes(os.getpid()), grace_s=2.0, first=signal.SIGKILL)
    finally:
        remove_stack_file(settings.home)
        stop_processes(descendants(os.getpid()), grace_s=2.0)


def _serve_intake(intake_app: object, host: str, port: int) -> Background:
    try:
        return Background(intake_app, host, port)
    except RuntimeError:  # taken since it was checked
        check_port(host, port, "--intake-port")
        raise


@app.command()
def intake(
    host: HostOption = None,
    port: Annotated[int | None, typer.Option(
        help="The port to listen on. Default: $WARROOM_INTAKE_PORT, else 8440.", show_default=False)] = None,
) -> None:
    """Serve the alert webhooks (POST /v1/alerts/{alertmanager,grafana,pagerduty,generic}, GET /healthz)
    until Ctrl-C or SIGTERM. Prefect: PREFECT_API_URL, else the running `warroom up`."""
    settings = _settings()
    host = settings.intake_host if host is None else host
    port = settings.intake_port if port is None else port
    check_port(host, port, "--port")
    port = port or free_port(host)  # 0: a free one, chosen here so the line below can name it
    with unwind_on_termination(), prefect_api(settings, os.environ):
        runtime = build_runtime(settings, os.environ)
        with use_runtime(runtime):
            typer.echo(f"warroom intake on http://{host}:{port}/v1/alerts/...")
            uvicorn.run(create_intake_app(runtime, settings, utc_now), host=host, port=port, log_level="warning")


def new_incident_id(now: datetime) -> str:
    """``INC-<UTC date>-<time>-<4 hex>``: two declarations in one second are two incidents."""
    return f"INC-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


@app.command()
def declare(
    service: Annotated[str, typer.Argument(help="The service, as in services.yaml.")],
    title: Annotated[str, typer.Argument(help="What is wrong, in a few words.")],
    severity: Annotated[str, typer.Option(help="A severity from policy.yaml.")] = "SEV2",
    reason: Annotated[list[str] | None, typer.Option(help="Why it is an incident (repeatable).")] = None,
    by: Annotated[str, typer.Option(help="Your roster handle.")] = "",
    drill: Annotated[bool, typer.Option(help="A drill: kept out of production metrics.")] = False,
) -> None:
    """Declare an incident by hand: starts the lifecycle deployment of the running `warroom up` (or of
    the Prefect at PREFECT_API_URL, served by a worker)."""
    settings = _settings()
    config = load_config(settings.config_dir)
    if service not in config.services.services:
        _fail(f"unknown service {service!r}; services.yaml has: {', '.join(config.services.services)}")
    config.policy.severity(severity)
    incident_id = new_incident_id(utc_now())
    with prefect_api(settings, os.environ) as stack:
        run = start_run(LIFECYCLE, {
            "incident_id": incident_id, "title": title, "service": service, "severity": severity,
            "reasons": reason or ["declared by hand"], "declared_by": by or "warroom", "drill": drill,
        }, key=f"{incident_id}:lifecycle")
    typer.echo(f"{incident_id} declared; lifecycle run {run.id}: {stack.ui_url}/runs/flow-run/{run.id}")
    typer.echo(f"its desks (the forms to answer): warroom waiting --incident {incident_id}")


@app.command()
def drill(
    scenario: Annotated[str | None, typer.Argument(
        metavar="[SCENARIO]", help="A scenario in configs/drills/ (its file name without .yaml). "
        "Default: policy.yaml's drills.scenario.", show_default=False)] = None,
    replay: Annotated[str | None, typer.Option(
        metavar="INC", help="Replay a past incident's alerts from the ledger (the Wheel of Misfortune).")] = None,
    speed: Annotated[float, typer.Option(help="A replay's time compression: 60 sends an hour's alerts in a minute.")
                     ] = DEFAULT_SPEED,
    roles: Annotated[str, typer.Option(
        help="auto: the roles by rotation (who held each least, not on call now); ask: suggested in the "
        "roles form.")] = "auto",
    compare: Annotated[str | None, typer.Option(
        metavar="DRILL-INC", help="Show a replay's timeline beside the original's (needs only the ledger).")] = None,
) -> None:
    """Start a drill on the same flows and desks as a real incident: a scenario's alerts, or a past
    incident's replayed, sent through the intake. It pages only the drill routing key and files only
    drill-labelled Jira issues."""
    settings = _settings()
    if compare is not None:
        with Ledger.open(settings.ledger_url(), utc_now) as ledger:
            for line in comparison_lines(ledger.stream, compare):
                typer.echo(line)
        return
    if not speed > 0:
        _fail(f"--speed must be more than 0, got {speed:g}")
    config = load_config(settings.config_dir)
    with Ledger.open(settings.ledger_url(), utc_now) as ledger:
        plan = plan_drill(config, ledger.stream, utc_now(), scenario, replay, speed, roles)
    with prefect_api(settings, os.environ) as stack:
        run = start_run(DRILL, {"scenario": plan.scenario, "replay": plan.replay_of, "speed": speed,
                                "roles": roles, "drill_id": plan.drill_id}, key=f"{plan.drill_id}:drill")
    what = f"a replay of {plan.replay_of} at {speed:g}x" if plan.replay_of else f"scenario {plan.scenario}"
    last = plan.schedule[-1].offset.total_seconds()
    typer.echo(f"{plan.drill_id}: {what}, {len(plan.schedule)} alerts for {plan.service} over {last:.0f} s; "
               f"drill run {run.id}: {stack.ui_url}/runs/flow-run/{run.id}")
    typer.echo(f"its incident: {plan.incident_id} (a drill: the drill routing key, drill-labelled Jira issues)")
    typer.echo("roles: " + ("by rotation at declaration (who held each least, not on call now); the timeline "
                            "says why" if roles == "auto" else "suggested by rotation in the IC's roles form"))
    typer.echo(f"its desks: warroom waiting --incident {plan.incident_id}")
    if plan.replay_of:
        typer.echo(f"once it closes, beside the original: warroom drill --compare {plan.incident_id}")


@app.command()
def handoff(
    incident: Annotated[str, typer.Argument(help="The incident id, e.g. INC-20261126-031200-7f3a.")],
    to: Annotated[str, typer.Option("--to", help="The incoming IC's roster handle.")],
    briefing: Annotated[str, typer.Option(help="The state of play, for the incoming IC.")],
    by: Annotated[str, typer.Option(help="Your roster handle: the incident commander now.")],
) -> None:
    """Offer command of an open incident to someone (as the IC's desk does); they accept or decline
    on their own desk, and command stays where it is until they accept."""
    settings = _settings()
    config = load_config(settings.config_dir)
    if to not in config.roster.people:
        _fail(f"{to!r} is not on the roster; roster.yaml has: {', '.join(config.roster.people)}")
    with Ledger.open(settings.ledger_url(), utc_now) as ledger:
        state = fold(ledger.stream(incident), incident)
        now = utc_now()
        offer = HandoffOffered(incident_id=incident, actor=by, occurred_at=now, to=to, briefing=briefing,
                               idempotency_key=f"{incident}:handoff:{state.handoffs_offered + 1}:offer:cli")
        try:
            check(state, offer)
        except WarroomError as refused:
            _fail(str(refused))
        ledger.write(offer, state.version, [work.advance(incident, now)])  # the dispatcher shows the desk
    typer.echo(f"command of {incident} offered to {to}: they answer on their desk in the Prefect UI")


@app.command()
def init(
    directory: Annotated[
        Path,
        typer.Argument(metavar="DIR", help="Where to write configs/. Default: the current folder.",
                       show_default=False),
    ] = Path("."),
) -> None:
    """Write a starter configs/ into DIR (policy, roster, services, runbooks, a sample alert); overwrites nothing."""
    written = init_configs(directory)  # StarterExistsError is a WarroomError: one line, exit 1
    typer.echo(f"{len(written)} files written.")
    typer.echo(next_steps(directory))


@app.command()
def waiting(
    person: Annotated[str | None, typer.Option("--for", help="Only this person's desks (roster handle).")] = None,
    incident: Annotated[str | None, typer.Option(help="Only this incident's desks.")] = None,
) -> None:
    """List every desk waiting for an answer: its link, incident, role, person and how long it has waited."""
    settings = _settings()
    with prefect_api(settings, os.environ) as stack:
        found = desks(incident, person)
    if not found:
        typer.echo("nothing is waiting" + (f" for {person}" if person else ""))
    now = utc_now()
    for d in found:
        waited = int((now - d.since).total_seconds()) // 60 if d.since else 0
        state = f"  ({d.message})" if d.message else ("" if d.paused else "  (answered: being recorded)")
        typer.echo(f"{d.incident_id:28} {d.desk.replace('_', ' '):27} {d.person:10} {waited:4} min  "
                   f"{stack.ui_url}/runs/flow-run/{d.run_id}{state}")


@app.command()
def incidents(
    status: Annotated[str | None, typer.Option(help="pending, open or closed.")] = None,
    service: Annotated[str | None, typer.Option(help="Only this service.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
) -> None:
    """List incidents from the ledger, newest first."""
    settings = _settings()
    with Ledger.open(settings.ledger_url(), utc_now) as ledger:
        rows = ledger.list_incidents(status=status, service=service, limit=limit)
    if not rows:
        typer.echo("no incidents")
    for row in rows:
        drill = " (drill)" if row.drill else ""
        typer.echo(f"{row.incident_id:24} {row.status:8} {row.phase:20} {row.severity or '-':5} "
                   f"{row.service or '-':14} {row.title or ''}{drill}")


def _tracker(settings: Settings) -> tuple[JiraTracker | None, str | None]:
    """Jira, when its credentials are set (a block or WARROOM_JIRA_*); else None and why."""
    try:
        credentials = (cast(JiraCredentials, JiraCredentials.load(settings.jira_block)) if settings.jira_block
                       else JiraCredentials.from_env(os.environ))
    except ConfigError:
        return None, "set WARROOM_JIRA_URL, WARROOM_JIRA_EMAIL and WARROOM_JIRA_API_TOKEN, or WARROOM_JIRA_BLOCK"
    return JiraTracker(credentials), None


@app.command()
def report(
    since: Annotated[str | None, typer.Option(help="The period up to now, e.g. 7d, 36h. Default: policy.yaml's "
                                                   "reports.period.", show_default=False)] = None,
    from_: Annotated[str | None, typer.Option("--from", help="First day (2026-11-23, UTC), with --to.",
                                              show_default=False)] = None,
    to: Annotated[str | None, typer.Option(help="Last day, included (2026-11-29). Default: now.",
                                           show_default=False)] = None,
    service: Annotated[str | None, typer.Option(help="Only this service.", show_default=False)] = None,
    fmt: Annotated[str, typer.Option("--format", help="html, md or json.")] = "html",
    out: Annotated[Path | None, typer.Option(help="Write here. Default: $WARROOM_HOME/reports/ (html), else "
                                                  "standard output.", show_default=False)] = None,
    post: Annotated[bool, typer.Option(help="Also post the summary on the policy's Jira reports issue.")] = False,
) -> None:
    """The retrospective report from the ledger: production incidents per severity and service (drills
    apart), durations as distributions, the chapter's practices, roles, divergence debt, follow-ups."""
    settings = _settings()
    config = load_config(settings.config_dir)
    if fmt not in FORMATS:
        _fail(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    start, end = report_period(utc_now(), config.policy.reports.period, since=since, from_=from_, to=to)
    tracker, why_not = _tracker(settings)
    if post and tracker is None:
        _fail(f"--post needs Jira: {why_not}")
    with Ledger.open(settings.ledger_url(), utc_now) as ledger:
        made, _ = compute_report(ledger, tracker, config, start, end, service)
    if post and tracker is not None:
        key = post_summary(tracker, config, made)
        typer.echo(f"summary posted on {key}" if key else "policy.yaml names no reports.jira_project: not posted",
                   err=True)
    if tracker is None:
        typer.echo(f"note: follow-up status as recorded when filed (Jira not reachable: {why_not})", err=True)
    if out is None and fmt != "html":
        typer.echo(rendered(made, fmt), nl=False)
        return
    typer.echo(f"report written to {write_report(made, settings.home, fmt, out)}")


@app.command()
def postmortem(
    incident: Annotated[str, typer.Argument(help="A closed incident's id.")],
    here: Annotated[bool, typer.Option(
        "--here", help="Draft in this process, with the Jira credentials of this shell, even when a warroom up "
        "runs.")] = False,
) -> None:
    """Draft (or redraft) a closed incident's postmortem from the ledger: the file under
    $WARROOM_HOME/postmortems (what people wrote in their marked sections is kept) and, with Jira, the
    draft attached to the incident's ticket and its postmortem follow-up (once per version). With a
    `warroom up` running (or PREFECT_API_URL set), its `postmortem` deployment drafts it, with the
    stack's Jira; else this process does, with this shell's."""
    settings = _settings()
    stack = None
    if not here:
        try:
            stack = find_stack(settings, os.environ)
        except NoStackError:
            stack = None
    if stack is not None and _postmortem_on(stack, incident):
        return
    tracker, why_not = _tracker(settings)
    with Ledger.open(settings.ledger_url(), utc_now) as ledger:
        drafted = write_postmortem(ledger, tracker, settings.home, incident, utc_now())
    typer.echo(f"postmortem draft of {incident}: {drafted.path} (sha256 {drafted.sha256[:12]})")
    if tracker is None:
        typer.echo(f"not attached in Jira ({why_not})", err=True)
    else:
        typer.echo(drafted.outcome())


POSTMORTEM_WAIT_S = 120


def _postmortem_on(stack: RunningStack, incident: str) -> bool:
    """Run the stack's ``postmortem`` deployment for ``incident`` and wait for it; False when the stack
    has no such deployment (then this process drafts it)."""
    with using(stack):
        try:
            run = run_and_wait(POSTMORTEM, {"incident_id": incident}, POSTMORTEM_WAIT_S)
        except ObjectNotFound:
            typer.echo(f"the Prefect at {stack.api_url} has no {POSTMORTEM} deployment: drafting here", err=True)
            return False
    where = f"{stack.ui_url}/runs/flow-run/{run.id}"
    state = run.state
    if state is None or not state.is_final():
        _fail(f"the postmortem run has not finished within {POSTMORTEM_WAIT_S} s (is a worker or `warroom up` "
              f"serving {POSTMORTEM}?): {where}")
    if not state.is_completed():
        ended = (state.name or state.type.value).lower()
        _fail(f"the postmortem run ended {ended}: {state.message or 'no message'} ({where})")
    path, _, outcome = (state.message or "").partition("\n")
    typer.echo(f"postmortem draft of {incident}: {path}")
    typer.echo(f"drafted by the running stack, with its Jira credentials: {where}")
    if outcome:
        typer.echo(outcome)
    return True


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code=1)


# the entry point ---------------------------------------------------------------------------------

MAX_PROBLEMS_SHOWN = 5


def main(args: Sequence[str] | None = None) -> NoReturn:
    """``warroom``: the app, with every expected error (a WarroomError, a command line that does not
    parse) said in a line or two on stderr, exit status 1, never a traceback. Unexpected errors keep
    theirs (plain Python tracebacks)."""
    try:
        code = app(args=args, prog_name="warroom", standalone_mode=False)
    except typer.TyperException as exc:  # a command line that cannot be parsed (typer's click errors)
        code = getattr(exc, "exit_code", 2)
        if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
            where = getattr(getattr(exc, "ctx", None), "command_path", None) or "warroom"
            typer.echo(f"{where}: {exc.format_message()}\n(`{where} --help` lists what it takes)", err=True)
            code = 1
    except typer.Abort:
        typer.echo("aborted", err=True)
        code = 1
    except ConfigError as exc:
        head, *problems = str(exc).splitlines()
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        tail = [f"  ... and {more} more: `warroom config check` lists them all"] if more else []
        typer.echo("\n".join([head, *shown, *tail]), err=True)
        code = 1
    except WarroomError as exc:
        typer.echo(str(exc), err=True)
        code = 1
    sys.exit(code if isinstance(code, int) else 0)
