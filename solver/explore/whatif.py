"""What if: the baseline and each variant of an encounter answered in one batch (one grounding), and what
changed in each: the outcome, the claim, and the findings added and removed (by rule id and line)."""
from __future__ import annotations

from solver.encounter import Encounter
from solver.errors import InputError, Problem
from solver.explore.patching import Variant


def summary(result: dict) -> dict:
    return {"outcome": result.get("outcome"), "claim": result.get("claim", [])}


def finding_key(f: dict) -> tuple:
    return (f["rule"], f.get("line"))


def brief(f: dict) -> dict:
    """A finding as a change lists it: rule, line, severity, message and citations."""
    out = {k: f.get(k) for k in ("rule", "line", "severity", "category", "code", "message")}
    out["citations"] = f.get("citations", [])
    if f.get("review"):
        out["review"] = True
    return out


def difference(base: dict, other: dict) -> dict:
    """outcome / claim as {"from", "to"} (null when unchanged), findings added and removed by (rule, line)."""
    before = {finding_key(f): f for f in base.get("findings", [])}
    after = {finding_key(f): f for f in other.get("findings", [])}
    return {
        "outcome": None if base.get("outcome") == other.get("outcome") else {"from": base.get("outcome"), "to": other.get("outcome")},
        "claim": None if base.get("claim", []) == other.get("claim", []) else {"from": base.get("claim", []), "to": other.get("claim", [])},
        "findings_added": [brief(f) for k, f in after.items() if k not in before],
        "findings_removed": [brief(f) for k, f in before.items() if k not in after],
    }


def unknown_payers(engine, enc: Encounter, variants: list[Variant]) -> list[Problem]:
    out = []
    for v in [None, *variants]:
        e = enc if v is None else v.encounter
        bad = engine.unknown_payer(e)
        if bad:
            out.append(Problem("(encounter)" if v is None else v.label, "payer", bad.message))
    return out


def whatif(engine, enc: Encounter, variants: list[Variant]) -> dict:
    """{"encounter", "baseline": {"outcome", "claim"}, "variants": [{"label", "changes", "outcome", "claim",
    "findings_added", "findings_removed"}]}: all answered by one Engine.check_many (one grounding)."""
    problems = unknown_payers(engine, enc, variants)
    if problems:
        raise InputError(problems)
    results = engine.check_many([enc] + [v.encounter for v in variants])
    base = results[0]
    if base.get("outcome") == "error":
        raise InputError([Problem("(encounter)", e["field"], e["message"]) for e in base["errors"]])
    out = []
    for v, res in zip(variants, results[1:]):
        if res.get("outcome") == "error":
            raise InputError([Problem(v.label, e["field"], e["message"]) for e in res["errors"]])
        out.append({"label": v.label, "changes": v.changes, **difference(base, res),
                    "result": summary(res)})
    return {"encounter": enc.id, "baseline": summary(base), "variants": out}
