"""The report's statistics and period parsing, and the postmortem's people-owned sections: pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warroom.incident.postmortem import keep_people_sections, people_sections
from warroom.incident.report import (
    RawEvent,
    ReportInputError,
    bootstrap_median_interval,
    compare,
    distribution,
    facts_of,
    median,
    quantile,
    report_period,
)

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_quantiles_interpolate_between_the_closest_ranks() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert median(values) == 3.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert quantile(sorted(values), 0.9) == pytest.approx(4.0 + 0.6 * 6.0)  # rank 3.6
    assert quantile([7.0], 0.9) == 7.0
    with pytest.raises(ValueError):
        quantile([], 0.5)


def test_the_bootstrap_interval_is_seeded_and_holds_the_median() -> None:
    values = [60.0, 120.0, 180.0, 240.0, 3600.0, 90.0, 300.0]
    first = bootstrap_median_interval(values, "s")
    assert first == bootstrap_median_interval(values, "s")  # deterministic
    assert first is not None and first[0] <= median(values) <= first[1]
    assert bootstrap_median_interval([5.0], "s") is None
    d = distribution(values)
    assert (d.n, d.median, d.minimum, d.maximum) == (7, 180.0, 60.0, 3600.0)
    assert distribution([]).median is None


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=2, max_size=40))
def test_the_interval_lies_within_the_sample(values: list[float]) -> None:
    interval = bootstrap_median_interval(values, "p", resamples=200)
    assert interval is not None
    assert min(values) <= interval[0] <= interval[1] <= max(values)


def test_a_change_is_called_only_with_enough_samples_and_intervals_apart() -> None:
    small = compare("x", distribution([1.0, 2.0]), distribution([100.0, 200.0]), min_samples=5)
    assert not small.meaningful and "too few samples" in small.verdict and "n=2 now, n=2 before" in small.verdict
    fast = distribution([60.0 + i for i in range(20)])
    slow = distribution([600.0 + i for i in range(20)])
    assert compare("x", slow, fast, 5).verdict.startswith("longer")
    assert compare("x", fast, slow, 5).verdict.startswith("shorter")
    assert not compare("x", fast, distribution([61.0 + i for i in range(20)]), 5).meaningful


@pytest.mark.parametrize(("since", "from_", "to", "message"), [
    ("banana", None, None, "--since 'banana' is not a duration"),
    ("0d", None, None, "is not a duration"),
    ("7d", "2026-11-01", None, "either --since or --from/--to"),
    (None, "2026-12-01", "2026-11-01", "is not before --to"),
    (None, "yesterday", None, "--from 'yesterday' is not a date"),
    (None, None, "2026-11-01", "--to needs --from"),
])
def test_bad_periods_say_what_to_write(since: str | None, from_: str | None, to: str | None, message: str) -> None:
    with pytest.raises(ReportInputError, match=message.replace("(", r"\(")):
        report_period(NOW, timedelta(days=7), since, from_, to)


def test_periods() -> None:
    assert report_period(NOW, timedelta(days=7)) == (NOW - timedelta(days=7), NOW)
    assert report_period(NOW, timedelta(days=7), since="36h") == (NOW - timedelta(hours=36), NOW)
    start, end = report_period(NOW, timedelta(days=7), from_="2026-11-23", to="2026-11-29")
    assert (start, end) == (datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))  # --to included


def test_an_update_overdue_is_late_until_posted_or_until_the_end() -> None:
    t = NOW - timedelta(hours=3)
    events = [
        RawEvent("declared", {"title": "x", "service": "checkout", "severity": "SEV2", "commander": "alice"},
                 "warroom", t),
        RawEvent("status_update_overdue", {"due_at": (t + timedelta(minutes=30)).isoformat()}, "warroom",
                 t + timedelta(minutes=31)),
        RawEvent("status_update_posted", {"message": "m"}, "heidi", t + timedelta(minutes=42)),
        RawEvent("status_update_overdue", {"due_at": (t + timedelta(minutes=72)).isoformat()}, "warroom",
                 t + timedelta(minutes=73)),
    ]
    f = facts_of("INC-1", t, events, {"SEV2": timedelta(hours=1)}, frozenset({"checkout"}), NOW)
    assert f.overdue_by == (12 * 60.0, (180 - 72) * 60.0)
    assert f.updates_posted == 1 and f.declared and not f.unroutable
    [spell] = f.spells
    assert (spell.person, spell.role, spell.seconds) == ("alice", "incident_commander", 3 * 3600.0)


def test_people_sections_survive_a_redraft() -> None:
    begin = "<!-- people: root-causes (warroom keeps what is written between this line and the next marker) -->"
    end = "<!-- end people: root-causes -->"
    old = f"# Postmortem\n\n{begin}\nThe cache expired.\nAnd the retry storm.\n{end}\n\n- old fact\n"
    fresh = f"# Postmortem\n\n{begin}\n_(to be written)_\n{end}\n\n- new fact\n"
    merged = keep_people_sections(old, fresh)
    assert people_sections(merged) == {"root-causes": "The cache expired.\nAnd the retry storm."}
    assert "- new fact" in merged and "- old fact" not in merged
    assert keep_people_sections(None, fresh) == fresh


@pytest.mark.parametrize("n", [7, 8, 39, 40])
def test_the_o1_resampled_median_has_the_law_of_resampling_and_sorting(n: int) -> None:
    """The bootstrap draws each resample's median in O(1); its quantiles match brute-force resampling."""
    import random

    from warroom.incident.report import _resampled_median

    source = random.Random(n)
    data = sorted(source.expovariate(1 / 600) for _ in range(n))
    fast_rng, slow_rng = random.Random(1), random.Random(2)
    fast = sorted(_resampled_median(data, fast_rng) for _ in range(20_000))
    slow = sorted(median(slow_rng.choices(data, k=n)) for _ in range(20_000))
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        i = int(q * 19_999)
        assert data.index(min(data, key=lambda v: abs(v - fast[i]))) == pytest.approx(
            data.index(min(data, key=lambda v: abs(v - slow[i]))), abs=1)  # the same order statistic, give or take one
