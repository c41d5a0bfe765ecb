"""The family specs of kb/families.yaml: what each rule family takes, fills and derives.

A family is its `.lp` file plus its spec: the parameters a rule instance gives, the `details` it fills for
message templates, and the evidence terms it derives. The loader checks every family's file exists and is
included by kb/main.lp, and every rule's message template against its family's details, so an unfilled
{placeholder} is a load error, never a literal in front of a user. How each evidence term reads is data
too (`evidence_terms`), so the explanation layer names no family.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path


from solver.errors import Problem

BASE_FIELDS = frozenset({"code", "line"})  # every message may use these: the line's code and number
RENDER_KINDS = frozenset({"", "muscle", "injection", "date", "element", "status", "rule", "ordinal"})
_INCLUDE = re.compile(r'^#include\s+"([^"]+)"\s*\.\s*$', re.M)
_TERM = re.compile(r"^[a-z][a-z0-9_]*/\d+$")


@dataclass(frozen=True)
class TermSpec:
    """How one evidence term reads: `each` for one occurrence; `joined` (with {all}) lists them all once."""

    each: str
    joined: str | None = None


@dataclass
class Families:
    specs: dict[str, dict] = field(default_factory=dict)  # family -> {file, params, details, evidence}
    terms: dict[str, TermSpec] = field(default_factory=dict)  # "name/arity" -> how it reads

    def details(self, family: str) -> frozenset[str]:
        return frozenset(self.specs.get(family, {}).get("details") or ())

    def template_problems(self, family: str, message: str) -> list[str]:
        """What is wrong with a message template for a rule of this family (empty when nothing is)."""
        allowed = BASE_FIELDS | self.details(family)
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(message) if f is not None}
        except ValueError as exc:
            return [f"the message is not a valid template ({exc}); write a literal brace as {{{{ or }}}}"]
        out = []
        for name in sorted(names):
            if name not in allowed:
                out.append(f"the message uses {{{name}}}, which family {family} does not fill; it fills "
                           f"{sorted(allowed)}")
        return out


def _placeholders(text: str) -> list[tuple[str, str]]:
    return [(f, spec or "") for _, f, spec, _ in string.Formatter().parse(text) if f is not None]


def load_families(kb_dir: Path, read_yaml, problems: list[Problem]) -> Families:
    """kb/families.yaml, validated: each family's file exists and kb/main.lp includes it; each evidence
    term a family names has a reading; each reading's placeholders are arguments of the term."""
    path = kb_dir / "families.yaml"
    where = str(path)
    data = read_yaml(path, problems) or {}
    if not isinstance(data, dict):
        problems.append(Problem(where, "(file)", "kb/families.yaml is a mapping with families and evidence_terms"))
        return Families()
    unknown = set(data) - {"families", "evidence_terms"}
    for key in sorted(unknown):
        problems.append(Problem(where, key, "unknown key; the file has families and evidence_terms"))
    fams = Families()
    for term, spec in (data.get("evidence_terms") or {}).items():
        at = f"evidence_terms.{term}"
        if not _TERM.match(str(term)):
            problems.append(Problem(where, at, "an evidence term is written name/arity, e.g. injected/2"))
            continue
        if isinstance(spec, str):
            ts = TermSpec(spec)
        elif isinstance(spec, dict) and set(spec) == {"each", "joined"}:
            ts = TermSpec(str(spec["each"]), str(spec["joined"]))
        else:
            problems.append(Problem(where, at, "a reading is a text, or {each, joined} for a term listed once"))
            continue
        arity = int(str(term).rsplit("/", 1)[1])
        for name, kind in _placeholders(ts.each):
            if name == "dos":
                continue
            if not name.isdigit() or int(name) >= arity:
                problems.append(Problem(where, at, f"{{{name}}} is not an argument of {term} (use {{0}}..{{{arity - 1}}} or {{dos}})"))
            elif kind not in RENDER_KINDS:
                problems.append(Problem(where, at, f"unknown kind {kind!r}; the kinds are {sorted(RENDER_KINDS - {''})}"))
        if ts.joined is not None and {n for n, _ in _placeholders(ts.joined)} != {"all"}:
            problems.append(Problem(where, at + ".joined", "the joined text has exactly one placeholder, {all}"))
        fams.terms[str(term)] = ts
    main = (kb_dir / "main.lp").read_text(encoding="utf-8") if (kb_dir / "main.lp").exists() else ""
    included = set(_INCLUDE.findall(main))
    for name, spec in (data.get("families") or {}).items():
        at = f"families.{name}"
        if not isinstance(spec, dict):
            problems.append(Problem(where, at, "a family is a mapping with file, params, details and evidence"))
            continue
        for key in sorted(set(spec) - {"file", "params", "details", "evidence", "needs_note"}):
            problems.append(Problem(where, f"{at}.{key}", "unknown key; a family has file, params, details, evidence and needs_note"))
        if not isinstance(spec.get("needs_note", False), bool):
            problems.append(Problem(where, f"{at}.needs_note", "true or false"))
        file = spec.get("file", "")
        if not (kb_dir / "families" / file).is_file():
            problems.append(Problem(where, f"{at}.file", f"no such file under kb/families/: {file!r}"))
        elif f"families/{file}" not in included:
            problems.append(Problem(where, f"{at}.file", f"kb/main.lp does not include families/{file}; add the #include"))
        for term in spec.get("evidence") or ():
            if term not in fams.terms:
                problems.append(Problem(where, f"{at}.evidence", f"{term} has no reading under evidence_terms"))
        fams.specs[name] = {"file": file, "params": spec.get("params") or {}, "details": list(spec.get("details") or ()),
                            "evidence": list(spec.get("evidence") or ()), "needs_note": spec.get("needs_note") is True}
    return fams
