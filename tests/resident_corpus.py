"""The corpus the resident engine is held to the reference engine on (tests/test_resident_differential.py,
bench/resident.py): the shipped cases, boundary-date encounters, and varied encounters with variants that
keep their shape (so warm programs are re-solved with other inputs, in an interleaved order).
"""
from __future__ import annotations

import copy
import datetime as dt
import difflib
import importlib.util
import json
import random
import sys
from pathlib import Path

from solver.casetest import find_case_files, load_cases
from solver.encounter import Encounter
from solver.policy import Policies

ROOT = Path(__file__).resolve().parent.parent


def _load_varied():
    """bench/varied.py by its path (a `bench` module elsewhere on the path must not shadow it)."""
    spec = importlib.util.spec_from_file_location("payerkb_bench_varied", ROOT / "bench" / "varied.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.varied_encounters


varied_encounters = _load_varied()

_DAY = dt.timedelta(days=1)

TEMPLATE = {
    "id": "boundary", "payer": "medicare-cgs", "date_of_service": "2024-06-10",
    "injections": [{"muscle": "upper trapezius", "side": "right", "substance": "lidocaine 1%", "dose": "2 mL"},
                   {"muscle": "upper trapezius", "side": "left", "substance": "lidocaine 1%", "dose": "2 mL"},
                   {"muscle": "rhomboid major", "side": "right", "substance": "lidocaine 1%", "dose": "1 mL"}],
    "diagnoses": ["M79.12", "M54.2", "M79.1"],
    "evaluation": {"code": "99213", "separately_identifiable": True},
    "documentation": {"trigger_points_on_exam": True, "focal_muscle_pain": True,
                      "conservative_therapy": {"tried": ["physical_therapy"], "weeks": 6, "failed": True, "ongoing": True},
                      "pain_scores": {"scale": "NRS", "before": 7, "after": 3},
                      "prior_relief": {"percent": 50, "weeks": 6, "same_scale": True, "dated": True}},
    "history": [],
    "claim": [{"code": "20553", "modifiers": ["50"], "units": 1, "diagnoses": ["M79.12", "M54.2"]},
              {"code": "99213", "modifiers": ["25"], "units": 1, "diagnoses": ["M79.12"]}],
}


def shipped_cases(pol: Policies) -> list[Encounter]:
    return [enc for path in find_case_files(pol.root) for _case, enc in load_cases(path)]


def boundary_encounters(pol: Policies) -> list[Encounter]:
    """Each rule's start and end date, and each ICD-10-CM release's first and last day held, -1/0/+1 day, for
    the rule's payer (a release's dates: for each payer in turn); and for each day threshold of a rule (days,
    window_days), earlier sessions N-1, N and N+1 days before the date of service."""
    dates: dict[tuple[str, dt.date], None] = {}
    for inst in pol.instances:
        for d in (inst.start, inst.end):
            if d is not None:
                for k in (-1, 0, 1):
                    dates[(inst.payer, d + k * _DAY)] = None
    payers = sorted(pol.payers)
    releases = pol.codeset.history.releases if pol.codeset.history else []
    for n, rel in enumerate(releases):
        for d in (rel.effective_from, rel.known_in_force_through):
            for k in (-1, 0, 1):
                dates[(payers[(n + k) % len(payers)], d + k * _DAY)] = None
    out = []
    for i, (payer, d) in enumerate(dates):
        raw = copy.deepcopy(TEMPLATE)
        raw.update(id=f"boundary-{i}", payer=payer, date_of_service=d.isoformat(),
                   history=[{"date": (d - 30 * _DAY).isoformat(), "code": "20552", "muscles": ["trapezius"]}])
        out.append(_valid(raw))
    gaps: dict[tuple[str, int], None] = {}
    for inst in pol.instances:
        for name in ("days", "window_days"):
            if name in inst.params:
                gaps[(inst.payer, int(inst.params[name]))] = None
    dos = dt.date(2025, 3, 12)
    for i, (payer, n) in enumerate(gaps):
        for j, k in enumerate((n - 1, n, n + 1)):
            raw = copy.deepcopy(TEMPLATE)
            raw.update(id=f"gap-{i}-{j}", payer=payer, date_of_service=dos.isoformat(),
                       history=[{"date": (dos - k * _DAY).isoformat(), "code": "20553", "muscles": ["trapezius"]},
                                {"date": (dos - (k + 200) * _DAY).isoformat(), "code": "20552"}])
            out.append(_valid(raw))
    return [e for e in out if e is not None]


def varied_corpus(n_base: int, variants: int, seed: int) -> list[Encounter]:
    """n_base varied encounters (bench/varied.py), each followed later by `variants` variants of it that keep
    its shape: muscles, sides, injectates, guidance, documentation, diagnoses, history dates, modifiers and
    E/M flags drawn again. Interleaved, so a program is re-solved after others were."""
    base = varied_encounters(n_base, seed)
    rnd = random.Random(seed)
    pool_inj = [i for e in base for i in e.get("injections") or []]
    pool_doc = [e["documentation"] for e in base if e.get("documentation")]
    pool_dx = [d for e in base for d in e.get("diagnoses") or []]
    pool_mods = [ln.get("modifiers") or [] for e in base for ln in e.get("claim") or []]
    rounds = [[_valid(e) for e in base]]
    for v in range(variants):
        rounds.append([_valid(_variant(rnd, e, f"{e['id']}-v{v}", pool_inj, pool_doc, pool_dx, pool_mods)) for e in base])
    out = []
    for i in range(n_base):  # base i, then variants of earlier bases, so programs are reused after others
        for r, rows in enumerate(rounds):
            j = i - 7 * r
            if j >= 0 and rows[j] is not None:
                out.append(rows[j])
    for r, rows in enumerate(rounds[1:], start=1):
        out += [e for e in rows[max(0, n_base - 7 * r):] if e is not None]
    return out


def _variant(rnd: random.Random, enc: dict, ident: str, pool_inj, pool_doc, pool_dx, pool_mods) -> dict:
    e = copy.deepcopy(enc)
    e["id"] = ident
    e["injections"] = [dict(rnd.choice(pool_inj)) for _ in e.get("injections") or []]
    if pool_doc:
        e["documentation"] = copy.deepcopy(rnd.choice(pool_doc))
    new_dx = {d: rnd.choice(pool_dx) for d in e.get("diagnoses") or []}
    e["diagnoses"] = list(dict.fromkeys(new_dx[d] for d in e.get("diagnoses") or []))
    dos = dt.date.fromisoformat(str(e["date_of_service"]))
    for h in e.get("history") or []:
        h["date"] = (dos - rnd.randint(-3, 800) * _DAY).isoformat()
    if e.get("evaluation"):
        e["evaluation"]["separately_identifiable"] = rnd.random() < 0.5
        e["evaluation"]["new_patient"] = rnd.random() < 0.2
    for line in e.get("claim") or []:
        line["diagnoses"] = list(dict.fromkeys(new_dx.get(d, d) for d in line.get("diagnoses") or []))
        if rnd.random() < 0.5:
            line["modifiers"] = list(rnd.choice(pool_mods))
    return e


def _valid(raw: dict) -> Encounter | None:
    try:
        return Encounter.model_validate(raw)
    except Exception:  # noqa: BLE001 - a variant the contract refuses is left out
        return None


def canonical(result: dict) -> str:
    return json.dumps(result, sort_keys=True)


def first_difference(reference, resident, encounters: list[Encounter], chunk: int = 100) -> str | None:
    """None when both engines answer every encounter byte for byte alike; else the first differing encounter
    with a diff of the two results. The reference answers in batches (today's batch path); a difference is
    confirmed against its single check before it is reported."""
    for start in range(0, len(encounters), chunk):
        part = encounters[start:start + chunk]
        expected = reference.check_many(part)
        for enc, want in zip(part, expected):
            got = canonical(resident.check(enc))
            if got != canonical(want):
                want = reference.check(enc)
                if got == canonical(want):
                    continue
                a = json.dumps(want, sort_keys=True, indent=1).splitlines()
                b = json.dumps(json.loads(got), sort_keys=True, indent=1).splitlines()
                diff = "\n".join(list(difflib.unified_diff(a, b, "reference", "resident", lineterm="", n=2))[:60])
                return f"encounter {enc.id}: {enc.model_dump_json()[:2000]}\n{diff}"
    return None


def whatif_sets(enc: Encounter, payers: list[str]) -> list[str]:
    """--set changes of a what-if on an encounter, one variant each: documentation flags, a muscle and a side
    changed, a diagnosis changed, another payer, another date of service (the last two: another rule set)."""
    from solver.explore.contract_paths import get_value
    doc = enc.documentation
    out = [f"documentation.abn_on_file={str(not doc.abn_on_file).lower()}",
           f"documentation.trigger_points_on_exam={str(not doc.trigger_points_on_exam).lower()}"]
    if get_value(enc, "documentation.conservative_therapy") is not None:
        out.append(f"documentation.conservative_therapy.weeks={(doc.conservative_therapy.weeks or 0) + 4}")
    if enc.injections:
        muscle = "levator scapulae" if (enc.injections[0].muscle or "") != "levator scapulae" else "rhomboid major"
        out.append(f"injections[0].muscle={muscle}")
        out.append(f"injections[0].side={'left' if enc.injections[0].side != 'left' else 'right'}")
    if enc.diagnoses:
        out.append(f"diagnoses[0]={'M79.18' if enc.diagnoses[0] != 'M79.18' else 'M54.2'}")
    out.append(f"payer={next(p for p in payers if p != enc.payer)}")
    out.append(f"date_of_service={(enc.date_of_service + dt.timedelta(days=400)).isoformat()}")
    return out
