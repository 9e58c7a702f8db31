"""The ``warroom`` command line. Configuration is read here, once, and passed down."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Annotated, NoReturn

import typer
import uvicorn

from incident import work
from incident.errors import ConfigError, WarroomError
from incident.events import HandoffOffered
from incident.state import check, fold
from integrations.ledger import Ledger
from integrations.sandbox.from_config import jira_options, pagerduty_setup
from integrations.sandbox.server import Sandboxes
from tasks.runs import LIFECYCLE, start_run
from tasks.runtime import use_runtime
from warroom.bootstrap import build_runtime, utc_now
from warroom.config import load_config
from warroom.demo import run_demo
from warroom.intake import create_intake_app
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
from warroom.stack import local_stack

app = typer.Typer(no_args_is_help=True, help="warroom: incident response as code, on Prefect.")
config_app = typer.Typer(no_args_is_help=True, help="Check the policies, roster, services and runbooks.")
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
        f"{len(config.roster.people)} people, {len(config.runbooks)} runbooks in {directory}"
    )


def _settings() -> Settings:
    return Settings()


@app.command()
def demo(
    interactive: Annotated[
        bool, typer.Option(help="Print each waiting form's Prefect UI link instead of answering it.")
    ] = False,
) -> None:
    """Run one whole incident on the embedded default: alert, declare, page, roles, mitigate, restore,
    evidence, revert, close."""
    run_demo(_settings(), os.environ, interactive)


@app.command()
def sandbox(
    pagerduty_port: Annotated[int, typer.Option(help="Port of the PagerDuty sandbox (0: any free).")] = 8441,
    jira_port: Annotated[int, typer.Option(help="Port of the Jira sandbox (0: any free).")] = 8442,
) -> None:
    """Serve the PagerDuty and Jira sandboxes over HTTPS on 127.0.0.1 until Ctrl-C."""
    settings = _settings()
    config = load_config(settings.config_dir)
    with Sandboxes(settings.home, pagerduty_setup=pagerduty_setup(config), jira_options=jira_options(config),
                   pagerduty_port=pagerduty_port, jira_port=jira_port, persist=True) as boxes:
        typer.echo(f"PagerDuty sandbox: {boxes.pagerduty_url}  (Events API and REST)")
        typer.echo(f"Jira sandbox:      {boxes.jira_url}")
        typer.echo(f"certificate authority: {boxes.tls.ca_path if boxes.tls else '-'}")
        typer.echo("\npoint warroom at them (these lines hold the sandbox's own tokens):")
        for name, value in boxes.env().items():
            typer.echo(f"export {name}={value}")
        typer.echo("\nCtrl-C stops them.")
        wait_for_interrupt()


@app.command()
def up(
    pagerduty_port: Annotated[int, typer.Option(help="Port of the PagerDuty sandbox.")] = 8441,
    jira_port: Annotated[int, typer.Option(help="Port of the Jira sandbox.")] = 8442,
) -> None:
    """Run the local stack in the foreground: Prefect (unless PREFECT_API_URL is set), the sandboxes,
    the intake and its dispatcher, and a runner serving the lifecycle and handoff deployments.
    Ctrl-C or SIGTERM stops everything; started again, every open incident carries on."""
    settings = _settings()
    config = load_config(settings.config_dir)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with local_stack(settings, os.environ, config, pagerduty_port, jira_port) as stack, use_runtime(stack.runtime):
            os.environ.update(stack.env)  # the runner's flow runs build their runtime from these
            for deployment in deployments():
                deployment.apply()
            crashed, carried = carry_on(stack.runtime)
            intake = Background(create_intake_app(stack.runtime, settings, utc_now), settings.intake_host,
                                settings.intake_port)
            serve_in_background()
            typer.echo(f"Prefect UI: {stack.ui_url}")
            typer.echo(f"PagerDuty sandbox: {stack.sandboxes.pagerduty_url}")
            typer.echo(f"Jira sandbox: {stack.sandboxes.jira_url}")
            typer.echo(f"intake: {intake.url}/v1/alerts/{{alertmanager,grafana,pagerduty,generic}}")
            if carried:
                typer.echo(f"carrying on {carried} open incident(s) ({crashed} run(s) left by the last stop)")
            typer.echo("declare with `warroom declare SERVICE TITLE`; Ctrl-C stops everything.")
            try:
                stop.wait()
            finally:
                typer.echo("stopping: the runs waiting on forms are carried on at the next `warroom up`")
                intake.stop()
                logging.getLogger("prefect").setLevel(logging.CRITICAL)  # the runner's alarms as its runs go
                # the runs hold nothing the ledger does not: stopped at once, marked crashed at the next start
                stop_processes(flow_run_processes(os.getpid()), grace_s=2.0, first=signal.SIGKILL)
    finally:
        stop_processes(descendants(os.getpid()), grace_s=2.0)


@app.command()
def intake() -> None:
    """Serve the alert webhooks (POST /v1/alerts/{alertmanager,grafana,pagerduty,generic}, GET /healthz)."""
    settings = _settings()
    runtime = build_runtime(settings, os.environ)
    with use_runtime(runtime):
        typer.echo(f"warroom intake on http://{settings.intake_host}:{settings.intake_port}/v1/alerts/...")
        uvicorn.run(create_intake_app(runtime, settings, utc_now), host=settings.intake_host,
                    port=settings.intake_port, log_level="warning")


@app.command()
def declare(
    service: Annotated[str, typer.Argument(help="The service, as in services.yaml.")],
    title: Annotated[str, typer.Argument(help="What is wrong, in a few words.")],
    severity: Annotated[str, typer.Option(help="A severity from policy.yaml.")] = "SEV2",
    reason: Annotated[list[str] | None, typer.Option(help="Why it is an incident (repeatable).")] = None,
    by: Annotated[str, typer.Option(help="Your roster handle.")] = "",
    drill: Annotated[bool, typer.Option(help="A drill: kept out of production metrics.")] = False,
) -> None:
    """Declare an incident by hand: starts the lifecycle deployment (needs `warroom up` or a worker)."""
    settings = _settings()
    config = load_config(settings.config_dir)
    if service not in config.services.services:
        _fail(f"unknown service {service!r}; services.yaml has: {', '.join(config.services.services)}")
    config.policy.severity(severity)
    incident_id = f"INC-{utc_now():%Y%m%d-%H%M%S}"
    run = start_run(LIFECYCLE, {
        "incident_id": incident_id, "title": title, "service": service, "severity": severity,
        "reasons": reason or ["declared by hand"], "declared_by": by or "warroom", "drill": drill,
    }, key=f"{incident_id}:lifecycle")
    typer.echo(f"{incident_id} declared; lifecycle run {run.id} (answer its forms in the Prefect UI)")


@app.command()
def handoff(
    incident: Annotated[str, typer.Argument(help="The incident id, e.g. INC-20261126-031200.")],
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


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code=1)
