"""The parameter types of kb/families.yaml: each rule's params are checked against its family and normalised.

Types: int (a whole number of at least 0: the parameters are counts, days, weeks, percents, indicators),
int[LO..HI] (either bound may be left out: int[1..], int[0..100]), str, bool, date (YYYY-MM-DD), slot,
group (a code group), modifier_group, modifier, code, region, element (a documentation element), category
(a rule category), rule_id (the id of a rule), substance_class (an injectate class of policies/tables/substances.yaml), enum[a,b,...],
list[T], map[K,T], diagnoses (ICD-10-CM codes; "M54.5*" = the code and all below it) and bands (a list of
{code, min, max}). A parameter name ending in "?" is optional.
"""
from __future__ import annotations

import re
from typing import Any

from solver.encounter import MODIFIER, PROCEDURE_CODE
from solver.errors import Problem
from solver.policy_model import CATEGORIES, iso_date

SLOTS = ("tpi", "dry_needling", "em")
DOCUMENTATION_ELEMENTS = {  # element -> how a finding names it when it is missing
    "trigger_points_on_exam": "trigger points on exam (taut band, hyperirritable spot, referred pain)",
    "focal_muscle_pain": "focal skeletal-muscle pain",
    "conservative_therapy_tried": "conservative therapy tried",
    "conservative_therapy_failed": "failed conservative therapy",
    "conservative_therapy_ongoing": "an ongoing conservative / home-exercise program",
    "pain_scores_before_after": "pain scores before and after the injection",
    "pain_scores_same_scale": "the pain scale used",
    "prior_relief_documented": "the response to the previous TPI",
    "prior_relief_same_scale": "prior relief measured on the same scale",
    "prior_relief_dated": "dated measurements of the prior relief",
    "functional_limitation": "functional limitation / limited movement",
    "abn_on_file": "an ABN on file",
}
SCALARS = ("str", "bool", "date", "slot", "group", "modifier_group", "modifier", "code", "region", "element",
           "category", "substance_class", "rule_id", "diagnoses", "bands")
_INT = re.compile(r"^int(?:\[(-?\d+)?\.\.(-?\d+)?\])?$")
# the types checked against a table; when that table failed to load, values of the type are not checked
TABLE_OF_TYPE = {"group": "code groups", "modifier_group": "code groups", "substance_class": "substances",
                 "region": "muscles", "diagnoses": "icd10cm"}


def type_problem(typ: str) -> str | None:
    """Why a type string of kb/families.yaml is not in the grammar above (None: it is)."""
    if not isinstance(typ, str):
        return f"a type is a string, not {typ!r}"
    if typ in SCALARS or _INT.match(typ):
        m = _INT.match(typ)
        if m and m.group(1) and m.group(2) and int(m.group(2)) < int(m.group(1)):
            return f"the bounds of {typ!r} are reversed"
        return None
    if typ.startswith("list[") and typ.endswith("]"):
        return type_problem(typ[5:-1])
    if typ.startswith("map[") and typ.endswith("]") and "," in typ:
        ktyp, vtyp = typ[4:-1].split(",", 1)
        return type_problem(ktyp) or type_problem(vtyp)
    if typ.startswith("enum[") and typ.endswith("]") and typ[5:-1]:
        return None
    return f"unknown type {typ!r}; see solver/param_types.py for the types"


