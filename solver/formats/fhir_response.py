"""FHIR R4 out: a ClaimResponse per record (`payerkb check --format fhir`), a Bundle of them for several.

- outcome: `complete` when the engine answered, `error` when the record could not be read or answered
  (then `error[]` and a processNote per problem, naming the field).
- disposition: the engine's outcome (allow, modify, review, deny) and a one-line reason; the outcome is
  also the extension urn:payerkb:outcome (valueCode) and the policy version urn:payerkb:policy-version.
- item[]: one per submitted Claim item (itemSequence; for a contract-v1 encounter, its claim lines numbered from 1), adjudication category urn:payerkb:adjudication
  allow / modify / review / deny for that line (a line the
  recommended claim leaves off is modify, or deny when the claim is denied), noteNumber pointing at the findings on that line.
- processNote[]: one per finding: "[severity] rule: message (citations)"; extensions
  urn:payerkb:finding-rule (valueString) and urn:payerkb:finding-citation (valueUri, one per citation).
- identifier[]: the service's decision id (system urn:payerkb:decision), the key of its decision-log line, when
  the result carries one (POST /v1/check with Accept: application/fhir+json).
- addItem[]: the recommended claim, complete (every line, in order): productOrService (CPT), modifier,
  quantity, adjudication category urn:payerkb:adjudication `recommended`, and its diagnoses as
  extension urn:payerkb:line-diagnosis (valueCoding ICD-10-CM). addItem is FHIR's place for the lines an
  adjudicator returns; here it is payerkb's recommendation, not a payer's adjudication. No addItem: no
  line is supported.

The engine's result is not changed: this module only says it in FHIR.
"""
from __future__ import annotations

import datetime as dt
import json

from solver.formats.fhir import FhirRecord

CPT = "http://www.ama-assn.org/go/cpt"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ADJUDICATION = "urn:payerkb:adjudication"
PROBLEM = "urn:payerkb:problem"
DECISION = "urn:payerkb:decision"
SEVERE = {"deny": 3, "review": 2, "modify": 1, "allow": 0}


def _cc(system: str, code: str, display: str | None = None) -> dict:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _line_outcome(findings: list[dict]) -> str:
    worst = "allow"
    for f in findings:
        if f.get("severity") != "error" and not f.get("review"):
            continue
        here = "review" if f.get("review") else "modify" if f.get("corrected") else "deny"
        worst = max(worst, here, key=SEVERE.get)
    return worst


def _note_text(f: dict) -> str:
    cites = "; ".join(" ".join(x for x in (c.get("title"), c.get("section"), c.get("url")) if x) for c in f.get("citations") or [])
    where = f" (line {f['line']})" if f.get("line") else ""
    return f"[{f.get('severity')}] {f.get('rule')}{where}: {f.get('message')}" + (f" Sources: {cites}" if cites else "")


