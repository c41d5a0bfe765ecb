"""The facts an exploration may assume or change, as contract-v1 changes (solver/explore/contract_paths.py).

`assumable(...)`: what `explain --missing` may assume for an encounter, read from policies/assumable.yaml
(what a provider could truthfully document; the service itself only with change_service).
`flips(...)`: every single fact `explain --sensitivity` may change: each fact of the encounter removed (a
documentation element, an injection, a diagnosis, an earlier session, the E/M's separate identification)
and each assumable fact added."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from solver.explore.contract_paths import value_at
from solver.explore.patching import document
from solver.encounter import Encounter
from solver.errors import PolicyError, Problem, pydantic_problems
from solver.explore.assumable_model import AssumableFile
from solver.paths import POLICIES_DIR
from solver.policy import Policies
from solver.yamltext import read_policy_yaml

ASSUMABLE_FILE = "assumable.yaml"


@dataclass(frozen=True)
class Change:
    """One fact to assume or change: a contract-v1 path and value (or a removal), its reading and cost."""

    path: str
    value: object = None
    reading: str = ""
    cost: int = 1
    op: str = "set"
    service: bool = False  # a change of the service itself, not of its documentation
    exclusive: str | None = field(default=None, compare=False)  # changes of one group are not assumed together

    def as_dict(self) -> dict:
        out = {"path": self.path, "value": self.value, "reading": self.reading}
        if self.op != "set":
            out["op"] = self.op
        return out

    def as_change(self) -> dict:
        return {"path": self.path, "op": self.op} if self.op == "remove" else {"path": self.path, "value": self.value}


def _spec(path: str) -> dict:
    """The file, read again when it changes (a long-running service sees an edit)."""
    try:
        stamp = Path(path).stat().st_mtime_ns
    except OSError:
        stamp = None
    return _spec_at(path, stamp)


@lru_cache(maxsize=8)
def _spec_at(path: str, _stamp: int | None) -> dict:
    """The file validated by its model (solver/explore/assumable_model.py), as the mapping the search reads."""
    problems: list[Problem] = []
    data = read_policy_yaml(Path(path), problems)
    if problems:
        raise PolicyError(problems)
    try:
        spec = AssumableFile.model_validate(data)
    except ValidationError as exc:
        problems = pydantic_problems(exc, path)
    else:
        spec = spec.model_dump(exclude_unset=True)
    if isinstance(data, dict):
        problems += _value_problems(path, data)
    if problems:
        raise PolicyError(problems)
    return spec


def _value_problems(path: str, data: dict) -> list[Problem]:
    """A documentation entry gives exactly one of value, from_param and from_params (what it assumes)."""
    items = data.get("documentation")
    if not isinstance(items, list):
        return []
    out = []
    for n, item in enumerate(items):
        if isinstance(item, dict) and len({"value", "from_param", "from_params"} & set(item)) != 1:
            out.append(Problem(path, f"documentation.{n}", "give exactly one of value, from_param or from_params"))
    return out


def spec_for(policies_dir: Path) -> dict:
    """policies/assumable.yaml of this policies folder, else the shipped one."""
    own = Path(policies_dir) / ASSUMABLE_FILE
    return _spec(str(own if own.is_file() else POLICIES_DIR / ASSUMABLE_FILE))


def _params(pol: Policies, enc: Encounter, name: str) -> list:
    return [i.params[name] for i in pol.in_force(enc.payer, enc.date_of_service) if name in i.params]


def _container_present(doc: dict, path: str) -> bool:
    parent = path.rsplit(".", 1)[0]
    return parent == path or value_at(doc, parent) is not None


def assumable(pol: Policies, enc: Encounter, spec: dict, change_service: bool = False) -> list[Change]:
    """What the missing-facts search may assume for this encounter (facts already true are left out)."""
    out: list[Change] = []
    doc = document(enc)  # the encounter's JSON, made once for every path looked up
    for item in spec.get("documentation", []):
        ch = _documentation_change(pol, enc, doc, item)
        if ch is not None and value_at(doc, ch.path) != ch.value:
            out.append(ch)
    out += _injection_changes(pol, enc, spec)
    if change_service:
        out += service_changes(pol, enc, spec)
    return out


def _documentation_change(pol: Policies, enc: Encounter, doc: dict, item: dict) -> Change | None:
    """doc: the encounter's JSON document (patching.document)."""
    path = item["path"]
    if item.get("needs") and value_at(doc, item["needs"]) is None:
        return None
    if "from_param" in item:
        values = _params(pol, enc, item["from_param"])
        if not values:
            return None
        value = max(values)
        current = value_at(doc, path)
        if current is not None and current >= value:
            return None
        return Change(path, value, item["reading"].format(value=value), item.get("cost", 1))
    if "from_params" in item:
        found = {k: _params(pol, enc, p) for k, p in item["from_params"].items()}
        if not all(found.values()) or value_at(doc, path) is not None:
            return None
        value = {k: max(v) for k, v in found.items()} | dict(item.get("extra", {}))
        return Change(path, value, item["reading"].format(**value), item.get("cost", 1))
    if not _container_present(doc, path):
        return None
    if isinstance(item["value"], dict) and value_at(doc, path) is not None:
        return None
    return Change(path, item["value"], item["reading"], item.get("cost", 1))


