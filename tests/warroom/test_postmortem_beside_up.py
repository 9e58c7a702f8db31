"""The close drafts the postmortem in a running `warroom up`; `warroom postmortem INC` from another
shell beside it: the stack's `postmortem` deployment redrafts it (keeping what people wrote), with the
stack's Jira credentials (this shell has none), and the CLI says where the draft was attached;
`--here` drafts in the shell itself, which has no Jira, and says so."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.helpers import CONFIGS
from tests.warroom.test_up import Up, until
from warroom.bootstrap import utc_now
from warroom.incident import events as ev
from warroom.incident.models import Evidence, Phase
from warroom.integrations.ledger import Ledger
from warroom.integrations.sandbox.tls import ensure_ca


def ticket_of(home: Path, incident_id: str) -> str | None:
    with Ledger.open(f"sqlite:///{home}/ledger.db", utc_now) as ledger:
        opened = [r.event for r in ledger.stream(incident_id) if isinstance(r.event, ev.TicketOpened)]
    return opened[0].key if opened else None


def test_postmortem_beside_a_running_up_is_drafted_there_with_its_jira(tmp_path: Path) -> None:
    up = Up(tmp_path)
    try:
        incident_id = up.declared("UpPostmortem")
        key = str(until("the stack opens the incident's ticket", lambda: ticket_of(tmp_path, incident_id)))
        with Ledger.open(f"sqlite:///{tmp_path}/ledger.db", utc_now) as ledger:  # the IC walks it to closed
            facts: list[ev.Event] = [
                ev.PhaseChanged(incident_id=incident_id, actor="alice", occurred_at=utc_now(),
                                idempotency_key=f"{incident_id}:test:{phase.value}", to=phase)
                for phase in (Phase.STABILISING, Phase.RESTORING, Phase.PRESERVING_EVIDENCE, Phase.REVERTING)]
            facts.insert(3, ev.EvidencePreserved(
                incident_id=incident_id, actor="alice", occurred_at=utc_now(), idempotency_key=f"{incident_id}:test:ev",
                evidence=Evidence(kind="file", location="/var/log/checkout.log", sha256="0" * 64,
                                  captured_at=utc_now())))
            facts.append(ev.Closed(incident_id=incident_id, actor="alice", occurred_at=utc_now(),
                                   idempotency_key=f"{incident_id}:test:closed", summary="Fixed."))
            ledger.write_many(facts, expected_seq=ledger.last_seq(incident_id))
        ca = ensure_ca(tmp_path).client_context()

        def uploads() -> list[int]:
            seen = httpx.get(f"https://127.0.0.1:{up.jira_port}/_sandbox/requests", verify=ca, timeout=10).json()
            return [r["response_status"] for r in seen
                    if r["method"] == "POST" and r["path"].endswith(f"/issue/{key}/attachments")]

        until("the stack drafts the postmortem at the close and attaches it", lambda: uploads() == [200])
        drafted = tmp_path / "postmortems" / f"postmortem-{incident_id}.md"
        assert "## Root causes and trigger" in drafted.read_text(encoding="utf-8")
        drafted.write_text(drafted.read_text(encoding="utf-8").replace(  # people write their part
            "_(to be written by the people who were there)_ why it happened.", "A full disk."), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "WARROOM_"))}
        env.update(WARROOM_HOME=str(tmp_path), WARROOM_CONFIG_DIR=str(CONFIGS))  # no Jira credentials here
        warroom = str(Path(sys.executable).with_name("warroom"))

        done = subprocess.run([warroom, "postmortem", incident_id], env=env, capture_output=True, text=True,
                              timeout=300, check=False)

        assert done.returncode == 0, done.stdout + done.stderr
        assert f"postmortem draft of {incident_id}: {tmp_path / 'postmortems'}" in done.stdout
        assert "drafted by the running stack, with its Jira credentials" in done.stdout
        assert re.search(rf"^attached to {key}(, [A-Z]+-\d+)? as postmortem-{incident_id}-[0-9a-f]{{12}}\.md$",
                         done.stdout, re.MULTILINE), done.stdout
        assert uploads() == [200, 200]  # the new version (what people wrote), once more
        assert "A full disk." in drafted.read_text(encoding="utf-8")

        here = subprocess.run([warroom, "postmortem", incident_id, "--here"], env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert here.returncode == 0, here.stdout + here.stderr
        assert "not attached in Jira" in here.stderr and "drafted by the running stack" not in here.stdout
    finally:
        up.stop(signal.SIGTERM)
