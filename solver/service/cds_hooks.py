"""CDS Hooks for Da Vinci Coverage Requirements Discovery (CRD 2.2.1): `order-sign` and `appointment-book`.

`GET /cds-services` is the discovery document (one service per hook, each with prefetch templates for the
orders, Patient, Coverage and Conditions); `POST /cds-services/{id}` answers one hook call (the request is
read by solver/service/cds_orders.py, answered here):

- The orders are the ServiceRequests of `context.draftOrders` (order-sign) or the Appointments of
  `context.appointments` (appointment-book; an Appointment `basedOn` a ServiceRequest in the prefetch is
  answered on that ServiceRequest, as CRD asks). An order is a TPI when a CPT coding of its code (or of an
  Appointment's serviceType / appointmentType), or a CRD `ext-billing-options` code on it, is 20552 or
  20553; those are its candidate billing codes, and both when it names neither (the order does not say how
  many muscles). Diagnoses are the order's ICD-10-CM `reasonCode` codings, then the prefetched Conditions'
  (not refuted, not inactive / resolved). The date of service is `occurrence[x]` / `start`, else today.
- The earlier sessions are the prefetched Procedures (`procedures`: completed ones with a CPT coding and a
  performed date before the order's day), so the frequency rules are checked; when the prefetch is not sent,
  a card says the frequency limits were not checked.
- The payer comes from the prefetched Coverage (payor identifier or name, the plan class) through the
  deployment's payer map (solver/formats/payer_map.py). When nothing matches, or no Coverage was sent, a
  card says so and no coverage-information is asserted (CRD: it needs a Coverage; payerkb knows no other
  payer's rules).
- Each candidate code is checked as an encounter through `solver.service.deps.get_checker`: the injections
  are the order's `bodySite` muscles, or unnamed ones (1 for 20552, 3 for 20553), with no documentation:
  an order has no procedure note yet.

The answer, per CRD's "Coverage Information" response type (cards.md, resp-25: never a card): a
`systemActions` `update` of each TPI order with one `ext-coverage-information` repetition per candidate
code; nothing else on the resource changes (resp-37). Beside it, cards of CRD's "Instructions" kind: what
the note must show, what is not covered or needs review, with the citations as links; no TPI in the order;
payer not in the map; no Coverage. `davinci-crd.configuration` `coverage-info: false` drops the system
actions, `max-cards` limits the cards.

Mapping a result to the extension (one repetition per billing code; each finding by its category and its
rule's family):
- note-dependent: category `documentation`, or a rule of family documentation_required,
  injection_documentation, named_muscle_required, repeat_response or code_by_muscle_count (what only the
  procedure note can show: muscles named, injectate and dose, trigger points on exam, conservative
  therapy, pain scores, response to a prior TPI) -> `doc-needed` = clinical, `doc-purpose` = retain-doc,
  a `reason` "Documentation needed: ..." each. Never a denial.
- blocking: an error of category coverage or frequency that is not note-dependent and not for review
  (diagnosis not on the covered list, investigational diagnosis, a service not covered with a TPI,
  too many sessions) -> `covered` = not-covered, a `reason` "Not covered: ..." each.
- open: a finding marked `review`, an error of category diagnosis (no, invalid or unbillable diagnosis
  on the order), or, when the order carries no diagnosis at all, an error of the diagnosis families
  (diagnosis_list_required, diagnosis_excluded, diagnosis_region_match) -> `covered` = conditional, `info-needed` = OTH, a `reason` "Needs review: ..."
  / "Diagnosis needed: ..." each.
- anything else (coding: modifiers, units, bundling; warnings) does not change `covered`; a coverage
  warning is a `reason` "Note: ...". The GA/GZ liability modifier is a consequence of the note findings.
- otherwise `covered` = covered. A result the solver could not produce (`outcome: error`) is
  `covered` = indeterminate with reason `technical` (resp-43).
- `pa-needed` is never sent: payerkb encodes no prior-authorization rules. `billingCode` is the CPT code,
  `detail` a cat-other `policy-link` (value the citation's url, qualification its title and section) for
  each citation of the findings above, `coverage` the Coverage, `coverage-assertion-id` the decision id of
  the result, `date` the day the assertion was made.

Sources read (CRD 2.2.1, tag 2.2.1 of github.com/HL7/davinci-crd; published at
hl7.org/fhir/us/davinci-crd): input/fsh/extensions/CoverageInformation.fsh (the extension
http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information, its sub-extensions and
invariants crd-ci-q1..q9), input/fsh/valuesets/CoverageInformationValuesets.fsh and
codesystems/CoverageInformationCodes.fsh (covered, doc-needed, doc-purpose, info-needed, detail
categories), codesystems/CRDTempCodes.fsh (policy-link, technical), input/pagecontent/cards.md (response
types, resp-1..resp-49), StructureDefinition-ext-coverage-information-intro.md / -notes.md (doc-needed vs
info-needed), extensions/BillingOptions.fsh; and the examples CRDServices.json, CRDServiceRequest.json,
CRDServiceRequest3.json, CRDServiceResponse.json (input/resources/).
"""
from __future__ import annotations

