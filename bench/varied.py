"""Varied encounters for benchmarks and differential tests: every field drawn at random, nearly all distinct.

    from bench.varied import varied_encounters        # (or load this file by path)
    encounters = varied_encounters(10000, seed=1)      # contract-v1 dicts, JSON-ready (dates as text)

    python bench/varied.py --n 10000 --seed 1 -o varied.jsonl

Values come from the product's own data, so the rules have something to decide: every payer under
policies/payers; dates of service from 2018-10-01 to 2026-06-30; muscles, synonyms, parts and region words
from policies/tables/muscles.yaml, and texts that name no muscle; injectates from substances.yaml; diagnoses
from the real ICD-10-CM code set (the rules' lists, billable codes and headers of several chapters, codes
that changed between releases, well-formed codes that do not exist); other procedures from the NCCI PTP and
MUE tables and the code groups; documentation elements, pain scores, prior relief; earlier sessions at
distances from a day to years; claims that are absent, right, or carry coder errors (the wrong code, 50 or
RT/LT, a missing 59/XS, wrong units, pointers to diagnoses not documented). Every record is valid against
the contract: the same seed gives the same list.
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import random
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLES = ROOT / "policies" / "tables"
FIRST_DAY = dt.date(2018, 10, 1)
LAST_DAY = dt.date(2026, 6, 30)

REGION_WORDS = ["upper back", "lower back", "neck", "shoulder", "paraspinals", "back muscles", "low back", "hip",
                "cervical paraspinals", "lumbar paraspinals"]
UNKNOWN_MUSCLES = ["trapezoid", "musculus ignotus", "scm?", "left side", "soft tissue", "fascia", "knot in back",
                   "occipitofrontalis", "tp 3", "see note"]
SUBSTANCE_EXTRA = ["lidocaine 1%", "lidocaine 2%", "bupivacaine 0.25%", "lidocaine 1% with triamcinolone 10 mg",
                   "marcaine 0.5% and kenalog", "normal saline", "dextrose 12.5%", "prp", "botox 50 units",
                   "toradol", "sarapin", "ropivacaine 0.2%", "none", "dry needling", "traumeel"]
DOSES = ["0.5 mL", "1 mL", "1 ml", "2 mL", "3 mL", "5 mL", "1 cc", "2cc", "10 mg", "40 mg", "0.25 mL per point",
         "unknown", "see MAR"]
GUIDANCE = ["none"] * 12 + ["ultrasound", "ultrasound", "fluoroscopy", "ct", "mri"]
THERAPIES = ["physical_therapy", "nsaids", "home_exercise", "massage", "chiropractic", "acupuncture", "heat",
             "muscle_relaxants", "stretching", "tens", "yoga", "activity modification"]
SCALES = ["NRS", "NRS", "VAS", "numeric", "Wong-Baker", None]
EM_CODES = ["99202", "99203", "99204", "99205", "99211", "99212", "99213", "99214", "99215", "99213", "99214",
            "99221", "99242"]
SITES = ["left knee", "right knee", "right shoulder", "lumbar spine", "L4-L5 left", "right greater occipital nerve",
         "gluteal", "left deltoid", "same muscle", "cervical", None]
MODIFIER_ERRORS = [["50"], ["RT"], ["LT"], ["RT", "LT"], ["59"], ["XS"], ["25"], ["GA"], ["GZ"], ["KX"], ["XU"],
                   ["76"], ["XS", "59"], ["22"]]
TPI = ["20552", "20553"]
# the myalgia / myofascial codes the region rules name (policies/rulesets/icd10cm.yaml), first on most claims
CORE_DX = ["M79.10", "M79.11", "M79.12", "M79.18", "M54.2", "M54.6", "M54.50", "M54.51", "M54.59", "M62.830",
           "M62.838", "G44.209", "G44.219", "G44.229", "M79.1", "M54.5", "M79.7", "M79.12", "M79.18", "M54.2"]
NEEDLING = ["20560", "20561"]


@lru_cache(maxsize=1)
def _vocabulary() -> dict:
    """What the draws come from, read once from the policies folder and the ICD-10-CM code set."""
    import yaml

    sys.path.insert(0, str(ROOT))
    from solver.icd10cm import index

    payers = sorted(p.stem for p in (ROOT / "policies" / "payers").glob("*.yaml"))
    muscles_doc = yaml.safe_load((TABLES / "muscles.yaml").read_text(encoding="utf-8"))
    names, by_region = [], {}
    for m in muscles_doc["muscles"]:
        own = [m["name"].lower()] + [str(s) for s in m.get("synonyms") or []] + [str(p["name"]) for p in m.get("parts") or []]
        names += own
        by_region.setdefault(m["region"], []).extend(own)
    unnamed = [str(t) for t in muscles_doc.get("unnamed_terms") or []]
    substances = yaml.safe_load((TABLES / "substances.yaml").read_text(encoding="utf-8"))
    terms = [t for c in substances["classes"].values() for t in c["terms"]]

    def column(path: Path, col: int, skip: int = 1) -> list[str]:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))[skip:]
        return [r[col].strip() for r in rows if len(r) > col and len(r[col].strip()) == 5]

    ptp = sorted(set(column(TABLES / "ncci-ptp-practitioner.csv", 0) + column(TABLES / "ncci-ptp-practitioner.csv", 1)))
    mue = sorted(set(column(TABLES / "mue-practitioner.csv", 0)))
    groups = yaml.safe_load((TABLES / "code-groups.yaml").read_text(encoding="utf-8"))
    grouped = sorted({c for g in groups["code_groups"].values() for c in g["codes"]})
    procedures = sorted({c for c in ptp + mue + grouped if c not in TPI})

    codes = index()["codes"]
    chapters: dict[str, list[str]] = {}
    for code, leaf in codes.items():
        chapters.setdefault(code[0], []).append(code)
    for v in chapters.values():
        v.sort()
    # the codes the rules name (lists of covered diagnoses), with every code under them in the code set
    rule_text = " ".join(p.read_text(encoding="utf-8") for p in (ROOT / "policies" / "rulesets").glob("*.yaml"))
    import re
    named = set(re.findall(r"\b[A-Z][0-9][0-9A-Z]\.?[0-9A-Z]{0,4}\b", rule_text))
    roots = {n.rstrip(".") for n in named}
    tpi_dx = sorted({c for c in codes if any(c == r or c.startswith(r) for r in roots if len(r) >= 3)}
                    | {r for r in roots if len(r) >= 3})
    with (TABLES / "icd10cm-releases.csv").open(encoding="utf-8", newline="") as fh:
        changed = sorted({row["code"] for row in csv.DictReader(fh)})
    changes = yaml.safe_load((TABLES / "icd10cm-changes.yaml").read_text(encoding="utf-8"))
    changed = sorted(set(changed) | {c["code"] for c in changes["changes"]})
    # the diagnoses the region rule accepts for each region (icd10.region-match), for encounters coded right
    icd_rules = yaml.safe_load((ROOT / "policies" / "rulesets" / "icd10cm.yaml").read_text(encoding="utf-8"))
    region_rule = next(r for r in icd_rules["rules"] if r["id"] == "icd10.region-match")
    region_dx = {region: sorted({c for p in pats for c in tpi_dx if c == p.rstrip("*") or (p.endswith("*") and c.startswith(p[:-1]))})
                 for region, pats in region_rule["params"]["regions"].items()}
    return {"payers": payers, "by_region": {r: sorted(set(n)) for r, n in by_region.items()}, "region_dx": region_dx, "muscles": sorted(set(names)), "unnamed": unnamed, "substances": terms,
            "procedures": procedures, "ptp": [c for c in ptp if c not in TPI], "chapters": chapters,
            "chapter_keys": sorted(chapters), "billable": sorted(c for c, leaf in codes.items() if leaf),
            "tpi_dx": tpi_dx, "changed": changed}


def _day(rnd: random.Random, low: dt.date = FIRST_DAY, high: dt.date = LAST_DAY) -> dt.date:
    return dt.date.fromordinal(rnd.randint(low.toordinal(), high.toordinal()))


def _diagnosis(rnd: random.Random, v: dict) -> str:
    r = rnd.random()
    if r < 0.45:
        return rnd.choice(v["tpi_dx"])
    if r < 0.60:
        return rnd.choice(v["changed"])
    if r < 0.80:
        return rnd.choice(v["billable"])
    if r < 0.93:  # any code of a chapter, headers included
        return rnd.choice(v["chapters"][rnd.choice(v["chapter_keys"])])
    # well formed, most likely not a code
    letter = rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return f"{letter}{rnd.randint(0, 99):02d}.{rnd.choice(['9', '99', 'X9', '0A', '77', '999'])}"


def _injection(rnd: random.Random, v: dict, region: str | None) -> dict:
    r = rnd.random()
    inj: dict = {}
    if region and r < 0.85:
        inj["muscle"] = rnd.choice(v["by_region"][region])
    elif r < 0.70:
        inj["muscle"] = rnd.choice(v["muscles"])
    elif r < 0.80:
        inj["muscle"] = rnd.choice(v["unnamed"] + REGION_WORDS)
    elif r < 0.88:
        inj["muscle"] = rnd.choice(UNKNOWN_MUSCLES)
    elif r < 0.93:
        inj["muscle"] = rnd.choice(["right ", "left ", "bilateral ", "Lt ", ""]) + rnd.choice(v["muscles"]) + rnd.choice(["", " muscle"])
    # else: no muscle documented
    side = rnd.choice(["left", "right", "left", "right", "midline", None])
    if side:
        inj["side"] = side
    if rnd.random() < 0.7:
        inj["trigger_points"] = rnd.choice([1, 1, 2, 3, 4, 5, 8, rnd.randint(1, 99)])
    r = rnd.random()
    if r < 0.55:
        inj["substance"] = rnd.choice(SUBSTANCE_EXTRA[:3])
    elif r < 0.85:
        inj["substance"] = rnd.choice(v["substances"] + SUBSTANCE_EXTRA)
    if rnd.random() < 0.8:
        inj["dose"] = rnd.choice(DOSES)
    g = rnd.choice(GUIDANCE)
    if g != "none" or rnd.random() < 0.2:
        inj["guidance"] = g
    return inj


def _documentation(rnd: random.Random) -> dict:
    doc: dict = {}
    for key, p in (("trigger_points_on_exam", 0.8), ("focal_muscle_pain", 0.75), ("functional_limitation", 0.6),
                   ("abn_on_file", 0.15)):
        if rnd.random() < 0.9:
            doc[key] = rnd.random() < p
    if rnd.random() < 0.8:
        ct: dict = {"tried": rnd.sample(THERAPIES, rnd.randint(0, 4))}
        if rnd.random() < 0.85:
            ct["weeks"] = rnd.choice([0, 1, 2, 3, 4, 6, 8, 12, 26, 52, rnd.randint(0, 300)])
        ct["failed"] = rnd.random() < 0.7
        if rnd.random() < 0.8:
            ct["ongoing"] = rnd.random() < 0.6
        doc["conservative_therapy"] = ct
    if rnd.random() < 0.7:
        scale = rnd.choice(SCALES)
        top = 100 if scale == "VAS" else 10
        ps: dict = {}
        if scale:
            ps["scale"] = scale
        if rnd.random() < 0.9:
            ps["before"] = rnd.choice([rnd.randint(0, top), round(rnd.uniform(0, top), 1)])
        if rnd.random() < 0.8:
            ps["after"] = rnd.choice([rnd.randint(0, top), round(rnd.uniform(0, top), 1)])
        doc["pain_scores"] = ps
    if rnd.random() < 0.5:
        pr: dict = {}
        if rnd.random() < 0.9:
            pr["percent"] = rnd.choice([0, 20, 49, 50, 51, 60, 75, 100, round(rnd.uniform(0, 100), 1)])
        if rnd.random() < 0.85:
            pr["weeks"] = rnd.choice([0, 1, 2, 3, 4, 6, 8, 12, round(rnd.uniform(0, 30), 1)])
        pr["same_scale"] = rnd.random() < 0.6
        pr["dated"] = rnd.random() < 0.6
        doc["prior_relief"] = pr
    return doc


def _history(rnd: random.Random, v: dict, dos: dt.date, names: list[str]) -> list[dict]:
    k = rnd.choice([0, 0, 0, 1, 1, 2, 3, 4, 6, rnd.randint(0, 30)])
    out = []
    for _ in range(k):
        gap = rnd.choice([1, 3, 6, 7, 13, 14, 30, 45, 59, 60, 61, 89, 90, 91, 120, 180, 364, 365, 366, 700,
                          rnd.randint(1, 1500), rnd.randint(1, 120)])
        day = dos - dt.timedelta(days=gap) if rnd.random() < 0.96 else dos + dt.timedelta(days=rnd.randint(0, 20))
        s: dict = {"date": day.isoformat(), "code": rnd.choice(TPI * 4 + NEEDLING + ["20550", "64450"])}
        if rnd.random() < 0.5:
            s["muscles"] = rnd.sample(names, min(len(names), rnd.randint(1, 3))) if names and rnd.random() < 0.7 \
                else [rnd.choice(v["muscles"]) for _ in range(rnd.randint(1, 3))]
        out.append(s)
    return out


def _claim(rnd: random.Random, v: dict, enc: dict) -> list[dict] | None:
    if rnd.random() < 0.3:
        return None
    named = len({i.get("muscle") for i in enc["injections"] if i.get("muscle")})
    right = "20553" if named >= 3 else "20552"
    dx = enc.get("diagnoses", [])
    lines = []
    if enc["injections"] or rnd.random() < 0.3:
        r = rnd.random()
        code = right if r < 0.6 else rnd.choice(TPI + NEEDLING)  # the wrong code some of the time
        line: dict = {"code": code}
        if rnd.random() < 0.35:
            line["modifiers"] = rnd.choice(MODIFIER_ERRORS)
        if rnd.random() < 0.3:
            line["units"] = rnd.choice([1, 2, 3, named or 1, rnd.randint(1, 12)])
        line["diagnoses"] = _pointers(rnd, dx)
        lines.append(line)
        if rnd.random() < 0.08:  # the same service twice (e.g. one line a side)
            lines.append({"code": code, "modifiers": rnd.choice([["RT"], ["LT"], ["59"], []]), "diagnoses": _pointers(rnd, dx)})
    ev = enc.get("evaluation")
    if ev and rnd.random() < 0.8:
        line = {"code": ev["code"] if rnd.random() < 0.9 else rnd.choice(EM_CODES), "diagnoses": _pointers(rnd, dx)}
        if rnd.random() < 0.5:
            line["modifiers"] = ["25"] if rnd.random() < 0.8 else rnd.choice(MODIFIER_ERRORS)
        lines.append(line)
    for op in enc.get("other_procedures", []):
        if rnd.random() < 0.75:
            line = {"code": op["code"], "diagnoses": _pointers(rnd, dx)}
            r = rnd.random()
            if r < 0.35:
                line["modifiers"] = rnd.choice([["59"], ["XS"], ["XU"], ["XE"], ["XP"]])
            elif r < 0.45:
                line["modifiers"] = rnd.choice(MODIFIER_ERRORS)
            if rnd.random() < 0.3:
                line["units"] = rnd.choice([op.get("units", 1), 1, 2, 4, rnd.randint(1, 20)])
            lines.append(line)
    if rnd.random() < 0.05:  # a line for a service not documented
        lines.append({"code": rnd.choice(v["procedures"]), "diagnoses": _pointers(rnd, dx)})
    return lines


def _pointers(rnd: random.Random, dx: list[str]) -> list[str]:
    r = rnd.random()
    if r < 0.1 or not dx:
        return [] if rnd.random() < 0.7 else [rnd.choice(["M79.18", "M54.2", "Z00.00", "R52"])]
    if r < 0.2:  # a pointer to a diagnosis not documented
        return [rnd.choice(["M79.7", "M62.830", "M54.50", "S13.4XXA", "G89.29"])] + dx[:1]
    return rnd.sample(dx, rnd.randint(1, min(4, len(dx))))


def varied_encounter(rnd: random.Random, v: dict, ident: str) -> dict:
    dos = _day(rnd)
    enc: dict = {"id": ident, "payer": rnd.choice(v["payers"]), "date_of_service": dos.isoformat()}
    if rnd.random() < 0.6:
        enc["patient"] = f"P-{rnd.randint(1, 99999):05d}"
    # a third are coded by the book: muscles of one region, a diagnosis of that region first, pointed to
    tidy = rnd.choice(sorted(r for r in v["by_region"] if v["region_dx"].get(r))) if rnd.random() < 0.35 else None
    n_inj = rnd.choice([0, 1, 1, 2, 2, 3, 3, 4, 5, 6, rnd.randint(1, 14)])
    enc["injections"] = [_injection(rnd, v, tidy) for _ in range(n_inj)]
    n_dx = rnd.choice([0, 1, 1, 2, 2, 3, 4, 5, rnd.randint(1, 12)])
    if tidy:
        n_dx = max(n_dx, 1)
        dx: list[str] = [rnd.choice(v["region_dx"][tidy])]
    else:
        dx = [rnd.choice(CORE_DX)] if n_dx and rnd.random() < 0.6 else []
    for _ in range(n_dx - len(dx)):
        code = _diagnosis(rnd, v)
        if code not in dx:
            dx.append(code)
    enc["diagnoses"] = dx
    if rnd.random() < 0.4:
        enc["evaluation"] = {"code": rnd.choice(EM_CODES), "separately_identifiable": rnd.random() < 0.5}
        if rnd.random() < 0.3:
            enc["evaluation"]["new_patient"] = rnd.random() < 0.5
    if rnd.random() < 0.35:
        ops = []
        for _ in range(rnd.choice([1, 1, 1, 2, 3])):
            op: dict = {"code": rnd.choice(v["ptp"] if rnd.random() < 0.6 else v["procedures"])}
            if rnd.random() < 0.4:
                op["units"] = rnd.choice([1, 1, 2, 3, 4, rnd.randint(1, 12)])
            site = rnd.choice(SITES)
            if site:
                op["site"] = site
            op["distinct"] = rnd.random() < 0.5
            ops.append(op)
        enc["other_procedures"] = ops
    if rnd.random() < 0.95:
        enc["documentation"] = _documentation(rnd)
    names = [i["muscle"] for i in enc["injections"] if i.get("muscle")]
    enc["history"] = _history(rnd, v, dos, names)
    claim = _claim(rnd, v, enc)
    if claim and tidy and claim[0]["code"] in TPI and dx[0] not in claim[0]["diagnoses"]:
        claim[0]["diagnoses"] = [dx[0]] + claim[0]["diagnoses"][:3]
    if claim is not None:
        enc["claim"] = claim
    if rnd.random() < 0.1:
        enc["procedure_note"] = False
    for key in ("injections", "diagnoses", "history"):  # absent and empty both occur
        if not enc[key] and rnd.random() < 0.5:
            del enc[key]
    return enc


def varied_encounters(n: int, seed: int) -> list[dict]:
    """n contract-v1 encounters (JSON-ready dicts), every field drawn at random; the same seed, the same list."""
    v = _vocabulary()
    rnd = random.Random(seed)
    return [varied_encounter(rnd, v, f"varied-{seed}-{i}") for i in range(n)]


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--out", default="-", help="a JSON Lines file (default: standard output)")
    args = ap.parse_args(argv)
    text = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in varied_encounters(args.n, args.seed))
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
