"""Dates enter ASP as day numbers, so "within 365 days" is arithmetic; ISO dates only at the edges."""
from __future__ import annotations

import datetime as dt

_EPOCH = dt.date(1970, 1, 1)


def day_number(d: dt.date) -> int:
    return (d - _EPOCH).days


def from_day_number(n: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=n)