import datetime as dt
import uuid

from fastapi import APIRouter, Body, Depends, HTTPException
from pydantic import ValidationError

from solver.encounter import Encounter
from solver.formats.payer_map import default_path
from solver.paths import POLICIES_DIR
from solver.service import cds_orders
from solver.service.cds_orders import CPT
from solver.service.deps import get_checker

CRD = "http://hl7.org/fhir/us/davinci-crd"
EXT_COVERAGE_INFORMATION = f"{CRD}/StructureDefinition/ext-coverage-information"
CRD_TEMP = f"{CRD}/CodeSystem/temp"
CARD_TYPE = "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"
TPI_CODES = ("20552", "20553")
UNNAMED_INJECTIONS = {"20552": 1, "20553": 3}  # 1-2 muscles, 3 or more
NOTE_FAMILIES = frozenset({"documentation_required", "injection_documentation", "named_muscle_required",
                           "repeat_response", "code_by_muscle_count"})
DIAGNOSIS_FAMILIES = frozenset({"diagnosis_list_required", "diagnosis_excluded", "diagnosis_region_match"})
BLOCKING_CATEGORIES = frozenset({"coverage", "frequency"})

_COMMON_PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "coverage": "Coverage?patient={{context.patientId}}&status=active",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
    "procedures": "Procedure?patient={{context.patientId}}&status=completed"
                  "&code=http://www.ama-assn.org/go/cpt|20552,http://www.ama-assn.org/go/cpt|20553",
}
SERVICES = [
    {"hook": "order-sign", "id": "payerkb-order-sign-crd",
     "title": "payerkb trigger point injection coverage requirements (order-sign)",
     "description": "Coverage and documentation requirements of the patient's payer for trigger point "
                    "injections (CPT 20552/20553) in the orders being signed.",
     "prefetch": {**_COMMON_PREFETCH,
                  "serviceRequests": "ServiceRequest?_id={{context.draftOrders.ServiceRequest.id}}"}},
    {"hook": "appointment-book", "id": "payerkb-appointment-book-crd",
     "title": "payerkb trigger point injection coverage requirements (appointment-book)",
     "description": "Coverage and documentation requirements of the patient's payer for trigger point "
                    "injections (CPT 20552/20553) in the appointments being booked.",
     "prefetch": {**_COMMON_PREFETCH,
                  "serviceRequests": "ServiceRequest?_id={{context.appointments.Appointment.basedOn.reference}}"}},
]
for _s in SERVICES:
    _s["extension"] = {"davinci-crd.version": ["2.2"],
                       "davinci-crd.configuration-options": [
                           {"code": "coverage-info", "type": "boolean", "name": "Coverage Information",
                            "description": "Coverage and documentation requirements on the order", "default": True},
                           {"code": "max-cards", "type": "integer", "name": "Maximum cards",
                            "description": "The most cards returned", "default": 10}]}
_BY_ID = {s["id"]: s for s in SERVICES}

router = APIRouter(tags=["CDS Hooks (Da Vinci CRD)"])


