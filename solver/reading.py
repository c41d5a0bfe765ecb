"""Reading encounter files: YAML or JSON, one encounter, a list, or JSON Lines.

Every record is validated on its own, so one bad record never loses the others: the reader yields
either an Encounter or the list of Problems found in that record.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml
from pydantic import ValidationError

from solver.encounter import Encounter
from solver.errors import InputError, Problem, pydantic_problems
from solver.yamltext import load_yaml


@dataclass
class Record:
    """One record of an input file: an encounter, or the problems that kept it from being one."""

    source: str
    index: int  # 1-based position in the file
    raw_id: str | None
    encounter: Encounter | None = None
    problems: list[Problem] | None = None
    json_lines: bool = False
    line: str | None = None  # a JSON Lines record not parsed yet: resolve() parses and validates it

    def resolve(self) -> "Record":
        """Parse and validate a deferred JSON Lines record (done where the record is answered)."""
        if self.line is None:
            return self
        line, self.line = self.line, None
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            self.problems = [Problem(self.source, "(record)", f"not valid JSON: {exc.msg} at column {exc.colno}; fix this line", f"line {self.index}")]
            return self
        done = _validate(raw, self.source, self.index, True)
        self.raw_id, self.encounter, self.problems = done.raw_id, done.encounter, done.problems
        return self

    @property
    def label(self) -> str:
        kind = "line" if self.json_lines else "record"
        return f"{kind} {self.index}" + (f" (id {self.raw_id})" if self.raw_id else "")


def _validate(raw, source: str, index: int, json_lines: bool) -> Record:
    raw_id = str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") is not None else None
    rec = Record(source=source, index=index, raw_id=raw_id, json_lines=json_lines)
    if not isinstance(raw, dict):
        rec.problems = [Problem(source, "(record)", "an encounter must be a mapping of fields to values", rec.label)]
        return rec
    try:
        rec.encounter = Encounter.model_validate(raw)
    except ValidationError as exc:
        rec.problems = pydantic_problems(exc, source, rec.label)
    return rec


def _looks_like_json_lines(text: str) -> bool:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return len(lines) > 1 and all(ln.lstrip().startswith("{") for ln in lines[:2])


def read_text(text: str, source: str) -> Iterator[Record]:
    """Yield the records of one input text, each validated on its own."""
    stripped = text.lstrip()
    if source.endswith((".jsonl", ".ndjson")) or (stripped.startswith("{") and _looks_like_json_lines(text)):
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                yield Record(source, n, None, json_lines=True, line=line)
        return
    try:
        data = json.loads(text) if stripped.startswith(("{", "[")) else load_yaml(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        if isinstance(exc, json.JSONDecodeError):
            where = f" at line {exc.lineno}, column {exc.colno}"
        raise InputError([Problem(source, "(file)", f"not valid YAML or JSON{where}: {getattr(exc, 'problem', None) or getattr(exc, 'msg', exc)}; fix the syntax")]) from None
    if data is None:
        raise InputError([Problem(source, "(file)", "the file is empty; give one encounter, a list of encounters or JSON Lines")])
    items = data if isinstance(data, list) else [data]
    for n, raw in enumerate(items, start=1):
        yield _validate(raw, source, n, False)


def read_file(path: str) -> Iterator[Record]:
    """Yield the records of a file ('-' reads standard input)."""
    if path == "-":
        yield from read_text(sys.stdin.read(), "<stdin>")
        return
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError([Problem(path, "(file)", "no such file; check the path")]) from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise InputError([Problem(path, "(file)", f"cannot be read ({exc.__class__.__name__}); give a UTF-8 YAML or JSON file")]) from None
    yield from read_text(text, path)
