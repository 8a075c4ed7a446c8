"""The time steps the products add scenes up by: a day (default), an ISO week (from its Monday) or a month."""

from __future__ import annotations

import datetime as dt

PERIODS = ("day", "week", "month")


def period_start(date: str, period: str) -> str:
    """The first day (ISO) of the `period` that `date` (ISO) falls in."""
    day = dt.date.fromisoformat(date[:10])
    if period == "week":
        day -= dt.timedelta(days=day.weekday())
    elif period == "month":
        day = day.replace(day=1)
    return day.isoformat()
