"""The ``warroom`` command line. Configuration is read here, once, and passed down."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from incident.errors import ConfigError
from warroom.config import load_config

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