def _family(rule_id: str) -> str | None:
    fam = _FAMILIES.get(rule_id)
    if fam is None and not _FAMILIES:
        _FAMILIES.update({inst.rule.id: inst.rule.family for inst in cds_orders.policies().instances})
        fam = _FAMILIES.get(rule_id)
    return fam


_FAMILIES: dict[str, str] = {}


@router.get("/cds-services")
def discovery() -> dict:
    return {"services": SERVICES}


@router.post("/cds-services/{service_id}")
async def call(service_id: str, request: dict = Body(...), check=Depends(get_checker)) -> dict:
    service = _BY_ID.get(service_id)
    if service is None:
        raise HTTPException(404, f"no CDS service {service_id!r}; the services are {sorted(_BY_ID)} (GET /cds-services)")
    if request.get("hook") != service["hook"]:
        raise HTTPException(400, f"field 'hook' is {request.get('hook')!r}: service {service_id} answers {service['hook']!r}")
    context = request.get("context")
    if not isinstance(context, dict):
        raise HTTPException(400, "field 'context' must be an object (CDS Hooks 1.0)")
    prefetch = request.get("prefetch") if isinstance(request.get("prefetch"), dict) else {}
    config = ((request.get("extension") or {}).get("davinci-crd.configuration") or {}) if isinstance(request.get("extension"), dict) else {}
    key = "draftOrders" if service["hook"] == "order-sign" else "appointments"
    orders = cds_orders.orders(context.get(key), key, prefetch)
    return await _answer(orders, context, prefetch, config, check)


# --- answering ---------------------------------------------------------------------------------------
def _card(summary: str, detail: str, indicator: str, topic: str, label: str, links=(), about=()) -> dict:
    card = {"uuid": str(uuid.uuid4()), "summary": summary[:140], "detail": detail, "indicator": indicator,
            "source": {"label": label, "topic": {"system": CARD_TYPE, "code": topic}}}
    if links:
        card["links"] = list(links)
    if about:
        card["extension"] = {"davinci-crd.associated-resource": [{"reference": r} for r in about]}
    return card


