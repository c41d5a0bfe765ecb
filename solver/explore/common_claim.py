"""The claim valid for every row of a comparison (each a payer, or a payer and a date of service), found with the
solver, in two steps:

1. A single program over the rows (kb/search/common_claim.lp): the rows' encounters, in one grounding, must all
   choose the same candidate claim, with no error and no review finding under any of them; the usual
   optimization picks the one with the fewest changes summed over the rows. It finds a common claim that no
   payer returns on its own too. No model: there is none.
2. When there is none, why: each row's returned claim is checked as the submitted claim in every row, in one
   batch; a claim is valid in a row when it comes back unchanged with no error or review
   finding on a line, and the rules that flag it where it is not are where the payers part (a claim found
   valid here after all is taken as the common claim: the two steps are held to agree by a test).
A claim with no line (no service can be billed) is no common claim."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from solver.encounter import ClaimLine, Encounter
from solver.errors import InputError, Problem
from solver.explain import build_result

PROGRAM = "search/common_claim.lp"  # under the engine's knowledge base
SINGLE_PROGRAM = ("a single program over the rows (kb/search/common_claim.lp): one candidate claim shared by every row, "
                  "with no error or review finding under any of them, the fewest changes summed over the rows")
COMMON_CLAIM_METHOD = ("each row's returned claim checked as the submitted claim in every row, "
                       "in one batch: valid where the claim comes back unchanged with no error or review finding on a line")


def as_context(enc: Encounter, payer: str, day: dt.date, claim=None) -> Encounter:
    changes = {"payer": payer, "date_of_service": day}
    if claim is not None:
        changes["claim"] = [ClaimLine.model_validate(x) for x in claim]
    return enc.model_copy(update=changes)


def answers(engine, encounters: list[Encounter]) -> list[dict]:
    results = engine.check_many(encounters)
    for enc, r in zip(encounters, results):
        if r.get("outcome") == "error":
            raise InputError([Problem("(encounter)", e["field"], f"{e['message']} (payer {enc.payer}, {enc.date_of_service})")
                              for e in r["errors"]])
    return results


RETURNS_ANOTHER = "(the check returns another claim)"


def _flagging(result: dict) -> dict[str, dict]:
    """The error / review findings on the submitted lines, by rule."""
    return {f["rule"]: f for f in result["findings"] if f.get("line") and (f["severity"] == "error" or f.get("review"))}


def _flags(result: dict, claim: list[dict]) -> list[str]:
    """Why a claim is not valid in this row: the rules of error / review findings on its lines, or the change made."""
    rules = sorted(_flagging(result))
    if not rules and result["claim"] != claim:
        rules = [RETURNS_ANOTHER]
    return rules


def single_program(engine, encounters: list[Encounter]) -> list[dict] | None:
    """The claim every encounter may carry with no error or review finding, by one program; None when there is none."""
    ctl, facts = engine.control(encounters, extra=(engine.kb_dir / PROGRAM,))
    ctl.ground([("base", [])])
    shown: list = []

    def on_model(model) -> None:
        shown[:] = model.symbols(shown=True)

    if not ctl.solve(on_model=on_model).satisfiable:
        return None
    first = defaultdict(list)
    for sym in shown:
        first[sym.arguments[0].number].append(sym)
    claim = build_result(engine.policies, encounters[0], facts[0], first[0])["claim"]
    return claim or None


def common_claim(engine, enc: Encounter, results: list[dict]) -> dict:
    """{"claim": lines | None, "method", "candidates": [{"claim", "valid_for", "flagged": [{"payer", "date_of_service",
    "rules"}], "rules"}], "notes"}: the single program first, the candidates' batch when it finds none."""
    rows = [(r["payer"], dt.date.fromisoformat(r["date_of_service"])) for r in results]
    found = single_program(engine, [as_context(enc, p, d) for p, d in rows]) if rows else None
    if found is not None:
        return {"claim": found, "method": SINGLE_PROGRAM, "candidates": [], "notes": []}
    out = _candidates(engine, enc, results, rows)
    out["notes"] = [f"{SINGLE_PROGRAM}: no model, so no claim is valid in every row"]
    if out["claim"] is not None:
        out["notes"].append("the candidates' batch found one valid in every row all the same; it is the one given")
    return out


def _candidates(engine, enc: Encounter, results: list[dict], rows: list[tuple]) -> dict:
    candidates: list[list[dict]] = []
    for r in results:
        if r["claim"] and r["claim"] not in candidates:
            candidates.append(r["claim"])
    if not candidates:
        return {"claim": None, "method": COMMON_CLAIM_METHOD, "candidates": []}
    checked = answers(engine, [as_context(enc, p, d, c) for c in candidates for p, d in rows])
    out, found = [], None
    for n, claim in enumerate(candidates):
        mine = checked[n * len(rows):(n + 1) * len(rows)]
        flagged = [{"payer": r["payer"], "date_of_service": r["date_of_service"], "rules": why}
                   for r in mine if (why := _flags(r, claim))]
        valid = [r["payer"] for r in mine if not _flags(r, claim)]
        out.append({"claim": claim, "valid_for": valid, "flagged": flagged,
                    "rules": {rid: {"severity": f["severity"], "citations": f.get("citations", [])}
                              for r in mine for rid, f in _flagging(r).items()}})
        if not flagged and found is None:
            found = claim
    return {"claim": found, "method": COMMON_CLAIM_METHOD, "candidates": out}
