"""The living incident document follows the chapter's template and is newest-first."""

from __future__ import annotations

from tests.incident.helpers import Stream, declared, policy
from warroom.incident import events as ev
from warroom.incident.document import artifact_key, render
from warroom.incident.models import Phase, Role
from warroom.incident.state import fold


def test_document_sections_roles_and_timeline_order() -> None:
    s = Stream("INC-42")
    declared(s, commander="alice")
    s.add(ev.RoleAssigned, role=Role.OPERATIONS_LEAD, person="dan")
    s.add(ev.PhaseChanged, to=Phase.STABILISING)
    s.add(ev.MitigationApplied, actor="dan", divergence_id="d1", what="roll back checkout",
          revert="roll forward", approved_by="dan")
    s.add(ev.HandoffOffered, to="carol", briefing="rollback done, watching errors")
    doc = render(fold(s.records), policy(), ("status update due 03:30 UTC",))

    headings = [line for line in doc.splitlines() if line.startswith("## ")]
    assert headings == ["## Summary", "## Status", "## Command post", "## Command hierarchy",
                        "## Exit criteria", "## TODO and bugs filed", "## Timeline (newest first, UTC)"]
    assert "- incident commander: alice" in doc
    assert "- operations lead: dan" in doc
    assert "- communications lead: alice" in doc  # not delegated: the IC holds it
    assert "- next incident commander: carol" in doc
    assert "- [ ] revert d1: roll back checkout (revert: roll forward)" in doc
    assert "- status update due 03:30 UTC" in doc
    timeline = doc.split("## Timeline (newest first, UTC)\n")[1].splitlines()
    assert timeline[0].endswith("alice offered command to carol")
    assert "declared SEV2 on checkout" in timeline[-1]
    assert "#inc-bridge" in doc


def test_artifact_key_is_what_prefect_accepts() -> None:
    assert artifact_key("INC-2026_11.26") == "incident-inc-2026-11-26"