def _injection_changes(pol: Policies, enc: Encounter, spec: dict) -> list[Change]:
    out: list[Change] = []
    for item in spec.get("injections", []):
        fld = item["field"]
        for i, inj in enumerate(enc.injections):
            path = f"injections[{i}].{fld}"
            if fld == "muscle" and item.get("when") == "unnamed":
                m = pol.vocabulary.match(inj.muscle)
                if m.muscle or not m.recognised:
                    continue
                prefer = _preferred(item.get("prefer", {}), inj.muscle or "")
                picks = [(r, _free_muscle(pol, enc, r, inj.side, prefer)) for r in _regions_for(pol, enc, spec, inj.muscle or "")]
                picks = [(r, m) for r, m in picks if m]
                if prefer and not picks:  # the term's own muscles lie in none of those regions: any region of the file
                    picks = [(r, m) for r in spec.get("default_regions", []) if (m := _free_muscle(pol, enc, r, inj.side, prefer, True))]
                for region, muscle in picks:
                    out.append(Change(path, muscle, item["reading"].format(value=muscle, region=region, text=inj.muscle or ""),
                                      item.get("cost", 1), exclusive=path))
            elif item.get("when") == "absent" and not getattr(inj, fld):
                others = [getattr(x, fld) for x in enc.injections if getattr(x, fld)]
                value = others[0] if others else item["default"]
                out.append(Change(path, value, item["reading"].format(value=value), item.get("cost", 1)))
    return out


def _regions_for(pol: Policies, enc: Encounter, spec: dict, text: str) -> list[str]:
    words = _words(text)
    named = [r for w, r in spec.get("region_words", {}).items() if f" {w} " in words]
    if named:
        return list(dict.fromkeys(named))
    injected = [pol.vocabulary.match(x.muscle).region for x in enc.injections]
    injected = [r for r in injected if r]
    return list(dict.fromkeys(injected)) or list(spec.get("default_regions", []))


def _injected(pol: Policies, enc: Encounter) -> set[tuple[str, str | None]]:
    return {(m.muscle, x.side) for x in enc.injections if (m := pol.vocabulary.match(x.muscle)).muscle}


def _words(text: str) -> str:
    return " " + " ".join(text.lower().replace("-", " ").split()) + " "


def _preferred(prefer: dict, text: str) -> list[str]:
    """The muscles a term stands for first (assumable.yaml `prefer`: a word of the term -> muscle ids)."""
    words = _words(text)
    return [m for w, ms in prefer.items() if f" {w}" in words for m in ms]


def _free_muscle(pol: Policies, enc: Encounter, region: str, side: str | None, prefer: list[str] = (),
                 only_preferred: bool = False) -> str | None:
    """A muscle of the region not injected yet on that side: one the term stands for (named by its part in that
    region, e.g. "cervical multifidus"); for a term with none, the first of the region in the vocabulary."""
    taken = _injected(pol, enc)
    muscles = pol.vocabulary.muscles
    for mid in prefer:
        m = muscles.get(mid)
        if m is None or (mid, side) in taken:
            continue
        if m.get("region") == region:
            return m["name"].lower()
        for part in m.get("parts", []):
            if part.get("region") == region:
                return part["name"].lower()
    if prefer or only_preferred:
        return None
    for mid, m in muscles.items():
        if m.get("region") == region and (mid, side) not in taken:
            return m["name"].lower()
    return None


