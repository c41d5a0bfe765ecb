"""Which payer policy a claim from the field is for: a mapping the deployment configures.

FHIR Coverage, CDS Hooks prefetch and X12 837P name a payer by its own identifiers (a payor identifier, a
plan or group, a name), not by a payerkb payer id. The deployment writes a YAML file:

    payers:
      - payer: medicare-cgs                 # a payerkb payer id
        match: {payor_id: ["15102", "15202"]}   # any of: payor_id, plan, name (case-insensitive, exact)
      - payer: cigna
        match: {name: ["Cigna", "Cigna Healthcare"]}

and names it with --payer-map FILE or $PAYERKB_PAYER_MAP (default: policies/payer-map.yaml, the example
shipped). resolve() gives the payer id, or None with the identifiers tried, so an answer can say clearly
that nothing matched.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from solver.errors import PolicyError, Problem, pydantic_problems
from solver.yamltext import read_policy_yaml

KEYS = ("payor_id", "plan", "name")


class _Match(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payor_id: list[str] = []
    plan: list[str] = []
    name: list[str] = []


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payer: str = Field(min_length=1)
    match: _Match


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    payers: list[_Entry]


PayerMapFile = _File  # the model of the file (its JSON Schema: solver/policy_schema.py)


@dataclass
class PayerMap:
    """(key, identifier in lower case) -> payer id."""

    index: dict[tuple[str, str], str] = field(default_factory=dict)
    source: str = "(none)"

    def resolve(self, **identifiers: str | None) -> str | None:
        """The payer id for the first identifier that matches (payor_id, then plan, then name), else None."""
        for key in KEYS:
            value = identifiers.get(key)
            if value:
                found = self.index.get((key, str(value).strip().lower()))
                if found:
                    return found
        return None

    @classmethod
    def load(cls, path: Path, known_payers: set[str] | None = None) -> "PayerMap":
        problems: list[Problem] = []
        data = read_policy_yaml(path, problems)
        if problems:
            raise PolicyError(problems)
        try:
            parsed = _File.model_validate(data or {"payers": []})
        except ValidationError as exc:
            raise PolicyError(pydantic_problems(exc, str(path))) from None
        out = cls(source=str(path))
        for i, entry in enumerate(parsed.payers):
            if known_payers is not None and entry.payer not in known_payers:
                problems.append(Problem(str(path), f"payers.{i}.payer", f"unknown payer {entry.payer!r}; the payers are {sorted(known_payers)}"))
            for key in KEYS:
                for value in getattr(entry.match, key):
                    k = (key, value.strip().lower())
                    if k in out.index and out.index[k] != entry.payer:
                        problems.append(Problem(str(path), f"payers.{i}.match.{key}", f"{value!r} already maps to {out.index[k]}"))
                    out.index[k] = entry.payer
        if problems:
            raise PolicyError(problems)
        return out


def default_path(policies_dir: Path) -> Path:
    return Path(os.environ["PAYERKB_PAYER_MAP"]) if os.environ.get("PAYERKB_PAYER_MAP") else policies_dir / "payer-map.yaml"
