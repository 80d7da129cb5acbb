"""Erasure and replay keep the marts exact only for the marts clickstream.raw_removal knows
(it deletes their rows of the touched keys): a mart added to dbt must be added there too."""

from __future__ import annotations

from clickstream.config import PROJECT_ROOT
from clickstream.raw_removal import DELETE_TOUCHED_ROWS

MARTS = PROJECT_ROOT / "dbt_project" / "models" / "marts"
# Keyed by event (clickstream_events) or raw line (invalid_events): handled on their own.
EVENT_AND_LINE_MARTS = {"clickstream_events", "invalid_events"}


def test_raw_removal_knows_every_mart() -> None:
    marts = {model.stem for model in MARTS.rglob("*.sql")}
    known = EVENT_AND_LINE_MARTS | set(DELETE_TOUCHED_ROWS)
    assert marts - known == set(), (
        "marts whose rows erasure and replay would leave stale: add them to "
        "DELETE_TOUCHED_ROWS (and a representative per key) in clickstream/raw_removal.py"
    )
    assert known - marts == set(), "raw_removal names marts that no longer exist"
