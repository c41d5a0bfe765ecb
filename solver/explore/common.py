"""What the explain modes share: the slot a code bills, the real checks that verify an answer, the rules a
change satisfies or flips, a claim asked for as CODE[-MOD...]."""
from __future__ import annotations

import re

from clingo import Function

from solver.explore.assumable import Change
from solver.explore.contract_paths import apply_changes
from solver.encounter import Encounter
from solver.errors import InputError, Problem
from solver.facts import SLOT_GROUPS, encounter_facts
from solver.paths import KB_DIR

SEARCH_DIR = KB_DIR / "search"
OUTCOME_LP = SEARCH_DIR / "outcome.lp"
_ASKED = re.compile(r"^(\d{4}[0-9A-Z]|[A-Z]\d{4})((?:-[0-9A-Z]{2}){0,4})$")


def parse_asked(text: str, option: str = "--why-not") -> tuple[str, list[str]]:
    """"20553-59-XS" -> ("20553", ["59", "XS"]); anything else is an InputError naming the option."""
    m = _ASKED.match((text or "").strip().upper())
    if not m:
        raise InputError([Problem("(command line)", option, f"{text!r} is not CODE[-MOD...]; write e.g. 20553 or 20552-59")])
    return m.group(1), [x for x in m.group(2).split("-") if x]


def slot_for(engine, enc: Encounter, code: str, option: str) -> Function:
    """The documented service slot a code bills (from the encounter's own slot facts): the TPI or dry-needling
    slot for their codes, else the slot documented with that code (the E/M, another procedure). An
    InputError when the encounter documents no such service."""
    groups = engine.policies.tables.code_groups
    facts = encounter_facts(engine.policies, enc, 0).symbols
    slots = {s.arguments[1] for s in facts if s.name == "slot"}
    for name in ("tpi", "dry_needling"):
        if code in groups.get(SLOT_GROUPS[name], []) and Function(name) in slots:
            return Function(name)
    for s in facts:
        if s.name == "slot_code" and s.arguments[2].string == code:
            return s.arguments[1]
    raise InputError([Problem("(command line)", option, f"the encounter {enc.id} documents no service that {code} bills; "
                                                      "ask for a TPI code, or the code of its E/M or another documented procedure")])


def check_variants(engine, enc: Encounter, change_sets: list[list[Change]],
                   check=None) -> list[tuple[list[Change], Encounter, dict]]:
    """Each set of changes applied to the encounter and checked for real (one grounding for all of them).
    check: what answers the list of variants (by default engine.check_many; a resident engine's check_variants
    answers them on its shape programs)."""
    variants = [(chs, apply_changes(enc, [c.as_change() for c in chs])) for chs in change_sets]
    results = (check or engine.check_many)([v for _chs, v in variants]) if variants else []
    return [(chs, v, r) for (chs, v), r in zip(variants, results)]


def _states(result: dict) -> dict[str, tuple[str, dict]]:
    """Each rule that decides an outcome or a code, and how: error (not corrected), corrected, review, warning."""
    rank = {"error": 0, "review": 1, "corrected": 2, "warning": 3}
    out: dict[str, tuple[str, dict]] = {}
    for f in result.get("findings", []):
        if f["severity"] == "error":
            state = "corrected" if f.get("corrected") else "error"
        elif f.get("review"):
            state = "review"
        elif f["severity"] == "warning":
            state = "warning"
        else:
            continue
        if f["rule"] not in out or rank[state] < rank[out[f["rule"]][0]]:
            out[f["rule"]] = (state, f)
    return out


_NOW = {"error": "broken", "review": "needs review", "corrected": "corrected in the claim", "warning": "warning"}


def rules_satisfied(before: dict, after: dict) -> list[dict]:
    """The rules whose errors, points for review or warnings the change removes, with their citations."""
    b, a = _states(before), _states(after)
    return [{"rule": r, "citations": f["citations"]} for r, (state, f) in b.items()
            if r not in a or (state in ("error", "review") and a[r][0] not in ("error", "review"))]


def rules_flipped(before: dict, after: dict) -> list[dict]:
    """The rules whose finding appears, disappears or changes kind with the change, with their citations and
    what they are now."""
    b, a = _states(before), _states(after)
    out = [{"rule": r, "citations": f["citations"], "now": "satisfied"} for r, (_s, f) in b.items() if r not in a]
    out += [{"rule": r, "citations": f["citations"], "now": _NOW[state]} for r, (state, f) in a.items()
            if r not in b or b[r][0] != state]
    return out


def claim_codes(result: dict) -> list[str]:
    return sorted(line["code"] for line in result.get("claim", []))


def summary(result: dict) -> dict:
    return {"outcome": result["outcome"], "claim": result.get("claim", [])}


def line_text(line: dict) -> str:
    return line["code"] + "".join(f"-{m}" for m in line["modifiers"]) + (f" x{line['units']}" if line["units"] != 1 else "")
