"""The policy YAML schema: rule sets (rule instances of kb/ families) and payers that compose them."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CATEGORIES = ("code_selection", "units", "modifier", "diagnosis", "documentation", "frequency",
              "evaluation", "bundling", "coverage")
RULE_ID = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Citation(Strict):
    title: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://\S+$")
    section: str | None = None
    published: dt.date | None = None
    last_reviewed: dt.date | None = None
    # In a rule set written once for several payers (the uniform LCD): each adopting payer must cite its own
    # document in its place (`cite` in the payer file), so no finding cites another payer's document.
    payer_supplies: bool = False


class Effective(Strict):
    from_: dt.date | None = Field(default=None, alias="from")
    through: dt.date | None = None

    @model_validator(mode="after")
    def _ordered(self):
        if self.from_ and self.through and self.through < self.from_:
            raise ValueError("'through' is before 'from'; the dates are inclusive, fix the order")
        return self


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
    from_: dt.date | None = Field(default=None, alias="from")
    through: dt.date | None = None
    citations: list[Citation] = []
    cite: dict[str, Citation] = {}  # the payer's own document in place of a named citation of the rule set
    params: dict[str, dict[str, Any]] = {}
    exclude: list[str] = []
    only: list[str] = []  # adopt only these rules of the set (e.g. the one gap rule that fits the version)
    notes: str | None = None


class Payer(Strict):
    payer: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str
    kind: Literal["medicare", "commercial"]
    description: str | None = None
    uses: list[Use] = Field(min_length=1)
    notes: str | None = None


class Case(Strict):
    """A YAML test case next to a policy file: an encounter and what the product must answer."""

    name: str
    encounter: dict[str, Any]
    violates: list[str] = []  # rule ids that must be among the findings
    passes: list[str] = []  # rule ids that must not be
    expect: dict[str, Any] = {}  # outcome, claim (lines; each listed field must match)

    @field_validator("expect")
    @classmethod
    def _expect(cls, value):
        unknown = set(value) - {"outcome", "claim"}
        if unknown:
            raise ValueError(f"unknown expectation(s) {sorted(unknown)}; use outcome and claim")
        return value


class CaseFile(Strict):
    defaults: dict[str, Any] = {}
    cases: list[Case]
