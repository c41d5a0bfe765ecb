"""What a policy change does: the same encounters answered under two policy folders, what differs, and what
neither answered."""
from __future__ import annotations


def _summary(result: dict) -> dict:
    return {"outcome": result.get("outcome"),
            "claim": [f"{l['code']}" + "".join(f"-{m}" for m in l["modifiers"]) + (f" x{l['units']}" if l["units"] != 1 else "")
                      for l in result.get("claim", [])],
            "findings": sorted({f"{f['rule']} ({f['severity']})" for f in result.get("findings", [])})}


def difference(before: dict, after: dict) -> dict | None:
    """None when the two answers agree on outcome, claim and findings; else what changed."""
    a, b = _summary(before), _summary(after)
    if a == b:
        return None
    out = {"encounter": after.get("encounter", before.get("encounter"))}
    if a["outcome"] != b["outcome"]:
        out["outcome"] = [a["outcome"], b["outcome"]]
    if a["claim"] != b["claim"]:
        out["claim"] = [a["claim"], b["claim"]]
    gone = sorted(set(a["findings"]) - set(b["findings"]))
    new = sorted(set(b["findings"]) - set(a["findings"]))
    if gone:
        out["findings_removed"] = gone
    if new:
        out["findings_added"] = new
    return out


def not_answered(before, after) -> dict | None:
    """None when both folders answered the record; else its problems under each (None where it was answered).

    `before` and `after` are batch Answers for the same record."""
    if before.outcome != "error" and after.outcome != "error":
        return None
    side = {}
    for name, ans in (("before", before), ("after", after)):
        side[name] = [str(p) for p in ans.problems] if ans.outcome == "error" else None
        side[name + "_outcome"] = ans.outcome
    encounter = (before.result if isinstance(before.result, dict) else {}).get("encounter")
    return {"encounter": encounter, **side}
