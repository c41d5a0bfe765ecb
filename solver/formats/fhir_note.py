"""The procedure note on a FHIR Claim: payerkb's own codes for Claim.supportingInfo.

A FHIR Claim carries codes, not the note; the TPI rules need the note (which muscles, the injectate and
dose, the exam, conservative therapy, pain scores, earlier sessions). A sender carries it in
`Claim.supportingInfo`, each entry's `category` a coding of the CodeSystem `urn:payerkb:tpi-documentation`
(payerkb's own: a URN, so it claims no web domain). Entries of other systems (e.g. claiminformationcategory
`hospitalized`) are not payerkb's and are left alone; an unknown code of this system is a problem.

| code | value | the encounter field |
|---|---|---|
| muscle-injected | valueString: the muscle as documented; extensions `urn:payerkb:tpi-documentation:side` (valueCode left, right, midline), `...:substance` (valueString), `...:dose` (valueString, or valueQuantity: 2 mL), `...:trigger-points` (valuePositiveInt), `...:guidance` (valueCode none, ultrasound, fluoroscopy, ct, mri) | injections[] |
| trigger-points-on-exam | valueBoolean | documentation.trigger_points_on_exam |
| focal-muscle-pain | valueBoolean | documentation.focal_muscle_pain |
| functional-limitation | valueBoolean | documentation.functional_limitation |
| abn-on-file | valueBoolean | documentation.abn_on_file |
| conservative-therapy-tried | valueString, one therapy an entry | documentation.conservative_therapy.tried |
| conservative-therapy-weeks | valueQuantity (weeks, a whole number) | documentation.conservative_therapy.weeks |
| conservative-therapy-failed | valueBoolean | documentation.conservative_therapy.failed |
| conservative-therapy-ongoing | valueBoolean | documentation.conservative_therapy.ongoing |
| pain-scale | valueString (NRS, VAS) | documentation.pain_scores.scale |
| pain-score-before / pain-score-after | valueQuantity | documentation.pain_scores.before / after |
| prior-relief-percent | valueQuantity (%) | documentation.prior_relief.percent |
| prior-relief-weeks | valueQuantity (weeks) | documentation.prior_relief.weeks |
| prior-relief-same-scale | valueBoolean | documentation.prior_relief.same_scale |
| prior-relief-dated | valueBoolean | documentation.prior_relief.dated |
| em-separately-identifiable | valueBoolean | evaluation.separately_identifiable (the E/M item of the claim) |
| prior-session | timingDate, `code` (a CPT coding), extension `...:muscle` (valueString, repeated) | history[] |

ELEMENT_CODES maps each documentation element of solver/param_types.py DOCUMENTATION_ELEMENTS to the
code(s) that document it (a test keeps the two in step).
"""
from __future__ import annotations

from typing import Callable

SYSTEM = "urn:payerkb:tpi-documentation"
EXT = SYSTEM + ":"  # extension urls: urn:payerkb:tpi-documentation:side, ...

BOOLEANS = {  # code -> (documentation path)
    "trigger-points-on-exam": ("trigger_points_on_exam",),
    "focal-muscle-pain": ("focal_muscle_pain",),
    "functional-limitation": ("functional_limitation",),
    "abn-on-file": ("abn_on_file",),
    "conservative-therapy-failed": ("conservative_therapy", "failed"),
    "conservative-therapy-ongoing": ("conservative_therapy", "ongoing"),
    "prior-relief-same-scale": ("prior_relief", "same_scale"),
    "prior-relief-dated": ("prior_relief", "dated"),
}
QUANTITIES = {
    "conservative-therapy-weeks": ("conservative_therapy", "weeks"),
    "pain-score-before": ("pain_scores", "before"),
    "pain-score-after": ("pain_scores", "after"),
    "prior-relief-percent": ("prior_relief", "percent"),
    "prior-relief-weeks": ("prior_relief", "weeks"),
}
STRINGS = {"pain-scale": ("pain_scores", "scale")}
OTHERS = ("muscle-injected", "conservative-therapy-tried", "em-separately-identifiable", "prior-session")
CODES = tuple(BOOLEANS) + tuple(QUANTITIES) + tuple(STRINGS) + OTHERS

ELEMENT_CODES = {
    "trigger_points_on_exam": ["trigger-points-on-exam"],
    "focal_muscle_pain": ["focal-muscle-pain"],
    "conservative_therapy_tried": ["conservative-therapy-tried"],
    "conservative_therapy_failed": ["conservative-therapy-failed"],
    "conservative_therapy_ongoing": ["conservative-therapy-ongoing"],
    "pain_scores_before_after": ["pain-score-before", "pain-score-after"],
    "pain_scores_same_scale": ["pain-scale"],
    "prior_relief_documented": ["prior-relief-percent"],
    "prior_relief_same_scale": ["prior-relief-same-scale"],
    "prior_relief_dated": ["prior-relief-dated"],
    "functional_limitation": ["functional-limitation"],
    "abn_on_file": ["abn-on-file"],
}
WHOLE = {"conservative-therapy-weeks"}  # a whole number in the contract