def claim_response(result: dict, claim: dict | None, today: dt.date | None = None) -> dict:
    """The ClaimResponse (a JSON-ready dict) for one engine result and the Claim it answers (None: not FHIR)."""
    claim = claim or {}
    today = today or dt.date.today()
    rid = str(result.get("encounter") or "unknown")
    out: dict = {"resourceType": "ClaimResponse", "status": "active",
                 "type": claim.get("type") or _cc("http://terminology.hl7.org/CodeSystem/claim-type", "professional"),
                 "use": claim.get("use") or "claim",
                 "patient": claim.get("patient") or {"display": "not given in the input"},
                 "created": today.isoformat(),
                 "insurer": claim.get("insurer") or {"display": result.get("payer") or "not known"},
                 "request": ({"reference": f"Claim/{claim['id']}"} if claim.get("id") else {"identifier": {"system": "urn:payerkb:encounter", "value": rid}})}
    if (result.get("decision") or {}).get("id"):
        out["identifier"] = [{"system": DECISION, "value": result["decision"]["id"]}]
    if result.get("outcome") == "error" or "errors" in result:
        return _error_response(out, result)
    notes, by_line = [], {}
    for n, f in enumerate(result.get("findings") or [], start=1):
        ext = [{"url": "urn:payerkb:finding-rule", "valueString": str(f.get("rule"))}]
        ext += [{"url": "urn:payerkb:finding-citation", "valueUri": c["url"]} for c in f.get("citations") or [] if c.get("url")]
        notes.append({"number": n, "type": "display", "text": _note_text(f), "extension": ext})
        if f.get("line"):
            by_line.setdefault(f["line"], []).append((n, f))
    outcome = result.get("outcome", "review")
    out.update({"outcome": "complete", "disposition": _disposition(result),
                "extension": [{"url": "urn:payerkb:outcome", "valueCode": outcome},
                              {"url": "urn:payerkb:policy-version", "valueString": str((result.get("policy") or {}).get("version"))}]})
    items = []
    kept = {line["code"] for line in result.get("claim") or []}
    for k, (seq, code) in enumerate(claim.get("items") or [], start=1):
        found = by_line.get(k, [])
        here = _line_outcome([f for _, f in found])
        if code not in kept:  # the recommended claim leaves this line off
            here = max(here, "deny" if outcome == "deny" else "modify", key=SEVERE.get)
        item = {"itemSequence": seq, "adjudication": [{"category": _cc(ADJUDICATION, here)}]}
        if found:
            item["noteNumber"] = [n for n, _ in found]
        items.append(item)
    if items:
        out["item"] = items
    add = []
    for line in result.get("claim") or []:
        entry = {"productOrService": _cc(CPT, line["code"]), "quantity": {"value": line.get("units", 1)},
                 "adjudication": [{"category": _cc(ADJUDICATION, "recommended")}]}
        if line.get("modifiers"):
            entry["modifier"] = [_cc(CPT, m) for m in line["modifiers"]]
        if line.get("diagnoses"):
            entry["extension"] = [{"url": "urn:payerkb:line-diagnosis", "valueCoding": {"system": ICD10CM, "code": d}} for d in line["diagnoses"]]
        add.append(entry)
    if add:
        out["addItem"] = add
    if notes:
        out["processNote"] = notes
    return out


def _disposition(result: dict) -> str:
    outcome = result.get("outcome")
    errors = [f for f in result.get("findings") or [] if f.get("severity") == "error"]
    lines = ", ".join("-".join([line["code"], *line.get("modifiers", [])]) + (f" x{line['units']}" if line.get("units", 1) != 1 else "")
                      for line in result.get("claim") or []) or "no line is supported"
    why = f"; {len(errors)} error finding(s): " + ", ".join(sorted({f['rule'] for f in errors})) if errors else ""
    return f"payerkb {outcome}: recommended claim {lines}{why}"


def _error_response(out: dict, result: dict) -> dict:
    errors = result.get("errors") or []
    out["outcome"] = "error"
    out["disposition"] = f"payerkb could not answer this record: {len(errors)} problem(s) in the input (see processNote)"
    out["error"] = [{"code": {"coding": [{"system": PROBLEM, "code": "input"}], "text": f"{e.get('field')}: {e.get('message')}"}} for e in errors]
    out["processNote"] = [{"number": n, "type": "display", "text": f"{e.get('field')}: {e.get('message')}"} for n, e in enumerate(errors, start=1)]
    return out


def _claim_of(rec) -> dict | None:
    """What a ClaimResponse says of the claim, for a contract-v1 encounter: its patient (as an identifier) and its
    submitted lines in order (their itemSequence is their line number), so each line gets its adjudication.
    A JSON Lines record answered in another process (the command line's --jobs, the service's workers) is still
    undecoded here: it is decoded now (a record that cannot be is an error result already)."""
    if getattr(rec, "line", None) is not None:
        try:
            rec.resolve()
        except Exception:  # noqa: BLE001 - its result says what is wrong with it; the response has no items then
            return None
    enc = getattr(rec, "encounter", None)
    if enc is None:
        return None
    out: dict = {"items": [(n, line.code) for n, line in enumerate(enc.claim or [], start=1)]}
    if enc.patient:
        out["patient"] = {"identifier": {"system": "urn:payerkb:patient", "value": enc.patient}}
    return out


def render(records: list, results: list[dict], today: dt.date | None = None) -> str:
    """One ClaimResponse (one record) or a Bundle of them (several), validated with fhir.resources, as JSON."""
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.claimresponse import ClaimResponse
    responses = [claim_response(res, rec.claim if isinstance(rec, FhirRecord) else _claim_of(rec), today) for rec, res in zip(records, results)]
    for r in responses:
        ClaimResponse.model_validate(r)
    if len(responses) == 1:
        return json.dumps(responses[0], indent=1) + "\n"
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in responses]}
    Bundle.model_validate(bundle)
    return json.dumps(bundle, indent=1) + "\n"
