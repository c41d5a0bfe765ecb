"""Every payer of the contract, its versions on their dates, and payers that disagree."""
import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import encounter, rules
from solver.engine import Engine
from solver.paths import KB_DIR, POLICIES_DIR
from solver.policy import load_policies

# The payers the contract promises; the tests below run over every payer of the policies folder, so a new
# payer file is tested without a change here.
CONTRACT_PAYERS = ["medicare-cgs", "medicare-ngs", "medicare-noridian-je", "medicare-noridian-jf", "medicare-palmetto",
                   "medicare-wps", "medicare-novitas", "medicare-fcso", "bcbsa", "cigna", "evicore", "commercial-default"]
POL = load_policies(POLICIES_DIR, KB_DIR)
PAYERS = sorted(POL.payers)
THREE_EARLIER = [{"date": "2023-09-01", "code": "20552", "muscles": ["trapezius"]},
                 {"date": "2023-12-01", "code": "20552", "muscles": ["trapezius"]},
                 {"date": "2024-03-01", "code": "20552", "muscles": ["trapezius"]}]
REPEAT_DOC = {"trigger_points_on_exam": True, "focal_muscle_pain": True, "functional_limitation": True,
              "conservative_therapy": {"tried": ["physical_therapy"], "weeks": 12, "failed": True, "ongoing": True},
              "pain_scores": {"scale": "NRS", "before": 7, "after": 3},
              "prior_relief": {"percent": 60, "weeks": 8, "same_scale": True, "dated": True}}


def test_every_payer_of_the_contract_is_shipped():
    assert set(CONTRACT_PAYERS) <= set(PAYERS), f"missing: {sorted(set(CONTRACT_PAYERS) - set(PAYERS))}"


@pytest.mark.parametrize("payer", PAYERS)
def test_every_payer_answers_every_date_since_2018(engine, payer):
    for day in ("2018-10-01", "2020-06-15", "2024-03-31", "2024-04-01", "2026-11-28"):
        r = engine.check(encounter(payer=payer, date_of_service=day))
        assert r["outcome"] in {"allow", "modify", "review", "deny"}
        assert r["claim"][0]["code"] == "20552"
        assert r["policy"]["versions"]


VERSION_BOUNDARIES = []
for pid, payer in POL.payers.items():
    for use in payer.uses:
        label = use.version or use.ruleset
        if use.from_:
            VERSION_BOUNDARIES += [(pid, label, use.from_ - dt.timedelta(days=1), False), (pid, label, use.from_, True)]
        if use.through:
            VERSION_BOUNDARIES += [(pid, label, use.through, True), (pid, label, use.through + dt.timedelta(days=1), False)]


@pytest.mark.parametrize("payer,version,day,in_force", VERSION_BOUNDARIES,
                         ids=[f"{p} {v} {d} {'in force' if f else 'not in force'}" for p, v, d, f in VERSION_BOUNDARIES])
def test_a_version_applies_from_its_first_day_through_its_last(engine, payer, version, day, in_force):
    r = engine.check(encounter(payer=payer, date_of_service=day.isoformat()))
    assert (version in r["policy"]["versions"]) is in_force
    cited = {f["policy_version"] for f in r["findings"]}
    assert in_force or version not in cited


def test_the_same_three_earlier_sessions_deny_under_cgs_but_not_under_novitas(engine):
    cgs = engine.check(encounter(payer="medicare-cgs", history=THREE_EARLIER, documentation=REPEAT_DOC))
    novitas = engine.check(encounter(payer="medicare-novitas", history=THREE_EARLIER, documentation=REPEAT_DOC))
    assert cgs["outcome"] == "deny" and "lcd.tpi-frequency" in rules(cgs)
    assert cgs["claim"][0]["modifiers"] == ["GZ"]
    assert novitas["outcome"] == "allow" and not any(r.startswith("novitas.") for r in rules(novitas))


def test_wps_answers_differently_either_side_of_the_uniform_lcd(engine):
    facts = dict(history=THREE_EARLIER[1:] + [{"date": "2024-03-20", "code": "20552", "muscles": ["trapezius"]}],
                 documentation=REPEAT_DOC)
    before = engine.check(encounter(payer="medicare-wps", date_of_service="2024-03-28", **facts))
    after = engine.check(encounter(payer="medicare-wps", date_of_service="2024-04-02", **facts))
    assert "L34588" in before["policy"]["versions"] and "L39713-uniform" not in before["policy"]["versions"]
    assert before["outcome"] == "review" and "gap.version-not-encoded" in rules(before)
    assert "L39713-uniform" in after["policy"]["versions"]
    assert after["outcome"] == "deny" and {"lcd.tpi-frequency", "lcd.tpi-interval-same-location"} <= rules(after)
    cite = next(f for f in after["findings"] if f["rule"] == "lcd.tpi-frequency")["citations"][0]
    assert "L39713" in cite["title"] and "lcdid=39713" in cite["url"]


