"""How the web UI writes values and draws its small charts (no browser needed)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from accord.web.charts import bar_chart, sizes_over_runs
from accord.web.pages import label, shown


@pytest.mark.parametrize(("value", "text"), [
    (39517000.0, "39,517,000"), (1234, "1,234"), (0.5, "0.50"), (True, "yes"), (None, ""),
    (datetime(2026, 3, 1, 9, 30, 12, 123456, tzinfo=timezone(timedelta(hours=2))), "2026-03-01 07:30 UTC"),
    ("Software", "Software"),
])
def test_values_are_written_as_people_read_them(value: object, text: str) -> None:
    assert shown(value) == text


def test_an_audiences_size_after_each_run_comes_from_its_entries_and_exits() -> None:
    runs = [{"run_id": 1, "entered": 100, "exited": 0}, {"run_id": 2, "entered": 5, "exited": 20},
            {"run_id": 3, "entered": 10, "exited": 0}]
    assert sizes_over_runs(95, runs) == [("run 1", 100), ("run 2", 85), ("run 3", 95)]
    assert sizes_over_runs(None, runs) == [] and sizes_over_runs(3, []) == []


def test_a_chart_has_both_axes_labelled_and_each_bar_titled() -> None:
    svg = bar_chart([("2026-01-05", 3), ("2026-01-12", 12)], "Engagement: events per week", "events")
    assert svg.count("<line") == 2 and ">12<" in svg and ">0<" in svg
    assert ">2026-01-05<" in svg and ">2026-01-12<" in svg and "<title>2026-01-12: 12 events</title>" in svg
    assert bar_chart([], "nothing", "events") == ""


def test_model_names_read_as_words_and_an_organisations_fields_keep_their_names() -> None:
    assert label("annual_revenue") == "Annual revenue" and label("ABM_Tier__c") == "ABM_Tier__c"
