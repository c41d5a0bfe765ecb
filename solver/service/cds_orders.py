"""Reading a CDS Hooks call (Da Vinci CRD 2.2.1) for solver/service/cds_hooks.py: the orders of the hook's
context (an Appointment based on a prefetched ServiceRequest is read as that ServiceRequest), their CPT codes
and CRD billing options, ICD-10-CM reasons and prefetched Conditions, the date of service, the bodySite
muscles, the earlier sessions from prefetched Procedures, and the payer from the prefetched Coverage through
the deployment's payer map."""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from fastapi import HTTPException

from solver.formats.payer_map import PayerMap, default_path
from solver.paths import KB_DIR, POLICIES_DIR
from solver.policy import load_policies

CRD = "http://hl7.org/fhir/us/davinci-crd"
EXT_BILLING_OPTIONS = f"{CRD}/StructureDefinition/ext-billing-options"
CPT = "http://www.ama-assn.org/go/cpt"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


@lru_cache(maxsize=1)
def policies():
    return load_policies(POLICIES_DIR, KB_DIR)


@lru_cache(maxsize=4)
def payer_map(path: str) -> PayerMap:
    return PayerMap.load(Path(path), set(policies().payers))



def resources(value) -> list[dict]:
    """The resources of a Bundle, of a list, or the one resource given."""
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        return [e["resource"] for e in value.get("entry") or [] if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    if isinstance(value, dict) and value.get("resourceType"):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def orders(bundle, key: str, prefetch: dict) -> list[dict]:
    if bundle is None:
        raise HTTPException(400, f"field 'context.{key}' is missing: a Bundle of the {key} is required")
    if not isinstance(bundle, (dict, list)) or (isinstance(bundle, dict) and not bundle.get("resourceType")):
        raise HTTPException(400, f"field 'context.{key}' must be a FHIR Bundle of the {key} (an object with resourceType "
                                 f"Bundle), not {type(bundle).__name__ if not isinstance(bundle, dict) else 'an object without resourceType'}")
    requests = {f"ServiceRequest/{r.get('id')}": r for r in resources(prefetch.get("serviceRequests")) if r.get("resourceType") == "ServiceRequest"}
    out = []
    for res in resources(bundle):
        if res.get("resourceType") == "Appointment":
            based = [requests[ref] for ref in (ref_tail(b) for b in res.get("basedOn") or []) if ref in requests]
            if based:  # CRD: an Appointment based on a ServiceRequest is answered on the ServiceRequest
                out += [{"resource": sr, "codes_from": sr, "date_from": res} for sr in based]
                continue
        out.append({"resource": res, "codes_from": res, "date_from": res})
    return out


def ref_tail(ref) -> str:
    parts = str((ref or {}).get("reference") or "").split("/")
    return "/".join(parts[-2:])


def codings(concepts) -> list[dict]:
    out = []
    for cc in concepts:
        if isinstance(cc, dict):
            out += [c for c in cc.get("coding") or [] if isinstance(c, dict)]
            for ext in cc.get("extension") or []:
                if isinstance(ext, dict) and ext.get("url") == EXT_BILLING_OPTIONS:
                    out += codings([ext.get("valueCodeableConcept")])
    return out


def order_codes(res: dict, system: str | None = CPT) -> list[str]:
    """The codes of an order (of one system, or of all when system is None), with its billing options."""
    concepts = [res.get("code"), res.get("appointmentType")] + list(res.get("serviceType") or [])
    return [str(c.get("code")) for c in codings(concepts) if c.get("code") and system in (None, c.get("system"))]


def diagnoses(res: dict, prefetch: dict) -> list[str]:
    concepts = list(res.get("reasonCode") or [])
    for cond in resources(prefetch.get("conditions")):
        status = {c.get("code") for c in codings([cond.get("clinicalStatus"), cond.get("verificationStatus")])}
        if cond.get("resourceType") == "Condition" and not status & {"inactive", "resolved", "remission", "refuted", "entered-in-error"}:
            concepts.append(cond.get("code"))
    out: list[str] = []
    for c in codings(concepts):
        code = str(c.get("code") or "")
        if c.get("system") == ICD10CM and code and code not in out:
            out.append(code)
    return out[:12]


def _date_fields(res: dict) -> list[tuple[str, object]]:
    timing = (res.get("occurrenceTiming") or {}).get("event") or [None]
    requested = (res.get("requestedPeriod") or [{}])[0] or {}
    return [("occurrenceDateTime", res.get("occurrenceDateTime")), ("occurrencePeriod.start", (res.get("occurrencePeriod") or {}).get("start")),
            ("occurrenceTiming.event.0", timing[0] if isinstance(timing, list) and timing else None), ("start", res.get("start")),
            ("requestedPeriod.0.start", requested.get("start") if isinstance(requested, dict) else None)]


def order_date(res: dict) -> tuple[dt.date | None, str | None]:
    """The order's date of service: the first of occurrence[x] / start / requestedPeriod it gives, else today
    (an order being signed is for now). (None, the problem) when the first it gives is no date: an impossible
    date is never replaced by today's in silence."""
    for field, value in _date_fields(res):
        if value is None:
            continue
        try:
            return dt.date.fromisoformat(str(value)[:10]), None
        except ValueError:
            return None, f"{field}: {str(value)[:40]!r} is not a date; give an ISO date such as 2024-06-10"
    return dt.date.today(), None


def muscles(res: dict) -> list[dict]:
    out = []
    for site in res.get("bodySite") or []:
        text = (site or {}).get("text") or next((c.get("display") for c in codings([site]) if c.get("display")), None)
        if text:
            out.append({"muscle": str(text)[:200]})
    return out


PROCEDURE_STATUSES_LEFT_OUT = frozenset({"not-done", "entered-in-error", "preparation", "in-progress", "stopped"})
MAX_SESSIONS = 100  # the most recent earlier sessions an order is checked with


def prior_sessions(prefetch: dict, day: dt.date) -> list[dict] | None:
    """The earlier sessions of the prefetched Procedures (`procedures`) before the day of the order, latest
    first: a CPT coding, a performed date, the bodySite muscles. None when the prefetch was not sent (the
    frequency rules then cannot be checked, and the answer says so); a Procedure not done, in error, with no
    CPT coding or no date is left out."""
    if "procedures" not in prefetch:
        return None
    out = []
    for proc in resources(prefetch.get("procedures")):
        if proc.get("resourceType") != "Procedure" or proc.get("status") in PROCEDURE_STATUSES_LEFT_OUT:
            continue
        codes = order_codes(proc)
        performed = proc.get("performedDateTime") or (proc.get("performedPeriod") or {}).get("start")
        try:
            when = dt.date.fromisoformat(str(performed)[:10])
        except ValueError:
            continue
        if not codes or when >= day:
            continue
        names = [m["muscle"] for m in muscles(proc)]
        out.append({"date": when, "code": codes[0], **({"muscles": names} if names else {})})
    out.sort(key=lambda h: h["date"], reverse=True)
    return out[:MAX_SESSIONS]


def payer_coverage(prefetch: dict) -> tuple[dict | None, str | None, list[str], str]:
    """(Coverage, payer id, identifiers tried, payer label) for the first active Coverage that maps."""
    path = default_path(POLICIES_DIR)
    pmap = payer_map(str(path))
    first, tried, label = None, [], ""
    for cov in resources(prefetch.get("coverage")):
        if cov.get("resourceType") != "Coverage" or cov.get("status") not in (None, "active"):
            continue
        first = first or cov
        plans = [cl.get("value") for cl in cov.get("class") or []
                 if "plan" in {c.get("code") for c in codings([cl.get("type")])}] or [None]
        for payor in cov.get("payor") or []:
            ident = (payor.get("identifier") or {}).get("value")
            name = payor.get("display")
            label = label or name or ""
            for plan in plans:
                tried += [f"{k} {v!r}" for k, v in (("payor_id", ident), ("plan", plan), ("name", name)) if v]
                found = pmap.resolve(payor_id=ident, plan=plan, name=name)
                if found:
                    return cov, found, tried, name or found
    return first, None, tried, label or "the payer"


