"""Cron schedules of accord.yaml (audiences, destinations): checked when loaded, so that `serve` never meets one
that has no next run."""

from __future__ import annotations

from datetime import datetime, timezone

from croniter import CroniterBadDateError, croniter


def cron_problem(expression: str) -> str | None:
    """Why `expression` cannot schedule anything, or None: croniter's syntax accepts dates no year has (`0 0 30 2 *`),
    whose next run it then fails to find."""
    if not croniter.is_valid(expression):
        return "is not a cron expression (five fields, e.g. '0 * * * *' for every hour)"
    try:
        croniter(expression, datetime.now(timezone.utc)).get_next(datetime)
    except CroniterBadDateError:
        return "names no date any year has"
    return None


def next_run(expression: str, after: datetime) -> datetime:
    """The first moment of the schedule after `after`."""
    return croniter(expression, after).get_next(datetime)
