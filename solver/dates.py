"""Dates enter ASP as day numbers, so "within 365 days" is arithmetic; ISO dates only at the edges."""
from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import BeforeValidator

_EPOCH = dt.date(1970, 1, 1)


def day_number(d: dt.date) -> int:
    return (d - _EPOCH).days


def from_day_number(n: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=n)


_NUMBER = re.compile(r"^\s*[+-]?\d+(\.\d*)?\s*$")


def _not_a_number(value):
    """A date is text (YYYY-MM-DD) or a date: a number (or a number as text, as YAML input is read) is not read as
    seconds since 1970, where 0 would be 1970-01-01 and 20240115 a day of 1970 with a time."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and _NUMBER.match(value)):
        raise ValueError(f"{str(value).strip()} is not a date: a date is expected as YYYY-MM-DD")
    return value


# A date of an input (an encounter, a data file): pydantic's parsing of text, but never a number.
InputDate = Annotated[dt.date, BeforeValidator(_not_a_number)]
