"""The model of policies/assumable.yaml: what `explain --missing` may assume and `--sensitivity` may change.

Validated strictly (an unknown key, a cost below 1, an entry with no value to assume is an error naming the
entry and field), and the source of the file's JSON Schema (`payerkb schema --policy assumable`)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DocumentationEntry(_Strict):
    """A fact of the note a provider could truthfully document: a contract-v1 path and the value assumed."""

    path: str = Field(description="contract-v1 path, e.g. documentation.conservative_therapy.failed")
    reading: str = Field(description="how the fact reads in an answer ({value} and from_params names are filled in)")
    cost: int = Field(default=1, ge=1, description="what assuming it costs: the search minimises the sum")
    value: object = Field(default=None, description="the value assumed")
    from_param: str | None = Field(default=None, description="the value is the largest of this parameter among the rules in force")
    from_params: dict[str, str] | None = Field(default=None, description="a mapping value: key -> the parameter it takes its largest value from")
    extra: dict[str, object] | None = Field(default=None, description="keys added to a from_params value as they are")
    needs: str | None = Field(default=None, description="assumed only when the encounter has this path (e.g. evaluation)")
    # exactly one of value, from_param, from_params: checked by solver.explore.assumable (all problems at once)


class InjectionEntry(_Strict):
    """A field of an injection the note leaves empty (`absent`) or vague (`unnamed`: a region word for a muscle)."""

    field: Literal["muscle", "substance", "dose"]
    when: Literal["unnamed", "absent"]
    reading: str
    cost: int = Field(default=1, ge=1)
    default: str | None = Field(default=None, description="the value assumed when no other injection documents one")
    prefer: dict[str, list[str]] | None = Field(default=None, description="a word of the term -> muscle ids it stands for first")


class ServiceEntry(_Strict):
    """A change of the service itself, assumed only with --change-service (always open to --sensitivity)."""

    kind: Literal["add_muscle", "add_diagnosis"]
    reading: str
    cost: int = Field(default=3, ge=1)
    per_region: int | None = Field(default=None, ge=1, description="add_diagnosis: at most this many codes per injected region")


class AssumableFile(_Strict):
    documentation: list[DocumentationEntry] = []
    injections: list[InjectionEntry] = []
    region_words: dict[str, str] = Field(default={}, description="a word of an unnamed term -> the region it stands for")
    default_regions: list[str] = []
    denial_categories: list[str] = Field(default=[], description="error categories that deny whatever the coding")
    service: list[ServiceEntry] = []