@pytest.mark.parametrize("payer,lcd", [("medicare-ngs", "39662"), ("medicare-palmetto", "39671"), ("medicare-wps", "39713"),
                                       ("medicare-noridian-je", "34211"), ("medicare-noridian-jf", "36859"), ("medicare-cgs", "39656")])
def test_each_uniform_lcd_mac_cites_its_own_lcd(engine, payer, lcd):
    r = engine.check(encounter(payer=payer, date_of_service="2024-06-10", diagnoses=["M54.2"]))
    f = next(f for f in r["findings"] if f["rule"] == "lcd.tpi-covered-diagnoses")
    own = {f"lcdid={lcd}", "articleid=59480" if payer == "medicare-cgs" else f"lcdid={lcd}"}
    cited = {u.split("?")[-1] for u in (c["url"] for c in f["citations"]) if "?" in u}
    assert cited and cited <= own, cited


def test_sessions_before_a_new_lcd_count_with_a_note(engine):
    r = engine.check(encounter(payer="medicare-ngs", history=THREE_EARLIER, documentation=REPEAT_DOC))
    f = next(f for f in r["findings"] if f["rule"] == "lcd.tpi-frequency")
    assert any("before this policy's start (2024-04-01) are counted" in e for e in f["evidence"])


def test_a_new_payer_is_yaml_only(tmp_path):
    root = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, root)
    (root / "payers" / "acme-health.yaml").write_text(yaml.safe_dump({
        "payer": "acme-health", "name": "Acme Health", "kind": "commercial",
        "uses": [{"ruleset": "cpt-tpi", "version": "cpt"}, {"ruleset": "icd10cm", "version": "icd10cm"},
                 {"ruleset": "commercial-default", "version": "acme-2025", "from": "2025-01-01",
                  "params": {"commercial.frequency": {"max_sessions": 2}}}]}))
    eng = Engine(policies_dir=root)
    r = eng.check(encounter(payer="acme-health", date_of_service="2025-06-10", history=[
        {"date": "2024-09-01", "code": "20552"}, {"date": "2025-03-01", "code": "20552"}]))
    f = next(f for f in r["findings"] if f["rule"] == "commercial.frequency")
    assert "the limit of 2 sessions" in f["message"] and r["outcome"] == "deny"  # the payer's own limit
    r = eng.check(encounter(payer="acme-health", date_of_service="2024-12-31", history=THREE_EARLIER))
    assert "commercial.frequency" not in rules(r)


@pytest.mark.parametrize("payer,rule,history", [
    ("medicare-cgs", "lcd.tpi-frequency", THREE_EARLIER),
    ("medicare-cgs", "lcd.tpi-interval-same-location", [{"date": "2024-05-20", "code": "20552", "muscles": ["trapezius"]}]),
    ("cigna", "cigna.interval-21-days", [{"date": "2024-06-01", "code": "20552", "muscles": ["trapezius"]}]),
])
def test_a_frequency_finding_says_when_the_service_is_allowed_again(engine, payer, rule, history):
    r = engine.check(encounter(payer=payer, history=history, documentation=REPEAT_DOC))
    f = next(f for f in r["findings"] if f["rule"] == rule)
    again = dt.date.fromisoformat(next(e for e in f["evidence"] if e.startswith("allowed again"))[-10:])
    assert rule in rules(engine.check(encounter(payer=payer, history=history, documentation=REPEAT_DOC,
                                                date_of_service=(again - dt.timedelta(days=1)).isoformat())))
    assert rule not in rules(engine.check(encounter(payer=payer, history=history, documentation=REPEAT_DOC,
                                                    date_of_service=again.isoformat())))


def test_a_payer_added_as_a_file_is_tested_by_this_suite_without_a_change_to_it(tmp_path):
    root = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, root)
    acme = yaml.safe_load((root / "payers" / "commercial-default.yaml").read_text())
    acme.update(payer="acme-health", name="Acme Health")
    acme["uses"][3].update({"version": "acme-2025", "from": "2025-01-01"})
    (root / "payers" / "acme-health.yaml").write_text(yaml.safe_dump(acme, sort_keys=False))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(Path(__file__)),
                        "-k", "shipped or acme", "-rA"],
                       capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent,
                       env={**os.environ, "PAYERKB_POLICIES": str(root)})
    assert r.returncode == 0, r.stdout[-3000:]
    assert "answers_every_date_since_2018[acme-health]" in r.stdout
    assert "acme-health acme-2025 2025-01-01 in force" in r.stdout