def note_code(info: dict) -> str | None:
    """The payerkb code of a supportingInfo entry, or None when its category is of another system."""
    for coding in (info.get("category") or {}).get("coding") or []:
        if coding.get("system") == SYSTEM:
            return str(coding.get("code"))
    return None


def _ext(element: dict, name: str) -> list:
    return [e for e in element.get("extension") or [] if e.get("url") == EXT + name]


def _ext_value(e: dict):
    for key, value in e.items():
        if key.startswith("value"):
            return key, value
    return None, None


def _quantity_text(q: dict) -> str:
    value = q.get("value")
    unit = q.get("unit") or q.get("code") or ""
    return f"{value:g} {unit}".strip() if isinstance(value, (int, float)) else str(value)


def _set(doc: dict, path: tuple, value) -> None:
    for key in path[:-1]:
        doc = doc.setdefault(key, {})
    doc[path[-1]] = value


def read_note(infos: list[dict], field: str, problem: Callable[[str, str], None]) -> dict:
    """Injections, documentation, history and em_separately_identifiable from supportingInfo entries of this
    system ({} keys absent when none); problem(field, message) reports a bad entry."""
    injections, history, doc, tried = [], [], {}, []
    em = None
    for i, info in enumerate(infos):
        code = note_code(info)
        if code is None:
            continue
        at = f"{field}.{i}"
        if code not in CODES:
            problem(f"{at}.category", f"{code!r} is not a code of {SYSTEM}; the codes are {', '.join(CODES)} (README, FHIR R4)")
            continue
        if code == "muscle-injected":
            injections.append(_injection(info, at, problem))
        elif code == "prior-session":
            history.append(_session(info, at, problem))
        elif code == "conservative-therapy-tried":
            if "valueString" in info:
                tried.append(info["valueString"])
            else:
                problem(at, "conservative-therapy-tried needs valueString: the therapy tried (one an entry)")
        elif code in BOOLEANS or code == "em-separately-identifiable":
            if not isinstance(info.get("valueBoolean"), bool):
                problem(at, f"{code} needs valueBoolean (true or false)")
            elif code == "em-separately-identifiable":
                em = info["valueBoolean"]
            else:
                _set(doc, BOOLEANS[code], info["valueBoolean"])
        elif code in QUANTITIES:
            value = (info.get("valueQuantity") or {}).get("value")
            if value is None:
                problem(at, f"{code} needs valueQuantity with a value")
            elif code in WHOLE and value != int(value):
                problem(f"{at}.valueQuantity.value", f"{code} is a whole number of weeks, not {value}")
            else:
                _set(doc, QUANTITIES[code], int(value) if code in WHOLE else value)
        elif code in STRINGS:
            if "valueString" in info:
                _set(doc, STRINGS[code], info["valueString"])
            else:
                problem(at, f"{code} needs valueString")
    if tried:
        _set(doc, ("conservative_therapy", "tried"), tried)
    out: dict = {}
    if injections:
        out["injections"] = injections
    if history:
        out["history"] = history
    if doc:
        out["documentation"] = doc
    if em is not None:
        out["em_separately_identifiable"] = em
    return out


def _injection(info: dict, at: str, problem) -> dict:
    inj: dict = {}
    if "valueString" in info:
        inj["muscle"] = info["valueString"]
    else:
        problem(at, "muscle-injected needs valueString: the muscle injected, as documented (e.g. right upper trapezius)")
    for name, key in (("side", "side"), ("substance", "substance"), ("dose", "dose"), ("trigger-points", "trigger_points"),
                      ("guidance", "guidance")):
        for e in _ext(info, name):
            kind, value = _ext_value(e)
            inj[key] = _quantity_text(value) if kind == "valueQuantity" else value
    return inj


def _session(info: dict, at: str, problem) -> dict:
    session: dict = {}
    if "timingDate" in info:
        session["date"] = info["timingDate"]
    else:
        problem(at, "prior-session needs timingDate: the date of the earlier session")
    codes = [c.get("code") for c in (info.get("code") or {}).get("coding") or [] if c.get("code")]
    if codes:
        session["code"] = codes[0]
    else:
        problem(f"{at}.code", "prior-session needs code: the CPT code billed that day (20552 or 20553)")
    muscles = [v for e in _ext(info, "muscle") for k, v in [_ext_value(e)] if k == "valueString"]
    if muscles:
        session["muscles"] = muscles
    return session