def service_changes(pol: Policies, enc: Encounter, spec: dict) -> list[Change]:
    """Changes of the service itself: another muscle injected, a diagnosis added."""
    out: list[Change] = []
    regions = list(dict.fromkeys(r for x in enc.injections if (r := pol.vocabulary.match(x.muscle).region)))
    for item in spec.get("service", []):
        if item["kind"] == "add_muscle" and enc.injections:
            first = enc.injections[0]
            for region in regions:
                muscle = _free_muscle(pol, enc, region, first.side)
                if muscle:
                    value = {"muscle": muscle, "side": first.side, "substance": first.substance, "dose": first.dose}
                    value = {k: v for k, v in value.items() if v is not None}
                    out.append(Change(f"injections[{len(enc.injections)}]", value,
                                      item["reading"].format(value=muscle, region=region), item.get("cost", 3),
                                      service=True, exclusive="injections[+]"))
        elif item["kind"] == "add_diagnosis":
            out += _diagnosis_changes(pol, enc, item, regions)
    return out


def _diagnosis_changes(pol: Policies, enc: Encounter, item: dict, regions: list[str]) -> list[Change]:
    rules = pol.in_force(enc.payer, enc.date_of_service)
    lists = [set(i.params["diagnoses"]) for i in rules if i.rule.family == "diagnosis_list_required"]
    maps = [i.params["regions"] for i in rules if i.rule.family == "diagnosis_region_match"]
    seen: list[str] = []
    for region in regions:
        codes = [c for mp in maps for c in mp.get(region, [])] or [c for lst in lists for c in sorted(lst)]
        n = 0
        for code in dict.fromkeys(codes):
            if n >= item.get("per_region", 2):
                break
            if "*" in code or code in enc.diagnoses or code in seen or any(code not in lst for lst in lists):
                continue
            if pol.codeset.judge(code, enc.date_of_service).status != "billable":
                continue
            seen.append(code)
            n += 1
    if len(enc.diagnoses) >= 12:
        return []
    return [Change(f"diagnoses[{len(enc.diagnoses)}]", c, item["reading"].format(value=c), item.get("cost", 3),
                   service=True, exclusive="diagnoses[+]") for c in seen]


_BOOL_DOC = ["trigger_points_on_exam", "focal_muscle_pain", "functional_limitation", "abn_on_file"]


def flips(pol: Policies, enc: Encounter, spec: dict) -> list[Change]:
    """Every single change of one fact: each fact of the encounter removed, each assumable fact added."""
    out: list[Change] = []
    doc = enc.documentation
    for name in _BOOL_DOC:
        if getattr(doc, name):
            out.append(Change(f"documentation.{name}", False, f"{name.replace('_', ' ')} is not documented"))
    ct = doc.conservative_therapy
    for name in ("failed", "ongoing"):
        if getattr(ct, name):
            out.append(Change(f"documentation.conservative_therapy.{name}", False, f"conservative therapy is not documented as {name}"))
    if ct.tried:
        out.append(Change("documentation.conservative_therapy.tried", [], "no conservative therapy tried is documented"))
    if ct.weeks is not None:
        out.append(Change("documentation.conservative_therapy.weeks", op="remove", reading="the weeks of conservative therapy are not documented"))
    if doc.pain_scores is not None:
        out.append(Change("documentation.pain_scores", op="remove", reading="no pain scores are documented"))
    if doc.prior_relief is not None:
        out.append(Change("documentation.prior_relief", op="remove", reading="no relief after the previous TPI is documented"))
    for i, inj in enumerate(enc.injections):
        out.append(Change(f"injections[{i}]", op="remove", reading=f"injection {i} ({inj.muscle or 'no muscle'}) is not done"))
    for i, d in enumerate(enc.diagnoses):
        out.append(Change(f"diagnoses[{i}]", op="remove", reading=f"the diagnosis {d} is not documented"))
    for i, h in enumerate(enc.history):
        out.append(Change(f"history[{i}]", op="remove", reading=f"the earlier session of {h.date.isoformat()} ({h.code}) is not on record"))
    if enc.evaluation is not None and enc.evaluation.separately_identifiable:
        out.append(Change("evaluation.separately_identifiable", False, "the E/M is not documented as separately identifiable"))
    out += assumable(pol, enc, spec, change_service=True)
    return out
