"""FHIR R4 in: a Claim, or a Bundle of Claims, becomes contract-v1 encounters (one a Claim, in input order).

Recognised by a top-level `resourceType`. Each Claim is validated with fhir.resources (R4B models); one it
rejects is a record with the problems naming the field. Then:

- item[] -> claim lines: productOrService (a CPT or HCPCS coding), modifier[], quantity (units),
  diagnosisSequence (pointers into diagnosis[]); an E/M item is also the encounter's evaluation and any
  other non-TPI item one of its other procedures (the claim is all a FHIR sender documents of them).
- diagnosis[] (in sequence order) -> diagnoses: diagnosisCodeableConcept, or diagnosisReference to a Condition
  (contained in the Claim, or an entry of its Bundle) whose code is read; ICD-10-CM codings only; ICD-9-CM, WHO ICD-10 or a coding
  without a system is a problem naming the field.
- the date of service: the items' servicedDate / servicedPeriod.start, else billablePeriod.start.
- the payer: Claim.insurer (identifier, display, a contained or Bundle Organization's name) and the focal
  Coverage (payor identifier and display, class plan and group) through the deployment's payer map; no
  match is a problem listing what was tried.
- the note: supportingInfo coded with urn:payerkb:tpi-documentation (solver/formats/fhir_note.py). A Claim
  with none carries no note: the encounter says so (procedure_note: false), the claim's lines stand for the
  services, and the answer names every check that needs the note (claim.note-needed).

A Bundle entry that is not a Claim is skipped when a Claim of the Bundle references it (Coverage, Patient,
Organization), else it is a record of its own saying it is not a claim; any other resource (a Coverage or
ClaimResponse on its own) is one record saying so. Nothing is dropped.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import yaml
from pydantic import ValidationError

from solver.encounter import MAX_ID, MODIFIER, PROCEDURE_CODE, Encounter
from solver.errors import PolicyError, Problem, pydantic_problems
from solver.formats.fhir_note import SYSTEM as NOTE_SYSTEM, note_code, read_note
from solver.formats.payer_map import PayerMap, default_path
from solver.reading import Record, json_int

CPT_SYSTEMS = {"http://www.ama-assn.org/go/cpt", "urn:oid:2.16.840.1.113883.6.12"}
HCPCS_SYSTEMS = {"https://bluebutton.cms.gov/resources/codesystem/hcpcs", "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
                 "urn:oid:2.16.840.1.113883.6.285"}
ICD10CM_SYSTEMS = {"http://hl7.org/fhir/sid/icd-10-cm", "urn:oid:2.16.840.1.113883.6.90"}
ICD9_SYSTEMS = {"http://hl7.org/fhir/sid/icd-9-cm", "urn:oid:2.16.840.1.113883.6.103", "urn:oid:2.16.840.1.113883.6.104"}
WHO_ICD10 = {"http://hl7.org/fhir/sid/icd-10", "urn:oid:2.16.840.1.113883.6.3"}
_RESOURCE = re.compile(rb'"resourceType"\s*:')
WHAT_TO_SEND = "payerkb checks a FHIR Claim or a Bundle of Claims"


@dataclass
class FhirRecord(Record):
    """A Record read from a FHIR Claim, with what a ClaimResponse must say back (fhir_response.py)."""

    claim: dict | None = None  # {"id", "patient", "insurer", "type", "use", "items": [sequence, ...]}
    resource: str | None = None  # the resourceType when the record is not a Claim


def sniff(data: bytes, source: str) -> bool:
    if source.endswith((".jsonl", ".ndjson")) or not data.lstrip().startswith(b"{") or not _RESOURCE.search(data):
        return False
    try:
        parsed = json.loads(data, parse_int=json_int)
    except (ValueError, RecursionError):
        return False
    return isinstance(parsed, dict) and isinstance(parsed.get("resourceType"), str)


def _pairs(items: list) -> dict:
    data = dict(items)
    if len(data) != len(items):
        seen, twice = set(), []
        for k, _v in items:
            if k in seen:
                twice.append(k)
            seen.add(k)
        data["\x00twice"] = twice
    return data


def _twice(node, path="") -> list[tuple[str, str]]:
    out = []
    if isinstance(node, dict):
        for k in node.get("\x00twice", []):
            out.append((path or "(resource)", k))
        for k, v in node.items():
            if k != "\x00twice":
                out += _twice(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _twice(v, f"{path}.{i}")
    return out


def records(data: bytes, source: str) -> Iterator[Record]:
    try:
        top = json.loads(data.decode("utf-8"), object_pairs_hook=_pairs, parse_int=json_int)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        yield FhirRecord(source, 1, None, problems=[Problem(source, "(resource)", f"not a readable FHIR JSON resource ({exc.__class__.__name__}); fix the file")])
        return
    kind = top.get("resourceType")
    if kind == "Bundle":
        yield from _bundle(top, source)
    elif kind == "Claim":
        yield _claim(top, source, 1, "", {})
    else:
        rid = f"{kind}/{top.get('id')}" if top.get("id") else None
        yield FhirRecord(source, 1, _short(rid), resource=str(kind), problems=[Problem(source, "resourceType", f"a FHIR {kind} is not a claim; "
                         f"{WHAT_TO_SEND} (a Coverage goes inside the Claim's Bundle, or in Claim.contained)", _label(1, rid))])


def line_record(line: bytes, source: str, index: int) -> Record | None:
    """One line of NDJSON holding a FHIR resource (FHIR Bulk Data's form: one resource a line) as a record of
    that line: a Claim read as from a file of its own (its Conditions and Coverage contained in it), another
    resource an error naming its line. None for a line that is no FHIR resource (a contract-v1 encounter that
    only mentions the word): the JSON Lines reader reads it, with its own errors."""
    if not _RESOURCE.search(line):
        return None
    try:
        top = json.loads(line.decode("utf-8"), object_pairs_hook=_pairs, parse_int=json_int)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(top, dict) or not isinstance(top.get("resourceType"), str):
        return None
    kind = top["resourceType"]
    if kind == "Claim":
        rec = _claim(top, source, index, "", {}, "line")
    else:
        rid = _short(f"{kind}/{top.get('id')}") if top.get("id") else None
        rec = FhirRecord(source, index, rid, resource=kind, problems=[Problem(source, "resourceType", f"a FHIR {kind} is not a claim; payerkb "
                         "checks a FHIR Claim on each line of NDJSON (its Coverage and Conditions in Claim.contained): remove this line",
                         _label(index, rid, "line"))])
    rec.json_lines = True
    return rec


def _label(index: int, rid: str | None, kind: str = "record") -> str:
    return f"{kind} {index}" + (f" (id {rid})" if rid else "")


def _short(text: str | None) -> str | None:
    return text if text and len(text) <= MAX_ID else None


def _bundle(top: dict, source: str) -> Iterator[Record]:
    entries = top.get("entry") or []
    if not isinstance(entries, list) or not entries:
        yield FhirRecord(source, 1, None, resource="Bundle", problems=[Problem(source, "entry", f"the Bundle has no entries; {WHAT_TO_SEND}")])
        return
    resources: dict[str, dict] = {}
    for e in entries:
        res = e.get("resource") if isinstance(e, dict) else None
        if isinstance(res, dict) and res.get("resourceType") and res.get("id"):
            resources[f"{res['resourceType']}/{res['id']}"] = res
            if e.get("fullUrl"):
                resources[str(e["fullUrl"])] = res
    referenced = {ref for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)
                  and e["resource"].get("resourceType") == "Claim" for ref in _references(e["resource"])}
    for n, e in enumerate(entries, start=1):
        res = e.get("resource") if isinstance(e, dict) else None
        at = f"entry.{n - 1}.resource"
        if not isinstance(res, dict):
            yield FhirRecord(source, n, None, problems=[Problem(source, at, "the entry has no resource; give each entry a resource", _label(n, None))])
            continue
        kind = res.get("resourceType")
        if kind == "Claim":
            yield _claim(res, source, n, at + ".", resources)
            continue
        keys = {f"{kind}/{res.get('id')}", str(e.get("fullUrl"))}
        if keys & referenced:
            continue  # a resource a Claim uses (its Coverage, Patient, insurer)
        rid = f"{kind}/{res.get('id')}" if res.get("id") else None
        yield FhirRecord(source, n, _short(rid), resource=str(kind), problems=[Problem(source, f"{at}.resourceType", f"a {kind} that no Claim of the "
                         f"Bundle references is not a claim; {WHAT_TO_SEND}: remove the entry or reference it from its Claim", _label(n, rid))])


def _references(node) -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            out.add(ref)
        for v in node.values():
            out |= _references(v)
    elif isinstance(node, list):
        for v in node:
            out |= _references(v)
    return out


class _Claim:
    """The mapping of one Claim; problems are collected with FHIR field paths."""

    def __init__(self, res: dict, source: str, index: int, prefix: str, resources: dict, kind: str = "record"):
        self.res, self.source, self.prefix, self.resources = res, source, prefix, resources
        self.rid = _short(str(res["id"])) if res.get("id") else None
        ident = (res.get("identifier") or [{}])[0].get("value") if isinstance(res.get("identifier"), list) else None
        self.enc_id = self.rid or _short(str(ident) if ident else None) or f"{source}#{index}"
        self.label = _label(index, self.rid or self.enc_id, kind)
        self.problems: list[Problem] = []

    def problem(self, field: str, message: str) -> None:
        self.problems.append(Problem(self.source, self.prefix + field, message, self.label))

    def resolve(self, ref: dict | None) -> dict | None:
        text = (ref or {}).get("reference")
        if not isinstance(text, str):
            return None
        if text.startswith("#"):
            return next((c for c in self.res.get("contained") or [] if c.get("id") == text[1:]), None)
        return self.resources.get(text)


def _claim(res: dict, source: str, index: int, prefix: str, resources: dict, kind: str = "record") -> Record:
    c = _Claim(res, source, index, prefix, resources, kind)
    rec = FhirRecord(source, index, c.rid or c.enc_id, claim=_echo(res))
    for path, key in _twice(res):
        c.problem(path, f"key {key!r} is given more than once; keep one")
    if not c.problems:
        c.problems += _fhir_problems(res, source, prefix, c.label)
    if c.problems:
        rec.problems = c.problems
        return rec
    enc = _encounter(c)
    if c.problems:
        rec.problems = c.problems
        return rec
    try:
        rec.encounter = Encounter.model_validate(enc)
    except ValidationError as exc:
        rec.problems = pydantic_problems(exc, source, c.label, prefix="(encounter from the Claim)")
    return rec


def _fhir_problems(res: dict, source: str, prefix: str, label: str) -> list[Problem]:
    from fhir.resources.R4B.claim import Claim
    try:
        Claim.model_validate(res)
    except ValidationError as exc:
        return [Problem(p.file, prefix + p.field, p.message + " (FHIR R4 Claim)", label) for p in pydantic_problems(exc, source, label)]
    except (ValueError, TypeError, RecursionError) as exc:
        return [Problem(source, prefix.rstrip(".") or "(resource)", f"not a valid FHIR R4 Claim ({exc})", label)]
    return []


def _echo(res: dict) -> dict:
    items = [[i.get("sequence"), next((str(c.get("code")).upper() for c in _codes(i.get("productOrService")) if c.get("code")), None)]
             for i in res.get("item") or [] if isinstance(i, dict)]
    return {"id": res.get("id"), "patient": res.get("patient"), "insurer": res.get("insurer"), "type": res.get("type"),
            "use": res.get("use") or "claim", "items": items, "identifier": res.get("identifier")}


# --- the encounter ---------------------------------------------------------------------------------
def _codes(concept: dict | None) -> list[dict]:
    return [c for c in (concept or {}).get("coding") or [] if isinstance(c, dict)]


def _diagnoses(c: _Claim) -> dict[int, str]:
    """sequence -> ICD-10-CM code, in sequence order."""
    out: dict[int, str] = {}
    for i, d in sorted(enumerate(c.res.get("diagnosis") or []), key=lambda x: x[1].get("sequence", 0)):
        at = f"diagnosis.{i}.diagnosisCodeableConcept"
        if "diagnosisCodeableConcept" in d:
            concept = d["diagnosisCodeableConcept"]
        elif "diagnosisReference" in d:  # a Condition, contained in the Claim or an entry of its Bundle: its code
            at = f"diagnosis.{i}.diagnosisReference"
            cond = c.resolve(d["diagnosisReference"])
            if not isinstance(cond, dict) or cond.get("resourceType") != "Condition":
                ref = (d["diagnosisReference"] or {}).get("reference") if isinstance(d["diagnosisReference"], dict) else None
                c.problem(at, f"the reference {ref!r} names no Condition contained in the Claim or in its Bundle; "
                              "contain the Condition, add it to the Bundle, or give diagnosisCodeableConcept")
                continue
            concept, at = cond.get("code"), f"{at} (Condition {cond.get('id')!r}).code"
        else:
            c.problem(f"diagnosis.{i}", "give diagnosisCodeableConcept with an ICD-10-CM coding, or a diagnosisReference to a Condition")
            continue
        codings = _codes(concept)
        cm = [x for x in codings if x.get("system") in ICD10CM_SYSTEMS]
        if cm:
            out[d["sequence"]] = str(cm[0].get("code"))
            continue
        systems = sorted({str(x.get("system")) for x in codings if x.get("system")})
        shown = ", ".join(f"{x.get('code')!r}" + (f" ({x.get('system')})" if x.get("system") else " (no system)") for x in codings) or "no coding"
        if set(systems) & ICD9_SYSTEMS:
            why = "ICD-9-CM: claims on or after 2015-10-01 need ICD-10-CM"
        elif set(systems) & WHO_ICD10:
            why = "WHO ICD-10, not ICD-10-CM"
        else:
            why = "not ICD-10-CM"
        c.problem(f"{at}.coding", f"{shown} is {why}; give a coding with system http://hl7.org/fhir/sid/icd-10-cm")
    return out


def _service_date(c: _Claim) -> str | None:
    dates = []
    for i, item in enumerate(c.res.get("item") or []):
        day = item.get("servicedDate") or (item.get("servicedPeriod") or {}).get("start")
        if day:
            dates.append((str(day)[:10], i))
    days = sorted({d for d, _ in dates})
    if len(days) > 1:
        c.problem("item", f"the items have different dates of service ({', '.join(days)}); a check is for one day: send one Claim a day")
        return None
    if days:
        return days[0]
    start = (c.res.get("billablePeriod") or {}).get("start")
    if start:
        return str(start)[:10]
    c.problem("item.0.servicedDate", "no date of service: give item.servicedDate (or servicedPeriod, or Claim.billablePeriod.start)")
    return None


def _procedure(c: _Claim, item: dict, at: str) -> str | None:
    codings = _codes(item.get("productOrService"))
    ours = [x for x in codings if x.get("system") in CPT_SYSTEMS | HCPCS_SYSTEMS]
    if ours and PROCEDURE_CODE.match(str(ours[0].get("code", "")).upper()):
        return str(ours[0]["code"]).upper()
    shown = ", ".join(f"{x.get('code')!r}" + (f" ({x.get('system')})" if x.get("system") else " (no system)") for x in codings) or "no coding"
    c.problem(f"{at}.productOrService", f"{shown} is not a CPT/HCPCS code; payerkb checks trigger point injection claims (CPT 20552/20553 "
                                        "and the services billed with them): give a coding with system http://www.ama-assn.org/go/cpt")
    return None


def _modifiers(c: _Claim, item: dict, at: str) -> list[str]:
    out = []
    for j, m in enumerate(item.get("modifier") or []):
        code = next((str(x.get("code")) for x in _codes(m) if x.get("code")), None) or m.get("text")
        if code and MODIFIER.match(str(code).upper()):
            out.append(str(code).upper())
        else:
            c.problem(f"{at}.modifier.{j}", f"{code!r} is not a CPT/HCPCS modifier (two characters, e.g. 59 or XS)")
    return out


def _units(c: _Claim, item: dict, at: str) -> int:
    value = (item.get("quantity") or {}).get("value", 1)
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not number or value != int(value) or value < 1:  # a number too long to read is kept as its text (json_int)
        shown = f"{value}" if number else repr(value)
        c.problem(f"{at}.quantity.value", f"{shown[:40]}{'...' if len(shown) > 40 else ''} is not a whole number of units of at least 1")
        return 1
    return int(value)


def _encounter(c: _Claim) -> dict:
    groups = _code_groups()
    diagnoses = _diagnoses(c)
    day = _service_date(c)
    payer = _payer(c)
    note = read_note(c.res.get("supportingInfo") or [], "supportingInfo", c.problem)
    has_note = any(note_code(i) for i in c.res.get("supportingInfo") or [])
    lines, evaluation, others = [], None, []
    for i, item in enumerate(c.res.get("item") or []):
        at = f"item.{i}"
        code = _procedure(c, item, at)
        modifiers, units = _modifiers(c, item, at), _units(c, item, at)
        if "diagnosisLinkId" in item:
            c.problem(f"{at}.diagnosisLinkId", "diagnosisLinkId is not an R4 Claim field; use diagnosisSequence")
        pointers = []
        for j, seq in enumerate(item.get("diagnosisSequence") or []):
            if seq in diagnoses:
                pointers.append(diagnoses[seq])
            elif not any(d.get("sequence") == seq for d in c.res.get("diagnosis") or []):
                c.problem(f"{at}.diagnosisSequence.{j}", f"no diagnosis has sequence {seq}; point at a diagnosis[].sequence")
        if code is None:
            continue
        lines.append({"code": code, "modifiers": modifiers, "units": units, "diagnoses": pointers})
        if code in groups.get("tpi", []) or code in groups.get("dry_needling", []):
            pass  # the injections are the note's (supportingInfo); without it the claim's lines stand for them
        elif code in groups.get("evaluation", []) and evaluation is None:
            evaluation = {"code": code, "separately_identifiable": bool(note.get("em_separately_identifiable"))}
        else:
            others.append({"code": code, "units": units})
    if not c.res.get("item"):
        c.problem("item", "the Claim has no items; give the services billed (CPT 20552/20553 for trigger point injections)")
    enc = {"id": c.enc_id, "payer": payer, "date_of_service": day, "diagnoses": list(diagnoses.values()), "claim": lines,
           "injections": note.get("injections") or [], "other_procedures": others, "procedure_note": has_note,
           "documentation": note.get("documentation", {}), "history": note.get("history", [])}
    if evaluation:
        enc["evaluation"] = evaluation
    patient = (c.res.get("patient") or {}).get("reference")
    if isinstance(patient, str) and len(patient) <= MAX_ID and not patient.startswith("#"):
        enc["patient"] = patient
    return enc


# --- the payer -------------------------------------------------------------------------------------
def _payer(c: _Claim) -> str | None:
    tried: list[tuple[str, str, str]] = []  # (key, value, where)
    insurer = c.res.get("insurer") or {}
    if (insurer.get("identifier") or {}).get("value"):
        tried.append(("payor_id", str(insurer["identifier"]["value"]), "insurer.identifier"))
    if insurer.get("display"):
        tried.append(("name", str(insurer["display"]), "insurer.display"))
    org = c.resolve(insurer)
    if org and org.get("name"):
        tried.append(("name", str(org["name"]), f"insurer ({insurer.get('reference')}).name"))
    insurance = c.res.get("insurance") or []
    focal = next((x for x in insurance if x.get("focal")), insurance[0] if insurance else {})
    cov = c.resolve(focal.get("coverage"))
    ref = (focal.get("coverage") or {}).get("reference")
    if cov:
        for k, p in enumerate(cov.get("payor") or []):
            if (p.get("identifier") or {}).get("value"):
                tried.append(("payor_id", str(p["identifier"]["value"]), f"{ref} payor.{k}.identifier"))
            if p.get("display"):
                tried.append(("name", str(p["display"]), f"{ref} payor.{k}.display"))
            porg = c.resolve(p)
            if porg and porg.get("name"):
                tried.append(("name", str(porg["name"]), f"{ref} payor.{k} ({p.get('reference')}).name"))
        for k, cl in enumerate(cov.get("class") or []):
            kinds = {x.get("code") for x in _codes(cl.get("type"))}
            if kinds & {"plan", "group"} and cl.get("value"):
                tried.append(("plan", str(cl["value"]), f"{ref} class.{k} ({'/'.join(sorted(kinds))})"))
    try:
        pmap = _payer_map()
    except PolicyError as exc:
        c.problem("insurer", "the payer map cannot be read: " + "; ".join(str(p) for p in exc.problems))
        return None
    order = {"payor_id": 0, "plan": 1, "name": 2}
    for key, value, _where in sorted(tried, key=lambda t: order[t[0]]):
        found = pmap.resolve(**{key: value})
        if found:
            return found
    shown = "; ".join(f"{key} {value!r} from {where}" for key, value, where in tried) or "nothing: the Claim has no insurer identifier or display"
    unresolved = "" if cov or not ref else f" ({ref} is not in the Claim's contained resources or its Bundle)"
    c.problem("insurer", f"no payer of the payer map {pmap.source} matches; tried {shown}{unresolved}. Add the payor identifier, plan "
                         "or name to the payer map (policies/payer-map.yaml, or the file $PAYERKB_PAYER_MAP names) under the payerkb "
                         "payer it is (see `payerkb policy list`)")
    return None


def _policies_dir() -> Path:
    from solver import paths
    return paths.POLICIES_DIR


@lru_cache(maxsize=4)
def _load_map(path: str, payers: tuple[str, ...]) -> PayerMap:
    return PayerMap.load(Path(path), set(payers))


def _payer_map() -> PayerMap:
    root = _policies_dir()
    payers = tuple(sorted(p.stem for p in (root / "payers").glob("*.yaml")))
    return _load_map(str(default_path(root)), payers)


@lru_cache(maxsize=4)
def _groups_of(path: str) -> dict[str, list[str]]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return {name: [str(x) for x in g.get("codes", [])] for name, g in (data.get("code_groups") or {}).items() if isinstance(g, dict)}


def _code_groups() -> dict[str, list[str]]:
    return _groups_of(str(_policies_dir() / "tables" / "code-groups.yaml"))


__all__ = ["sniff", "records", "FhirRecord", "NOTE_SYSTEM"]
