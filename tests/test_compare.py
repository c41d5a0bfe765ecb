"""payerkb compare: payers side by side, the claim valid for all, where they part, and the dates the answer changes."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.api import check
from solver.encounter import Encounter
from solver.engine import Engine
from solver.explore.change_dates import signature
from solver.explore.compare import compare

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = json.loads(json.dumps(yaml.safe_load((ROOT / "examples" / "encounters.yaml").read_text()), default=str))
MEDICARE = ["medicare-cgs", "medicare-fcso", "medicare-ngs", "medicare-noridian-je", "medicare-noridian-jf",
            "medicare-novitas", "medicare-palmetto", "medicare-wps"]


@pytest.fixture(scope="module")
def engine():
    return Engine()


@pytest.fixture(scope="module")
def enc1_all(engine):
    return compare(engine, Encounter.model_validate(EXAMPLES[0]))


def test_compare_over_all_payers_has_one_row_per_payer_with_the_outcome_and_claim_check_gives(engine, enc1_all):
    assert [r["payer"] for r in enc1_all["rows"]] == sorted(engine.policies.payers)
    for row in enc1_all["rows"]:
        alone = check(EXAMPLES[0], payer=row["payer"])
        assert (row["outcome"], row["claim"]) == (alone["outcome"], alone["claim"]), row["payer"]
        deciding = {f["rule"] for f in alone["findings"] if f["severity"] == "error" or f.get("review")}
        assert {d["rule"] for d in row["deciding_rules"]} == deciding
        assert all(d["citations"] for d in row["deciding_rules"])


def test_the_common_claim_is_found_and_really_valid_under_every_payer(enc1_all):
    common = enc1_all["common_claim"]
    assert common == [{"code": "20553", "modifiers": [], "units": 1, "diagnoses": ["M79.12"]}]
    for row in enc1_all["rows"]:
        r = check(dict(EXAMPLES[0], claim=common), payer=row["payer"])
        assert r["claim"] == common, row["payer"]
        assert not [f for f in r["findings"] if f["line"] and f["severity"] == "error"], row["payer"]


def test_the_rules_where_payers_part_are_named_with_their_payers(enc1_all):
    parting = {p["rule"]: p for p in enc1_all["parting_rules"]}
    assert parting["ncci.bilateral-indicator-0"]["payers"] == MEDICARE
    assert parting["commercial.modifier-50-without-bilateral"]["payers"] == ["commercial-default"]
    assert "cpt.tpi-code-by-muscle-count" not in parting  # it decides for every payer
    assert parting["ncci.bilateral-indicator-0"]["not_in_force"] == ["bcbsa", "cigna", "commercial-default", "evicore"]


def test_no_common_claim_when_payers_want_opposite_modifiers_and_the_flagging_rules_are_named(engine):
    answer = compare(engine, Encounter.model_validate(EXAMPLES[1]))
    assert answer["common_claim"] is None
    parting = {p["rule"]: p for p in answer["parting_rules"]}
    assert parting["commercial.bilateral-modifier-50"]["payers"] == ["commercial-default"]  # wants 50 on both trapezii
    assert set(MEDICARE) <= set(parting["ncci.bilateral-indicator-0"]["payers"])  # Medicare refuses 50 on 20552
    assert all("50" in c[0]["modifiers"] for c in parting["ncci.bilateral-indicator-0"]["flags"])


@pytest.fixture(scope="module")
def sweep(engine):
    return compare(engine, Encounter.model_validate(EXAMPLES[2]), start=dt.date(2018, 10, 1), end=dt.date(2026, 6, 30))


def test_a_date_sweep_finds_the_lcd_start_and_the_frequency_roll_off(sweep):
    changes = {c["date"]: c for c in sweep["change_dates"]}
    lcd = changes["2024-04-01"]
    assert any("L39656" in r and "in force from 2024-04-01" in r for r in lcd["reasons"])
    assert "gap.no-local-policy" in {f["rule"] for f in lcd["findings_removed"]}
    assert not [r for r in lcd["reasons"] if "PTP" in r or "ICD-10-CM" in r]  # dates of that day that changed nothing here
    off = changes["2025-01-14"]
    assert (off["from"]["outcome"], off["to"]["outcome"]) == ("deny", "allow")
    assert any("2024-01-15 leaves the 365-day window of lcd.tpi-frequency" in r for r in off["reasons"])
    assert "lcd.tpi-frequency" in {f["rule"] for f in off["findings_removed"]}
    interval = changes["2024-05-14"]
    assert any("42 days after the session of 2024-04-02" in r for r in interval["reasons"])
    assert sweep["searched"]["dates_answered"] < 40 < sweep["searched"]["days"]


def test_a_date_sweep_reports_no_date_where_nothing_changes(engine, sweep):
    enc = Encounter.model_validate(EXAMPLES[2])
    days = [dt.date.fromisoformat(c["date"]) for c in sweep["change_dates"]]
    pairs = [enc.model_copy(update={"date_of_service": d + off}) for d in days for off in (dt.timedelta(days=-1), dt.timedelta())]
    results = engine.check_many(pairs)
    for n, d in enumerate(days):
        assert signature(results[2 * n]) != signature(results[2 * n + 1]), d
    rows = {(r["payer"], r["date_of_service"]) for r in sweep["rows"]}
    assert rows == {("medicare-cgs", "2018-10-01")} | {("medicare-cgs", d.isoformat()) for d in days}


def _day_by_day(engine, enc, start, end):
    days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
    sigs = [signature(r) for r in engine.check_many([enc.model_copy(update={"date_of_service": d}) for d in days])]
    return [days[n].isoformat() for n in range(1, len(days)) if sigs[n] != sigs[n - 1]]


ANCHORS = [dt.date(2018, 10, 1), dt.date(2021, 1, 1), dt.date(2021, 10, 1), dt.date(2023, 10, 1), dt.date(2024, 4, 1),
           dt.date(2024, 7, 1), dt.date(2025, 4, 1), dt.date(2025, 10, 1), dt.date(2026, 4, 1)]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payer=st.sampled_from(["medicare-cgs", "medicare-novitas", "medicare-palmetto", "cigna", "evicore", "bcbsa", "commercial-default"]),
       anchor=st.one_of(st.sampled_from(ANCHORS), st.dates(dt.date(2018, 6, 1), dt.date(2026, 6, 1))),
       sessions=st.lists(st.integers(1, 400), min_size=0, max_size=3, unique=True),
       diagnoses=st.sampled_from([["M79.12"], ["M54.5", "M79.12"], ["M54.50"], ["M79.1"]]),
       before=st.integers(0, 30), length=st.integers(5, 45))
def test_the_change_dates_are_exactly_where_a_day_by_day_check_changes(engine, payer, anchor, sessions, diagnoses, before, length):
    start = anchor - dt.timedelta(days=before)
    history = [{"date": (anchor - dt.timedelta(days=s)).isoformat(), "code": "20552", "muscles": ["trapezius"]} for s in sorted(sessions)]
    enc = Encounter.model_validate(dict(EXAMPLES[2], payer=payer, history=history, diagnoses=diagnoses))
    end = start + dt.timedelta(days=length)
    answer = compare(engine, enc, [payer], start=start, end=end)
    assert [c["date"] for c in answer["change_dates"]] == _day_by_day(engine, enc, start, end)


def test_compare_on_the_command_line_prints_rows_and_json_and_rejects_an_unknown_payer():
    run = lambda *a: subprocess.run([sys.executable, "-m", "solver", "compare", "examples/encounters.yaml", *a],
                                    capture_output=True, text=True, cwd=ROOT)
    r = run("--id", "enc-0001", "--payers", "cigna,medicare-cgs", "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [row["payer"] for row in out["rows"]] == ["cigna", "medicare-cgs"]
    assert set(out) >= {"encounter", "rows", "common_claim", "parting_rules", "change_dates"}
    r = run("--id", "enc-0003", "--from", "2024-01-01", "--to", "2025-03-01")
    assert r.returncode == 0 and "2025-01-14 medicare-cgs: deny -> allow" in r.stdout and "365-day window" in r.stdout
    r = run("--id", "enc-0001", "--payers", "nobody")
    assert r.returncode == 2 and "--payers" in r.stderr and "unknown payer 'nobody'" in r.stderr and "Traceback" not in r.stderr
    r = run("--id", "enc-0001", "--from", "2024-01-01")
    assert r.returncode == 2 and "--to" in r.stderr


def test_payers_all_over_a_range_sweeps_every_payer_and_the_default_is_the_encounters_own(engine):
    enc = Encounter.model_validate(EXAMPLES[2])
    every = compare(engine, enc, "all", start=dt.date(2024, 3, 25), end=dt.date(2024, 4, 5))
    assert {r["payer"] for r in every["rows"]} == set(engine.policies.payers)
    assert "medicare-cgs" in {c["payer"] for c in every["change_dates"] if c["date"] == "2024-04-01"}
    own = compare(engine, enc, start=dt.date(2024, 3, 25), end=dt.date(2024, 4, 5))
    assert {r["payer"] for r in own["rows"]} == {"medicare-cgs"}


def _sample_encounters(engine) -> list[Encounter]:
    """The bundled examples and the first case of each policy cases file."""
    from solver.casetest import find_case_files, load_case_files
    out = [Encounter.model_validate(e) for e in EXAMPLES]
    for _file, cases in load_case_files(find_case_files(engine.policies.root)):
        out += [enc for _case, enc in cases[:1]]
    return out


def test_the_single_program_and_the_candidates_batch_agree_and_its_claim_is_valid_for_every_payer(engine):
    from solver.explore.common_claim import _candidates, answers, as_context, single_program
    payers = sorted(engine.policies.payers)
    found = 0
    for enc in _sample_encounters(engine):
        rows = [(p, enc.date_of_service) for p in payers]
        program = single_program(engine, [as_context(enc, p, d) for p, d in rows])
        batch = _candidates(engine, enc, answers(engine, [as_context(enc, p, d) for p, d in rows]), rows)["claim"]
        assert (program is None) == (batch is None), enc.id
        if program is None:
            continue
        found += 1
        for r in answers(engine, [as_context(enc, p, d, program) for p, d in rows]):
            assert r["claim"] == program, (enc.id, r["payer"])
            assert not [f for f in r["findings"] if f["line"] and (f["severity"] == "error" or f.get("review"))], (enc.id, r["payer"])
    assert found >= 2
