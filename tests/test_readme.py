"""The README says what warroom does, no more (issue 10's defects in its wording)."""

from __future__ import annotations

from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
INTRO = README.split("## ")[0]


def test_the_intro_says_what_is_filed_in_jira() -> None:
    assert "files follow-up\nbugs in Jira" not in INTRO  # warroom files no bugs of its own accord
    words = " ".join(INTRO.split())
    assert "the bugs the planning lead writes on their desk" in words
    assert "a follow-up for each divergence left open and the postmortem" in words


def test_an_alert_joins_the_incident_of_its_group_not_of_its_fingerprint() -> None:
    words = " ".join(README.split())
    assert "the incident of its fingerprint" not in words
    assert "joins the open incident of its group (the sender's group key" in words
    assert "fires again after it resolved is a timeline entry (its inbox row says `accepted`)" in words
