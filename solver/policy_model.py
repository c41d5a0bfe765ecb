"""The policy YAML schema: rule sets (rule instances of kb/ families), payers that compose them, the cases
next to them, and the muscle table. Their JSON Schemas: solver/policy_schema.py."""
from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

CATEGORIES = ("code_selection", "units", "modifier", "diagnosis", "documentation", "frequency",
              "evaluation", "bundling", "coverage")
RULE_ID = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def iso_date(value: Any) -> dt.date:
    """A date written YYYY-MM-DD (policy YAML keeps dates as text): an impossible or other value is named."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a date: {exc}; a date is expected as YYYY-MM-DD") from None
    raise ValueError(f"{value!r} is not a date: a date is expected as YYYY-MM-DD")


Date = Annotated[dt.date, BeforeValidator(iso_date)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class Citation(Strict):
    title: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://\S+$")
    section: str | None = None
    published: Date | None = None
    last_reviewed: Date | None = None
    # In a rule set written once for several payers (the uniform LCD): each adopting payer must cite its own
    # document in its place (`cite` in the payer file), so no finding cites another payer's document.
    payer_supplies: bool = False

    @field_validator("last_reviewed")
    @classmethod
    def _reviewed_after_published(cls, value, info):
        published = info.data.get("published")
        if value is not None and published is not None and value < published:
            raise ValueError(f"last_reviewed {value} is before published {published}; a document is reviewed on or after "
                             "the day it is published: correct one of the two dates")
        return value


def _ordered(model):
    if model.from_ and model.through and model.through < model.from_:
        raise ValueError(f"'through' ({model.through}) is before 'from' ({model.from_}); the dates are inclusive, fix the order")
    return model


class Effective(Strict):
    from_: Date | None = Field(default=None, alias="from")
    through: Date | None = None

    _ordered = model_validator(mode="after")(_ordered)


class Rule(Strict):
    id: str
    family: str
    title: str = Field(min_length=1)
    category: Literal[CATEGORIES]  # type: ignore[valid-type]
    severity: Literal["error", "warning", "info"]
    confidence: Literal["high", "medium", "low"]
    effective: Effective = Effective()
    params: dict[str, Any] = {}
    message: str = Field(min_length=1)
    citations: list[Citation | str] = Field(min_length=1)
    review: bool = False
    notes: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not RULE_ID.match(value):
            raise ValueError("a rule id is lower case words joined by '.' or '-', e.g. cpt.code-by-muscle-count")
        return value


class RuleSet(Strict):
    ruleset: str
    title: str
    description: str | None = None
    includes: list[str] = []
    citations: dict[str, Citation] = {}
    rules: list[Rule] = []


class Use(Strict):
    """One rule set adopted by a payer, optionally for a date range, as a named version, with overrides."""

    ruleset: str
    version: str | None = None
    title: str | None = None
    from_: Date | None = Field(default=None, alias="from")
    through: Date | None = None
    citations: list[Citation] = []
    cite: dict[str, Citation] = {}  # the payer's own document in place of a named citation of the rule set
    params: dict[str, dict[str, Any]] = {}
    exclude: list[str] = []
    only: list[str] = []  # adopt only these rules of the set (e.g. the one gap rule that fits the version)
    notes: str | None = None

    _ordered = model_validator(mode="after")(_ordered)


class Payer(Strict):
    payer: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str
    kind: Literal["medicare", "commercial"]
    description: str | None = None
    uses: list[Use] = Field(min_length=1)
    notes: str | None = None


class ExpectedLine(Strict):
    """A claim line a case expects: each field given must match the returned line."""

    code: str | None = None
    modifiers: list[str] | None = None
    units: int | None = None
    diagnoses: list[str] | None = None

    @field_validator("code", mode="before")
    @classmethod
    def _code(cls, value):
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("modifiers", mode="before")
    @classmethod
    def _modifiers(cls, value):
        return [str(m) if isinstance(m, int) and not isinstance(m, bool) else m for m in value] if isinstance(value, list) else value


class Expect(Strict):
    outcome: Literal["allow", "modify", "review", "deny"] | None = None
    claim: list[ExpectedLine] | None = None


class Case(Strict):
    """A YAML test case next to a policy file: an encounter and what the product must answer."""

    name: str
    encounter: dict[str, Any]
    violates: list[str] = []  # rule ids that must be among the findings
    passes: list[str] = []  # rule ids that must not be
    expect: Expect = Expect()  # outcome, claim (lines; each listed field must match)


class CaseFile(Strict):
    defaults: dict[str, Any] = {}
    cases: list[Case]


# --- policies/tables/muscles.yaml: the muscle vocabulary and region model


class TableSource(Strict):
    title: str = Field(min_length=1)
    note: str | None = None


class Region(Strict):
    title: str = Field(min_length=1)
    description: str | None = None


class MusclePart(Strict):
    name: str = Field(min_length=1)
    region: str | None = None  # default: the muscle's region


class Muscle(Strict):
    id: str = Field(pattern=r"^[a-z0-9]+(_[a-z0-9]+)*$")
    name: str | None = None  # default: the id
    region: str
    paired: bool = True
    synonyms: list[str] = []
    parts: list[MusclePart] = []


class MuscleTable(Strict):
    source: TableSource | None = None
    regions: dict[str, Region] = Field(min_length=1)
    muscles: list[Muscle] = Field(min_length=1)
    unnamed_terms: list[str] = []

