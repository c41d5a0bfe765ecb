"""The muscle vocabulary: documented muscle names -> canonical muscles, their regions and pairing.

Data lives in policies/tables/muscles.yaml. A name is matched after lower-casing, trimming, dropping a
leading side word ("right", "left", "bilateral", "l", "r") and a trailing "muscle(s)". Region words that
name no muscle ("paraspinals", "upper back") are recognised as unnamed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from solver.errors import PolicyError, Problem, pydantic_problems
from solver.policy_model import Muscle, MuscleTable
from solver.yamltext import read_policy_yaml

_SIDE_WORDS = re.compile(r"^(right|left|bilateral|both|rt|lt|r|l)\b[\s.]*")
_TRAILING = re.compile(r"\s+(muscles?|m\.?)$")


@dataclass(frozen=True)
class MuscleMatch:
    muscle: str | None  # canonical id, None when the text names no muscle
    region: str | None
    paired: bool
    text: str
    recognised: bool  # False: a name the vocabulary does not know at all


class Vocabulary:
    """The muscle table, validated (every problem at once) and indexed by normalised name."""

    def __init__(self, path: Path, problems: list[Problem] | None = None):
        """Problems are appended to `problems` when given; else any problem raises PolicyError."""
        found: list[Problem] = []
        self.regions: dict[str, dict] = {}
        self.muscles: dict[str, dict] = {}
        self.lookup: dict[str, tuple[str, str]] = {}  # name -> (muscle id, region)
        self.unnamed: set[str] = set()
        self._cache: dict[str | None, MuscleMatch] = {}
        table = _validated(path, found)
        if table is not None:
            self._index(table, str(path), found)
        if problems is not None:
            problems.extend(found)
        elif found:
            raise PolicyError(found)

    def _index(self, table: tuple[dict, list[tuple[int, Muscle]], list[str]], file: str, problems: list[Problem]) -> None:
        regions, muscles, unnamed = table
        self.regions = {k: r.model_dump() if hasattr(r, "model_dump") else r for k, r in regions.items()}
        for i, m in muscles:
            if m.id in self.muscles:
                problems.append(Problem(file, f"muscles.{i}.id", f"the muscle {m.id!r} is listed twice; merge the entries"))
                continue
            if m.region not in self.regions:
                problems.append(Problem(file, f"muscles.{i}.region", f"unknown region {m.region!r}; the regions are {sorted(self.regions)}"))
                continue
            self.muscles[m.id] = {**m.model_dump(), "name": m.name or m.id}
            for name in [(m.name or m.id).lower(), m.id.replace("_", " ")] + m.synonyms:
                self._add(name, m.id, m.region, file, problems, f"muscles.{i}")
            for j, part in enumerate(m.parts):
                part_region = part.region or m.region
                if part_region not in self.regions:
                    problems.append(Problem(file, f"muscles.{i}.parts.{j}.region", f"unknown region {part_region!r}; the regions are {sorted(self.regions)}"))
                self._add(part.name, m.id, part_region, file, problems, f"muscles.{i}.parts.{j}")
        for k, term in enumerate(unnamed):
            if self._norm(term) in self.lookup:
                problems.append(Problem(file, f"unnamed_terms.{k}", f"{term!r} also names the muscle {self.lookup[self._norm(term)][0]}; keep it in one place"))
            self.unnamed.add(self._norm(term))

    def _add(self, name: str, mid: str, region: str, file: str, problems: list, where: str) -> None:
        key = self._norm(name)
        if key in self.lookup and self.lookup[key][0] != mid:
            problems.append(Problem(file, where, f"the name {name!r} already names {self.lookup[key][0]}; a name must be unique"))
        self.lookup.setdefault(key, (mid, region))

    @staticmethod
    def _norm(text: str) -> str:
        t = " ".join(str(text).lower().replace("_", " ").replace("-", " ").split())
        return t

    def match(self, text: str | None) -> MuscleMatch:
        cached = self._cache.get(text)
        if cached is None:
            cached = self._cache[text] = self._match(text)
        return cached

    def _match(self, text: str | None) -> MuscleMatch:
        if text is None or not str(text).strip():
            return MuscleMatch(None, None, False, "", True)
        t = self._norm(text)
        for candidate in (t, _TRAILING.sub("", t), _SIDE_WORDS.sub("", t), _TRAILING.sub("", _SIDE_WORDS.sub("", t))):
            if candidate in self.lookup:
                mid, region = self.lookup[candidate]
                return MuscleMatch(mid, region, bool(self.muscles[mid].get("paired", True)), str(text), True)
            if candidate in self.unnamed:
                return MuscleMatch(None, None, False, str(text), True)
        return MuscleMatch(None, None, False, str(text), False)

    def region_of(self, muscle_id: str) -> str | None:
        m = self.muscles.get(muscle_id)
        return m.get("region") if m else None


def _validated(path: Path, problems: list[Problem]) -> tuple[dict, list[tuple[int, Muscle]], list[str]] | None:
    """The regions, the muscles valid on their own (with their index) and the unnamed terms; problems for the rest."""
    data = read_policy_yaml(path, problems)
    if data is None:
        return None
    if not isinstance(data, dict):
        problems.append(Problem(str(path), "(file)", "the muscle table is a mapping with regions, muscles and unnamed_terms"))
        return None
    try:
        table = MuscleTable.model_validate(data)
        return table.regions, list(enumerate(table.muscles)), table.unnamed_terms
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, str(path)))
    # every problem was reported; keep what is valid, so the names and regions are checked too
    regions = data.get("regions") if isinstance(data.get("regions"), dict) else {}
    raw_muscles = data.get("muscles") if isinstance(data.get("muscles"), list) else []
    muscles = []
    for i, raw in enumerate(raw_muscles):
        try:
            muscles.append((i, Muscle.model_validate(raw)))
        except ValidationError:
            pass
    unnamed = data.get("unnamed_terms") if isinstance(data.get("unnamed_terms"), list) else []
    return regions, muscles, [t for t in unnamed if isinstance(t, str)]
