"""What if: the baseline and each variant of an encounter answered, and what changed in each: the outcome, the
claim, and the findings added and removed (by rule id and line).

Given a ResidentEngine (a service worker's: solver/service/pool.py passes it to run_whatif), the answers come from
its shape programs (ResidentEngine.check_variants): the variants that keep the baseline's shape (documentation,
a muscle, a diagnosis, a side: most what-ifs) are an assignment of externals and a re-solve of one program; a
variant of a new shape (another payer or rule set, an injection past the bucket, another code) gets its own
program, warm for the next request. Given a solver.engine.Engine (the command line, the Python API: one call),
all are answered in one batch, which is faster there (answers(), the figures above WARM_MIN_SHARED). The answers
are byte for byte the batch's (tests/test_whatif_resident.py)."""
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


# bench/resident.py --only-whatif (every shipped case, 932 variants, the same run): a program built for one call
# costs more than the batch of a few encounters it replaces (the command line: batch 84 ms a variant, resident
# 136-148); a service worker's programs stay for the next request: building one for every shape answers a first
# request as fast as the batch in total (60 vs 84 ms p50) and the same encounter's next ones 3.7x faster (23 ms).
WARM_MIN_SHARED = 1  # a service worker's engine: a program for every shape of the variants


def resident_engine(engine):
    """The engine's resident engine: itself when it is one, else one made over it for this call (no folder watch:
    it lives as long as the call)."""
    from solver.resident import ResidentEngine
    if isinstance(engine, ResidentEngine):
        return engine
    return ResidentEngine(policies_dir=engine.policies_dir, kb_dir=engine.kb_dir, reference=engine, watch=False)


def answers(engine, encounters: list[Encounter], resident: bool = True, min_shared: int | None = None) -> list[dict]:
    """The results of the baseline and its variants where that is faster: a ResidentEngine (a service worker's)
    re-solves shape programs (a shape shared by min_shared of them, or warm already), the others in one batch; a
    solver.engine.Engine, or resident=False, answers all of them in one batch (Engine.check_many). min_shared
    given: a resident engine over a plain Engine for this call."""
    from solver.resident import ResidentEngine
    if not resident or (min_shared is None and not isinstance(engine, ResidentEngine)):
        return getattr(engine, "reference", engine).check_many(encounters)
    return resident_engine(engine).check_variants(encounters, WARM_MIN_SHARED if min_shared is None else min_shared)


def whatif(engine, enc: Encounter, variants: list[Variant], resident: bool = True, min_shared: int | None = None) -> dict:
    """{"encounter", "baseline": {"outcome", "claim"}, "variants": [{"label", "changes", "outcome", "claim",
    "findings_added", "findings_removed"}]}: answered by answers() (resident programs where shapes are shared)."""
    problems = unknown_payers(engine, enc, variants)
    if problems:
        raise InputError(problems)
    results = answers(engine, [enc] + [v.encounter for v in variants], resident, min_shared)
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
