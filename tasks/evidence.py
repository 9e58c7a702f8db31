"""Preserving evidence: copy each source the runbook names, hash it, and check it again at close."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from prefect import task

from warroom.incident import events as ev
from warroom.incident.errors import WarroomError
from warroom.incident.events import Recorded
from warroom.incident.models import Evidence
from warroom.incident.policy import EvidenceSource
from warroom.tasks.ledger import envelope, once
from warroom.tasks.runtime import current_runtime


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def evidence_dir(incident_id: str) -> Path:
    return current_runtime().home / "evidence" / incident_id


@task(name="snapshot_evidence")
def snapshot_evidence(incident_id: str, index: int, source: EvidenceSource) -> Recorded:
    """Copy one evidence source under ``$WARROOM_HOME/evidence/<incident>/`` and record its sha256.

    In the sandbox and the demo every kind of source (log query, metric snapshot, config dump) is a
    local file named by ``location``, relative to the configuration directory.
    """
    rt = current_runtime()
    key = f"{incident_id}:evidence:{index}"

    def copy() -> Evidence:
        origin = (rt.config_dir / source.location).resolve()
        if not origin.is_file():
            raise WarroomError(
                f"evidence source '{source.title}' ({source.kind}) is not a file: {origin}; "
                "fix `location` in the service's runbook"
            )
        target = evidence_dir(incident_id) / f"{index:02d}-{origin.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, target)
        return Evidence(kind=source.kind, location=str(target), sha256=sha256_of(target),
                        captured_at=rt.clock())

    return once(key, copy, lambda e: ev.EvidencePreserved(**envelope(incident_id, key), evidence=e))


def changed_evidence(evidence: list[Evidence]) -> list[str]:
    """The preserved copies whose content no longer matches the hash taken when they were captured."""
    return [
        e.location
        for e in evidence
        if not Path(e.location).is_file() or sha256_of(Path(e.location)) != e.sha256
    ]
