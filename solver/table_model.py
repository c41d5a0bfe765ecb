"""The schema of the YAML code tables (code groups, injectate classes) and of a CMS table's provenance file.

Unknown keys are errors; a code or modifier that YAML would read as a number must be quoted.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from solver.encounter import MODIFIER
from solver.policy_model import Date

GROUP_NAME = r"^[a-z][a-z0-9_]*$"
# A code a policy names: CPT Category I (five digits), Category II / III, PLA or MAAA (four digits and F, T, U or
# M), or HCPCS Level II (a letter and four digits): stricter than an encounter's code (solver.encounter.PROCEDURE_CODE),
# for a typo in a code group (2055X) would change every answer that reads the group, silently.
POLICY_CODE = re.compile(r"^(\d{5}|\d{4}[FTUM]|[A-Z]\d{4})$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


def _strings(values: list, pattern, what: str) -> list[str]:
    bad = [v for v in values if not isinstance(v, str)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not quoted; write every {what} in quotes (\"01991\" read as a number loses its zero)")
    wrong = [v for v in values if not pattern.match(v)]
    if wrong:
        raise ValueError(f"{wrong[0]!r} is not a {what}")
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise ValueError(f"{twice[0]!r} is listed twice")
    return values


class CodeGroup(Strict):
    title: str = Field(min_length=1)
    codes: list = Field(min_length=1)

    @field_validator("codes")
    @classmethod
    def _codes(cls, v: list) -> list[str]:
        return _strings(v, POLICY_CODE, "CPT/HCPCS code (five digits; four and F, T, U or M; or a letter and four digits)")


class ModifierGroup(Strict):
    title: str = Field(min_length=1)
    modifiers: list = Field(min_length=1)

    @field_validator("modifiers")
    @classmethod
    def _modifiers(cls, v: list) -> list[str]:
        return _strings(v, MODIFIER, "modifier (two characters)")


class CodeGroupsFile(Strict):
    code_groups: dict[str, CodeGroup] = Field(min_length=1)
    modifier_groups: dict[str, ModifierGroup] = Field(min_length=1)

    @field_validator("code_groups", "modifier_groups")
    @classmethod
    def _names(cls, v: dict) -> dict:
        bad = [k for k in v if not re.match(GROUP_NAME, str(k))]
        if bad:
            raise ValueError(f"group name {bad[0]!r}: use lower case letters, digits and _")
        return v


class SubstanceClass(Strict):
    title: str = Field(min_length=1)
    terms: list[str] = Field(min_length=1)

    @field_validator("terms")
    @classmethod
    def _terms(cls, v: list[str]) -> list[str]:
        v = [t.strip().lower() for t in v]
        if any(not t for t in v):
            raise ValueError("an empty term would match every substance; remove it")
        twice = sorted({t for t in v if v.count(t) > 1})
        if twice:
            raise ValueError(f"{twice[0]!r} is listed twice")
        return v


class SubstancesFile(Strict):
    classes: dict[str, SubstanceClass] = Field(min_length=1)


# --- provenance of a CMS table (<table>.source.yaml) ---------------------------------------------

class InForce(Strict):
    """The dates of service the edition read is known to be in force for (inclusive)."""

    from_: Date = Field(alias="from")
    through: Date | None = None

    @model_validator(mode="after")
    def _ordered(self):
        if self.through and self.through < self.from_:
            raise ValueError("'through' is before 'from'")
        return self


class ReadFrom(Strict):
    repository: str
    commit: str
    path: str
    built_by: str | None = None
    extract: str | None = None


class Parameter(Strict):
    """A stated choice where the source is silent: its value, how sure we are, and what an analyst can pick instead."""

    value: str
    confidence: Literal["high", "medium", "low"]
    statement: str
    alternative: str | None = None
    citations: list[str] = []


class SourceFile(Strict):
    title: str
    publisher: str
    url: str = Field(pattern=r"^https?://\S+$")
    files: list[str] = Field(min_length=1)
    edition: str
    in_force: InForce
    read_from: ReadFrom
    rows: dict[str, int]
    confidence: Literal["high", "medium", "low"]
    filtered: str
    not_known: list[str] = []
    parameters: dict[str, Parameter] = {}
    inferred_rows: list[str] = []
    notes: str | None = None
