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
        out.append(Problem(file=file, record=record, field=path or "(record)", message=msg))
    return out
