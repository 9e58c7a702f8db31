"""``warroom init [DIR]``: write a starter ``configs/`` from the data shipped in the package.

The starter is the repository's own ``configs/`` (``warroom/starter`` links to it, and the build copies
it into the wheel): a commented policy, a roster, services, one runbook per service, the evidence files
those runbooks name, and the sample alert that ``warroom demo`` starts from. It is complete and
checks clean, so ``warroom init . && warroom demo`` works in an empty folder; then a team replaces the
example people, services and ids with its own (:func:`next_steps` says what).
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath

from warroom.incident.errors import WarroomError

CONFIGS = "configs"


class StarterExistsError(WarroomError):
    """A file ``warroom init`` would write exists already: nothing was written."""


def starter_files() -> dict[PurePosixPath, Traversable]:
    """The starter's files by their path under ``configs/``, in a stable order."""
    found: dict[PurePosixPath, Traversable] = {}

    def walk(node: Traversable, at: PurePosixPath) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name.startswith((".", "__")):
                continue
            if child.is_dir():
                walk(child, at / child.name)
            else:
                found[at / child.name] = child

    walk(files("warroom") / "starter", PurePosixPath())
    if not found:
        raise WarroomError("the starter configs are missing from this installation of warroom: reinstall it")
    return found


def init_configs(directory: Path) -> list[Path]:
    """Write the starter into ``directory/configs/`` and return the files written.

    Refuses (StarterExistsError, one line) when any of those files exists already, before writing any:
    an existing configuration is never overwritten. Other files in ``configs/`` are left alone.
    """
    target = directory / CONFIGS
    starter = starter_files()
    existing = [target.joinpath(*relative.parts) for relative in sorted(starter, key=lambda r: (len(r.parts), r))
                if target.joinpath(*relative.parts).exists()]
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise StarterExistsError(f"{existing[0]} exists{more}: warroom init overwrites nothing; "
                                 f"move it away, or pass another directory")
    written: list[Path] = []
    for relative, source in starter.items():
        path = target.joinpath(*relative.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(source.read_bytes())
        written.append(path)
    return written


def next_steps(directory: Path) -> str:
    """What to fill in, for ``warroom init`` to print after writing ``directory/configs/``."""
    configs = directory / CONFIGS
    return f"""\
wrote a starter configuration to {configs}/: an example company (payments, search) that checks clean,
so `warroom demo` runs on it as it is. Make it yours, file by file:

  roster.yaml       your teams (PagerDuty escalation policy id, Jira project) and people: handle, name,
                    email, team, the incident roles each may hold, PagerDuty user id
  services.yaml     one entry per service your alerts name (label `service`): owner team, PagerDuty
                    service and escalation policy ids, Jira project, customer_facing
  runbooks/         one <service>.yaml per service: mitigations (how, revert, risk) and the evidence to
                    preserve; delete the examples' runbooks and evidence/ files you do not use
  policy.yaml       severities, the declaration criteria (the labels your alerts carry), approval
                    timeouts, escalation.extra_responders (handles from roster.yaml), exit criteria,
                    command_post
  samples/alert.yaml  the alert `warroom demo` starts from

then:
  warroom config check {configs}
      lists every problem, with its file, YAML path and line
  warroom demo
      runs one whole incident on local sandboxes (it reads ./configs, or $WARROOM_CONFIG_DIR)
and for real PagerDuty and Jira: WARROOM_PAGERDUTY_* and WARROOM_JIRA_* (or Prefect blocks), see the README."""
