"""Which rules the YAML cases exercise as the deciding rule, and which no case reaches, per payer
(`payerkb test --coverage`).

A case exercises a rule of its payer when the rule's finding decides the case's outcome (deny: an error no
coding change fixes; review: a finding marked review; modify: an error of the submitted claim that the
returned claim corrects; an allowed case has no deciding rule), or when the case names the rule under
`violates` and the rule fires. A rule is keyed by its id and the policy version the payer adopts it under
(a case for one version does not exercise another's dates or parameters); a rule not reached for a payer
names the payers whose cases do exercise it (a shared rule set is tested once, under one payer)."""
from __future__ import annotations

from solver.casetest import PRODUCT_RULES


def deciding_rules(result: dict) -> set[str]:
    """The rule ids whose findings decide the result's outcome (solver/explain.py outcome_of, rule by rule)."""
    outcome, findings = result.get("outcome"), result.get("findings", [])
    if outcome == "deny":
        picked = [f for f in findings if f["severity"] == "error" and not f.get("corrected")]
    elif outcome == "review":
        picked = [f for f in findings if f.get("review")]
    elif outcome == "modify":
        picked = [f for f in findings if f["severity"] == "error" and f.get("corrected")]
    else:
        picked = []
    return {f["rule"] for f in picked if not f["rule"].startswith(PRODUCT_RULES) and f["rule"] != "data.coverage"}


def exercised(case, result: dict) -> dict[tuple[str, str], str]:
    """(rule id, version) -> how the case exercises it: 'decides' or 'violates' (named, and it fires)."""
    versions = {f["rule"]: f.get("policy_version") for f in result.get("findings", [])}
    out = {(rid, versions[rid]): "decides" for rid in deciding_rules(result)}
    for rid in case.violates:
        if rid in versions and (rid, versions[rid]) not in out:
            out[(rid, versions[rid])] = "violates"
    return out


def coverage_report(policies, runs: list[tuple[str, object, dict]]) -> dict:
    """runs: (file, case, result) of every case run. Per payer: every rule it adopts, covered or not."""
    reached: dict[tuple[str, str, str], list[dict]] = {}
    for file, case, result in runs:
        if result.get("outcome") == "error":
            continue
        for (rid, version), how in exercised(case, result).items():
            reached.setdefault((result["payer"], rid, version), []).append({"case": case.name, "file": file, "how": how})
    elsewhere: dict[str, set[str]] = {}
    for pid, rid, _version in reached:
        elsewhere.setdefault(rid, set()).add(pid)
    payers = []
    for pid in sorted(policies.payers):
        covered, uncovered, seen = [], [], set()
        for inst in policies.payer_instances(pid):
            key = (inst.id, inst.version)
            if key in seen:
                continue
            seen.add(key)
            row = {"rule": inst.id, "version": inst.version, "family": inst.rule.family,
                   "from": inst.start.isoformat() if inst.start else None, "through": inst.end.isoformat() if inst.end else None}
            cases = reached.get((pid, *key))
            if cases:
                covered.append({**row, "decides": any(c["how"] == "decides" for c in cases), "cases": cases})
            else:
                uncovered.append({**row, "exercised_under": sorted(elsewhere.get(inst.id, set()))})
        payers.append({"payer": pid, "rules": len(seen), "covered": covered, "uncovered": uncovered})
    total = sum(p["rules"] for p in payers)
    hit = sum(len(p["covered"]) for p in payers)
    nowhere = sorted({i.id for i in policies.instances} - set(elsewhere))
    return {"payers": payers, "rules": total, "covered": hit, "uncovered": total - hit, "reached_by_no_case": nowhere}


def coverage_text(report: dict) -> str:
    lines = []
    for p in report["payers"]:
        lines.append(f"{p['payer']}: {len(p['covered'])} of {p['rules']} rules exercised as the deciding rule by a case")
        for r in p["uncovered"]:
            under = f"; exercised under {', '.join(r['exercised_under'])}" if r["exercised_under"] else ""
            lines.append(f"  not reached: {r['rule']} ({r['version']}){under}")
    lines.append(f"coverage: {report['covered']} of {report['rules']} payer rules (rule and version) exercised for their payer; "
                 f"{report['uncovered']} not")
    nowhere = report["reached_by_no_case"]
    lines.append(f"rules no case exercises under any payer: {', '.join(nowhere) if nowhere else 'none'}")
    return "\n".join(lines)
