"""The ``warroom`` command line. Configuration is read here, once, and passed down."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="warroom: incident response as code, on Prefect.")
config_app = typer.Typer(no_args_is_help=True, help="Check the policies, roster, services and runbooks.")
app.add_typer(config_app, name="config")