class ParamChecker:
    """Checks one rule's params against its family's declared types and normalises them."""

    def __init__(self, families: dict, code_groups: dict, modifier_groups: dict, substance_classes: dict,
                 regions: dict, codeset, unchecked: set[str] = frozenset(), rule_ids: set[str] = frozenset()):
        self.families, self.code_groups, self.modifier_groups = families, code_groups, modifier_groups
        self.rule_ids = rule_ids
        self.substance_classes, self.regions, self.codeset = substance_classes, regions, codeset
        self.unchecked = {t for t, table in TABLE_OF_TYPE.items() if table in unchecked}

    def check(self, family: str, params: dict, file: str, where: str, problems: list[Problem], params_at: str | None = None) -> dict:
        """Problems name `{where}.family` and `{params_at}.{name}` (params_at defaults to `{where}.params`)."""
        params_at = params_at or f"{where}.params"
        spec = self.families.get(family)
        if spec is None:
            problems.append(Problem(file, f"{where}.family", f"unknown family {family!r}; the families are listed in kb/families.yaml"))
            return {}
        declared = {k.rstrip("?"): (t, k.endswith("?")) for k, t in (spec.get("params") or {}).items()}
        out = {}
        for name in params:
            if name not in declared:
                problems.append(Problem(file, f"{params_at}.{name}", f"unknown parameter for family {family}; it takes {sorted(declared) or 'no parameters'}"))
        for name, (typ, optional) in declared.items():
            if name not in params or params[name] is None:
                if not optional:
                    problems.append(Problem(file, f"{params_at}.{name}", f"required parameter of family {family} ({typ}) is missing"))
                continue
            try:
                out[name] = self.value(typ, params[name])
            except ValueError as exc:
                problems.append(Problem(file, f"{params_at}.{name}", str(exc)))
        return out

    def value(self, typ: str, v: Any):
        if typ in self.unchecked:
            return v
        if typ.startswith("list["):
            if not isinstance(v, list):
                raise ValueError(f"expected a list ({typ})")
            return [self.value(typ[5:-1], x) for x in v]
        if typ.startswith("map["):
            ktyp, vtyp = typ[4:-1].split(",", 1)
            if not isinstance(v, dict):
                raise ValueError(f"expected a mapping ({typ})")
            return {self.value(ktyp, k): self.value(vtyp, x) for k, x in v.items()}
        if typ.startswith("enum["):
            allowed = typ[5:-1].split(",")
            if v not in allowed:
                raise ValueError(f"{v!r} is not one of {allowed}")
            return v
        m = _INT.match(typ)
        if m:
            return _whole_number(v, typ, int(m.group(1)) if m.group(1) else 0 if typ == "int" else None,
                                 int(m.group(2)) if m.group(2) else None)
        if typ == "str":
            if isinstance(v, (dict, list)):
                raise ValueError(f"expected a single value, not {type(v).__name__} {v!r}")
            return str(v)
        if typ == "date":
            return iso_date(v)
        if typ == "bool":
            if not isinstance(v, bool):
                raise ValueError(f"{v!r} is not true or false")
            return v
        return self._named(typ, v)

    def _named(self, typ: str, v: Any):
        """A value that must be one of a known set: a slot, a group, a region, ..."""
        known = {"slot": (SLOTS, "a service slot; use one of " + str(list(SLOTS))),
                 "group": (self.code_groups, "a code group of policies/tables/code-groups.yaml"),
                 "modifier_group": (self.modifier_groups, "a modifier group of policies/tables/code-groups.yaml"),
                 "region": (self.regions, "a region of policies/tables/muscles.yaml"),
                 "element": (DOCUMENTATION_ELEMENTS, "a documentation element; use one of " + str(list(DOCUMENTATION_ELEMENTS))),
                 "category": (CATEGORIES, "a rule category; use one of " + str(list(CATEGORIES))),
                 "rule_id": (self.rule_ids, "the id of a rule in policies/rulesets/"),
                 "substance_class": (self.substance_classes, "an injectate class of policies/tables/substances.yaml"
                                     f" ({', '.join(self.substance_classes)})")}
        if typ in known:
            values, what = known[typ]
            if not isinstance(v, str) or v not in values:
                raise ValueError(f"{v!r} is not {what}")
            return v
        if typ == "modifier":
            v = str(v)
            if not MODIFIER.match(v):
                raise ValueError(f"{v!r} is not a modifier (two characters)")
            return v
        if typ == "code":
            v = str(v)
            if not PROCEDURE_CODE.match(v):
                raise ValueError(f"{v!r} is not a CPT/HCPCS code; quote it")
            return v
        if typ == "diagnoses":
            return self._diagnoses(v)
        if typ == "bands":
            return self._bands(v)
        raise ValueError(f"kb/families.yaml declares an unknown type {typ!r}")

    def _diagnoses(self, v: Any) -> list[str]:
        if not isinstance(v, list):
            raise ValueError("expected a list of ICD-10-CM codes")
        codes: list[str] = []
        for pattern in v:
            pattern = str(pattern)
            found = self.codeset.expand(pattern)
            if not found:
                raise ValueError(f"{pattern!r} is not an ICD-10-CM code (use 'M54.5*' for a code and all below it)")
            codes.extend(c for c in found if c not in codes)
        return codes

    def _bands(self, v: Any) -> list[dict]:
        if not isinstance(v, list) or not v:
            raise ValueError("expected a list of {code, min, max}")
        out = []
        for b in v:
            if not isinstance(b, dict) or set(b) - {"code", "min", "max"} or "code" not in b or "min" not in b:
                raise ValueError("each band is {code, min, max (optional: no upper limit)}")
            band = {"code": self.value("code", b["code"]), "min": self.value("int", b["min"]),
                    "max": None if b.get("max") is None else self.value("int", b["max"])}
            if band["max"] is not None and band["max"] < band["min"]:
                raise ValueError(f"band {band['code']}: max {band['max']} is below min {band['min']}")
            out.append(band)
        return out


def _whole_number(v: Any, typ: str, lo: int | None, hi: int | None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{v!r} is not a whole number")
    if lo is not None and v < lo:
        raise ValueError(f"{v} is below {lo}, the least this parameter takes ({typ} in kb/families.yaml)")
    if hi is not None and v > hi:
        raise ValueError(f"{v} is above {hi}, the most this parameter takes ({typ} in kb/families.yaml)")
    return v
