"""The muscle vocabulary: documented muscle names -> canonical muscles, their regions and pairing.

Data lives in policies/tables/muscles.yaml. A name is matched after lower-casing, trimming, dropping a
leading side word ("right", "left", "bilateral", "l", "r") and a trailing "muscle(s)". Region words that
name no muscle ("paraspinals", "upper back") are recognised as unnamed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from solver.errors import PolicyError, Problem

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
    def __init__(self, path: Path):
        problems: list[Problem] = []
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (FileNotFoundError, yaml.YAMLError) as exc:
            raise PolicyError([Problem(str(path), "(file)", f"cannot load the muscle vocabulary: {exc}")]) from None
        self.regions: dict[str, dict] = data.get("regions") or {}
        self.muscles: dict[str, dict] = {}
        self.lookup: dict[str, tuple[str, str]] = {}  # name -> (muscle id, region)
        self.unnamed: set[str] = set()
        self._cache: dict[str | None, MuscleMatch] = {}
        for i, m in enumerate(data.get("muscles") or []):
            mid, region = m.get("id"), m.get("region")
            if not mid or region not in self.regions:
                problems.append(Problem(str(path), f"muscles.{i}", "each muscle needs an id and a region listed under regions"))
                continue
            self.muscles[mid] = m
            names = [m.get("name", mid).lower(), mid.replace("_", " ")] + list(m.get("synonyms") or [])
            for name in names:
                self._add(name, mid, region, path, problems, f"muscles.{i}")
            for j, part in enumerate(m.get("parts") or []):
                part_region = part.get("region", region)
                if part_region not in self.regions:
                    problems.append(Problem(str(path), f"muscles.{i}.parts.{j}.region", f"unknown region {part_region!r}"))
                self._add(part["name"], mid, part_region, path, problems, f"muscles.{i}.parts.{j}")
        for term in data.get("unnamed_terms") or []:
            self.unnamed.add(self._norm(term))
        if problems:
            raise PolicyError(problems)

    def _add(self, name: str, mid: str, region: str, path: Path, problems: list, where: str) -> None:
        key = self._norm(name)
        if key in self.lookup and self.lookup[key][0] != mid:
            problems.append(Problem(str(path), where, f"the name {name!r} already names {self.lookup[key][0]}; a name must be unique"))
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
