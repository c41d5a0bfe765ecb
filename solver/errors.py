"""Typed errors of the domain code. Only the CLI turns them into exit codes."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem in one input: where it is and what to do about it."""

    file: str
    field: str
    message: str
    record: str | None = None

    def __str__(self) -> str:
        where = self.file if self.record is None else f"{self.file}: {self.record}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class PayerkbError(Exception):
    """Base class: a problem the user can fix, with every problem found listed."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class InputError(PayerkbError):
    """An encounter file could not be read or validated."""


class PolicyError(PayerkbError):
    """A policy, rule set or code table is invalid."""


# pydantic's complaints of a value that is not a date; said with the value given and the form expected
_DATE_ERRORS = {"date_type", "date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact"}


def pydantic_problems(exc, file: str, record: str | None = None, prefix: str = "") -> list[Problem]:
    """Turn a pydantic ValidationError into one Problem per error, with dotted field paths."""
    out = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err.get("loc", ()))
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        msg = err.get("msg", "invalid").removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown key; remove it or check its spelling"
        elif err.get("type") == "missing":
            msg = "required field is missing; add it"
        elif err.get("type") == "date_from_datetime_inexact":  # pydantic read a number or a date and time
            msg = f"{err.get('input')!r} is not a date: a date is expected as YYYY-MM-DD"
        elif err.get("type") in _DATE_ERRORS:
            msg = f"{msg} ({err.get('input')!r} given); a date is expected as YYYY-MM-DD"
        out.append(Problem(file=file, record=record, field=path or "(record)", message=msg))
    return out