async def _answer(orders: list[dict], context: dict, prefetch: dict, config: dict, check) -> dict:
    cards: list[dict] = []
    tpi, other = [], []
    for o in orders:
        codes = [c for c in TPI_CODES if c in cds_orders.order_codes(o["codes_from"])]
        seen = [c for c in cds_orders.order_codes(o["codes_from"], None) if c not in codes]
        if codes:
            tpi.append((o, codes))
        else:
            other.append((o, seen))
    if other:
        lines = [f"- {_ref(o['resource'])}: {', '.join(seen) or 'no code'}" for o, seen in other]
        cards.append(_card("No trigger point injection (CPT 20552/20553) in this order: payerkb states no coverage for it",
                           "payerkb encodes payer rules for trigger point injections only. Orders without 20552 or 20553:\n"
                           + "\n".join(lines), "info", "guideline", "payerkb", about=[_ref(o["resource"]) for o, _ in other]))
    if not tpi:
        return _finish(cards, [], config)
    coverage, payer, tried, label = cds_orders.payer_coverage(prefetch)
    about = [_ref(o["resource"]) for o, _ in tpi]
    if coverage is None:
        cards.append(_card("No active Coverage in the request: the payer's TPI requirements cannot be stated",
                           "The prefetch 'coverage' holds no active Coverage, and payerkb does not query the EHR's "
                           "FHIR server. Send the patient's Coverage to learn the payer's requirements.",
                           "warning", "insurance", "payerkb", about=about))
        return _finish(cards, [], config)
    if payer is None:
        cards.append(_card(f"No payer policy for {label}: its Coverage matches no entry of the payer map",
                           f"payerkb tried {', '.join(tried) or 'no identifier (the Coverage names no payor)'} against the "
                           f"payer map {default_path(POLICIES_DIR)}, and none matched, so no coverage is stated. Add the "
                           "payer's payor id, plan or name to that file (or to the file $PAYERKB_PAYER_MAP names).",
                           "warning", "insurance", label, about=about))
        return _finish(cards, [], config)
    jobs, problems = [], []
    for o, codes in tpi:
        res = o["resource"]
        for code in codes:
            dx = cds_orders.diagnoses(res, prefetch)
            day, bad_date = cds_orders.order_date(o["date_from"])
            if bad_date:
                problems.append(f"- {_ref(res)} ({code}): {bad_date}")
                continue
            data = {"id": f"{_ref(res)}#{code}"[:100], "payer": payer, "date_of_service": day,
                    "history": cds_orders.prior_sessions(prefetch, day) or [],
                    "patient": str(context.get("patientId"))[:100] if context.get("patientId") else None,
                    "injections": cds_orders.muscles(res) or [{}] * UNNAMED_INJECTIONS[code], "diagnoses": dx,
                    "claim": [{"code": code, "units": 1, "diagnoses": dx[:4]}]}
            try:
                jobs.append((o, code, Encounter.model_validate(data)))
            except ValidationError as exc:
                problems.append(f"- {_ref(res)} ({code}): " + "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3]))
    if problems:
        cards.append(_card("Some orders could not be checked: some of their values are out of bounds or unreadable",
                           "Correct these values and sign again:\n" + "\n".join(problems), "warning", "guideline", label))
    results = await check([enc for _, _, enc in jobs]) if jobs else []
    actions: dict[str, dict] = {}
    for (o, code, enc), result in zip(jobs, results):
        info = _coverage_information(result, code, coverage, bool(enc.diagnoses))
        key = _ref(o["resource"])
        if key not in actions:
            actions[key] = {"type": "update", "description": f"Coverage information for {key}",
                            "resource": {**o["resource"], "extension": [e for e in o["resource"].get("extension") or []
                                                                       if e.get("url") != EXT_COVERAGE_INFORMATION]}}
        actions[key]["resource"]["extension"].append(info["extension"])
        cards.append(_finding_card(key, code, payer, label, info))
    if jobs and "procedures" not in prefetch:
        cards.append(_card("Frequency limits not checked: the patient's earlier trigger point injections were not sent",
                           "The request has no prefetch 'procedures', and payerkb does not query the EHR's FHIR server, "
                           f"so the payer's session limits for {label} were checked as if this were the first session. "
                           "Send the patient's completed Procedures (CPT 20552/20553) to have them checked.",
                           "info", "guideline", "payerkb", about=list(dict.fromkeys(_ref(o["resource"]) for o, _, _ in jobs))))
    return _finish(cards, list(actions.values()), config)


def _ref(res: dict) -> str:
    return f"{res.get('resourceType')}/{res.get('id')}"


def _finish(cards: list[dict], actions: list[dict], config: dict) -> dict:
    limit = config.get("max-cards")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0:
        cards = cards[:limit]
    out = {"cards": cards}
    if actions and config.get("coverage-info", True) is not False:
        out["systemActions"] = actions
    return out


def _kind(f: dict, diagnosed: bool) -> str | None:
    """note | blocking | open | diagnosis | warning | None (coding guidance): see the module docstring."""
    family = _family(f.get("rule", ""))
    if f.get("category") == "documentation" or family in NOTE_FAMILIES:
        return "note" if f.get("severity") == "error" else None
    if f.get("review"):
        return "open"
    if not diagnosed and family in DIAGNOSIS_FAMILIES and f.get("severity") == "error":
        return "diagnosis"  # an order without a diagnosis is not denied for it: the diagnosis is asked for
    if f.get("severity") == "error" and f.get("category") in BLOCKING_CATEGORIES:
        return "blocking"
    if f.get("severity") == "error" and f.get("category") == "diagnosis":
        return "diagnosis"
    if f.get("severity") == "warning" and f.get("category") in BLOCKING_CATEGORIES:
        return "warning"
    return None


_PREFIX = {"blocking": "Not covered", "open": "Needs review", "diagnosis": "Diagnosis needed",
           "note": "Documentation needed", "warning": "Note"}


def _sub(url: str, kind: str, value) -> dict:
    return {"url": url, kind: value}


def _coverage_information(result: dict, code: str, coverage: dict, diagnosed: bool) -> dict:
    """The ext-coverage-information repetition for one billing code, with the findings it rests on."""
    findings = result.get("findings") or []
    kinds = [(k, f) for f in findings for k in [_kind(f, diagnosed)] if k]
    present = {k for k, _ in kinds}
    reasons: list[dict] = []
    if result.get("outcome") == "error":
        covered = "indeterminate"
        why = "; ".join(e.get("message", "") for e in result.get("errors") or [])[:500]
        reasons.append({"coding": [{"system": CRD_TEMP, "code": "technical", "display": "Technical issues"}],
                        "text": f"payerkb could not answer this order: {why}"})
    else:
        covered = "not-covered" if "blocking" in present else "conditional" if present & {"open", "diagnosis"} else "covered"
    ext = [_sub("coverage", "valueReference", {"reference": _ref(coverage)}), _sub("covered", "valueCode", covered)]
    if "note" in present:
        ext += [_sub("doc-needed", "valueCode", "clinical"), _sub("doc-purpose", "valueCode", "retain-doc")]
    if covered == "conditional":
        ext.append(_sub("info-needed", "valueCode", "OTH"))
    ext.append(_sub("billingCode", "valueCoding", {"system": CPT, "code": code}))
    order = ["blocking", "open", "diagnosis", "note", "warning"]
    kinds.sort(key=lambda kf: order.index(kf[0]))
    reasons += [{"text": f"{_PREFIX[k]}: {f['message']} ({f['rule']})"} for k, f in kinds]
    ext += [_sub("reason", "valueCodeableConcept", r) for r in reasons]
    seen: set[str] = set()
    for _, f in kinds:
        for c in f.get("citations") or []:
            url = c.get("url")
            if not url or url in seen:
                continue
            seen.add(url)
            title = " ".join(str(x) for x in (c.get("title"), c.get("section") and f"section {c['section']}") if x)
            ext.append({"url": "detail", "extension": [
                _sub("category", "valueCode", "cat-other"),
                _sub("code", "valueCodeableConcept", {"coding": [{"system": CRD_TEMP, "code": "policy-link", "display": "Policy Link"}]}),
                _sub("value", "valueUrl", url),
                _sub("qualification", "valueString", f"{title} (for {f['rule']})"[:1000])]})
    decision = result.get("decision") or {}
    when = str(decision.get("time") or dt.date.today().isoformat())[:10]
    ext += [_sub("date", "valueDate", when),
            _sub("coverage-assertion-id", "valueString", str(decision.get("id") or "")),]
    return {"extension": {"url": EXT_COVERAGE_INFORMATION, "extension": ext}, "covered": covered,
            "kinds": kinds, "reasons": reasons, "id": decision.get("id")}


def _finding_card(key: str, code: str, payer: str, label: str, info: dict) -> dict:
    """An Instructions card: what the note must show, what is not covered or open, with links."""
    kinds, covered = info["kinds"], info["covered"]
    notes = [f for k, f in kinds if k == "note"]
    if covered == "not-covered":
        first = next(f for k, f in kinds if k == "blocking")
        summary, indicator = f"{code} not covered by {label}: {first['message']}", "warning"
    elif covered == "conditional":
        summary, indicator = f"{code} for {label}: coverage depends on points to review or a diagnosis", "info"
    elif covered == "indeterminate":
        summary, indicator = f"{code} for {label}: payerkb could not answer this order", "warning"
    elif notes:
        summary, indicator = f"{code} covered by {label} when the procedure note documents {len(notes)} requirement(s)", "info"
    else:
        summary, indicator = f"{code} covered by {label}: no further requirement found", "info"
    lines = [f"Payer policy {payer}, coverage assertion {info['id']}."]
    lines += [f"- {r['text']}" for r in info["reasons"]]
    links, seen = [], set()
    for _, f in kinds:
        for c in f.get("citations") or []:
            if c.get("url") and c["url"] not in seen:
                seen.add(c["url"])
                links.append({"label": str(c.get("title") or c["url"])[:200], "url": c["url"], "type": "absolute"})
    return _card(summary, "\n".join(lines), indicator, "claim", label, links, [key])
