"""Audience settings (the `audiences:` section of accord.yaml)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from accord.schedules import cron_problem, next_run

SERVING_SCHEDULE = "0 * * * *"
"""Batch evaluation under `accord serve` when no schedule is set: hourly, so batch audiences (those of accounts
among them) never go stale."""


class AudiencesConfig(BaseModel):
    """When batch evaluation runs and how long exits are remembered."""

    model_config = ConfigDict(extra="forbid")

    schedule: str | None = Field(
        default=None, description="Cron expression for batch evaluation under `accord run --scheduled` and "
                                  "`accord serve` (which runs it hourly when this is not set)."
    )
    retention_days: int = Field(default=30, ge=1, description="Days an exited membership is kept before it is purged.")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None and (problem := cron_problem(value)):
            raise ValueError(f"{value!r} {problem}")
        return value

    def next_run(self, after: datetime, serving: bool = False) -> datetime:
        """The next batch evaluation after `after`: on the schedule, or (`serving`) hourly without one."""
        if self.schedule is None and not serving:
            raise ValueError("no audiences.schedule in accord.yaml")
        return next_run(self.schedule or SERVING_SCHEDULE, after)
