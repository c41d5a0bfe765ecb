"""The product never answers silently: what it leaves off, could not check or fills in, it says."""
import datetime as dt
import re

from solver.policy import Policies

from conftest import encounter, finding, inj, rules


def _lcd_ids(text: str) -> set[str]:
    return set(re.findall(r"lcdid=(\d+)", text)) | set(re.findall(r"articleid=(\d+)", text))


def test_a_tpi_left_off_for_a_ptp_edit_is_a_finding_that_names_the_edit(engine):
    r = engine.check(encounter(payer="commercial-default", diagnoses=["M79.12", "M17.12"],
                               other_procedures=[{"code": "20610", "units": 1, "site": "left knee"}]))
    assert [line["code"] for line in r["claim"]] == ["20610"]
    f = finding(r, "ncci.ptp-bundled")
    assert f["severity"] == "warning" and f["code"] == "20552"
    assert f["message"].startswith("20552 is left off the claim")
    assert any("column 1 20610, column 2 20552" in e for e in f["evidence"])
    assert f["citations"]


def test_an_e_m_left_off_as_included_in_the_procedure_says_so(engine):
    r = engine.check(encounter(evaluation={"code": "99213", "separately_identifiable": False}))
    assert [line["code"] for line in r["claim"]] == ["20552"]
    f = finding(r, "ncci.em-included-in-procedure")
    assert f["code"] == "99213" and f["evidence"] == ["20552 on the same claim"]


def test_no_tpi_code_is_recommended_without_a_named_muscle(engine):
    for muscles in (["paraspinals"], ["erector spinae", "upper back"]):
        r = engine.check(encounter(injections=[inj(m) for m in muscles]))
        assert not any(line["code"] in ("20552", "20553") for line in r["claim"]), r["claim"]
        assert finding(r, "cpt.tpi-no-named-muscle")["severity"] == "error"
        assert r["outcome"] == "deny"


def test_the_three_erector_spinae_muscles_count_as_three(engine):
    r = engine.check(encounter(payer="commercial-default",
                               injections=[inj("iliocostalis"), inj("longissimus"), inj("spinalis")]))
    assert [line["code"] for line in r["claim"]] == ["20553"]


def test_a_unit_finding_speaks_of_its_own_line(engine):
    r = engine.check(encounter(payer="commercial-default", claim=[
        {"code": "20552", "units": 1, "diagnoses": ["M79.12"]}, {"code": "20552", "units": 2, "diagnoses": ["M79.12"]}]))
    by_line = {f["line"]: f["message"] for f in r["findings"] if f["rule"] == "cpt.tpi-one-unit"}
    assert "(1 on this line, 3 on the claim)" in by_line[1]
    assert "(2 on this line, 3 on the claim)" in by_line[2]


def test_a_header_diagnosis_gets_its_own_finding_and_no_line_points_to_it(engine):
    r = engine.check(encounter(payer="commercial-default", date_of_service="2022-03-01", diagnoses=["M54.5", "M79.12"]))
    f = finding(r, "icd10.documented-not-billable")
    assert f["message"].startswith("M54.5 is documented") and "M54.5 is a header code, not billable on 2022-03-01" in f["evidence"]
    assert all("M54.5" not in line["diagnoses"] for line in r["claim"])


def test_a_derived_line_with_no_diagnosis_pointer_always_has_a_finding(engine):
    r = engine.check(encounter(payer="commercial-default", date_of_service="2022-03-01", diagnoses=["M54.5"]))
    assert r["claim"] and not r["claim"][0]["diagnoses"]
    assert {"icd10.diagnosis-required", "icd10.documented-not-billable"} <= rules(r)


def _all_cases():
    from solver.casetest import find_case_files, load_cases
    from solver.paths import POLICIES_DIR
    return [pair for path in find_case_files(POLICIES_DIR) for pair in load_cases(path)]


def test_no_message_leaves_a_placeholder_unfilled(engine):
    cases = _all_cases()  # every shipped case, every payer and date they cover
    assert cases
    for case, enc in cases:
        for f in engine.check(enc)["findings"]:
            assert not re.search(r"\{[a-z_0-9]*\}", f["message"]), (case.name, f["rule"], f["message"])


def test_a_finding_of_the_uniform_lcd_cites_its_own_mac_never_another(engine):
    pol: Policies = engine.policies
    own = {"medicare-cgs": {"39656", "59480"}, "medicare-ngs": {"39662"}, "medicare-palmetto": {"39671"},
           "medicare-wps": {"39713"}, "medicare-noridian-je": {"34211"}, "medicare-noridian-jf": {"36859"}}
    for payer, ids in own.items():
        for inst in pol.in_force(payer, dt.date(2024, 6, 10)):
            if inst.version == "national":
                continue
            cited = _lcd_ids(" ".join(c.url for c in inst.citations))
            assert cited and cited <= ids, (payer, inst.id, cited)


def test_ga_or_gz_follow_a_repeat_injection_denial(engine):
    history = [{"date": "2024-03-01", "code": "20552", "muscles": ["trapezius"]}]
    doc = {"trigger_points_on_exam": True, "focal_muscle_pain": True, "functional_limitation": True,
           "conservative_therapy": {"tried": ["physical_therapy"], "weeks": 8, "failed": True, "ongoing": True},
           "pain_scores": {"scale": "NRS", "before": 7, "after": 3}}
    no_relief = engine.check(encounter(history=history, documentation=doc))
    assert "lcd.tpi-repeat-response" in rules(no_relief)
    assert no_relief["claim"][0]["modifiers"] == ["GZ"]
    with_abn = engine.check(encounter(history=history, documentation={**doc, "abn_on_file": True}))
    assert with_abn["claim"][0]["modifiers"] == ["GA"]


def test_noridian_je_before_its_2019_revision_is_a_named_gap(engine):
    for day in ("2015-10-01", "2018-10-01", "2019-11-30"):
        r = engine.check(encounter(payer="medicare-noridian-je", date_of_service=day, diagnoses=["M79.12"] if day >= "2018-10-01" else ["M79.1"]))
        f = finding(r, "gap.version-not-encoded")
        assert f["policy_version"] == "L34211-2015" and r["outcome"] == "review", (day, r["outcome"])
    r = engine.check(encounter(payer="medicare-noridian-je", date_of_service="2019-12-01"))
    assert finding(r, "gap.version-not-encoded")["policy_version"] == "L34211-2019"


def test_every_medicare_payer_timeline_since_2018_is_encoded_or_a_named_gap_or_national_only(engine):
    """Walk each Medicare payer's versions from 2018-10-01: on every day an encoded LCD, a named gap, or the
    stated absence of a local policy applies, besides the national rules."""
    pol = engine.policies
    for payer in sorted(p for p, spec in pol.payers.items() if spec.kind == "medicare"):
        insts = pol.payer_instances(payer)
        bounds = {dt.date(2018, 10, 1)} | {i.start for i in insts if i.start} | {i.end + dt.timedelta(days=1) for i in insts if i.end}
        for day in sorted(b for b in bounds if b >= dt.date(2018, 10, 1)):
            versions = {i.version for i in pol.in_force(payer, day)} - {"national"}
            assert versions, (payer, day)


def test_clingo_says_nothing_while_the_cases_are_answered(engine):
    """Warnings are on: a misspelt predicate, or one a family uses that no grounded family defines, is a message."""
    for _case, enc in _all_cases():
        engine.check(enc)
    assert engine.messages == []


def test_a_date_before_icd10cm_is_answered_with_a_warning_saying_so(engine):
    r = engine.check(encounter(payer="commercial-default", date_of_service="2015-09-30", diagnoses=["M79.1"]))
    f = finding(r, "data.coverage")
    assert f["severity"] == "warning" and any("before ICD-10-CM took effect (2015-10-01)" in e for e in f["evidence"])
    assert "data.coverage" not in rules(engine.check(encounter(payer="commercial-default", date_of_service="2024-06-10")))


def test_a_date_after_a_code_tables_quarter_says_which_edition_the_answer_rests_on(engine):
    r = engine.check(encounter(payer="commercial-default", date_of_service="2026-12-01"))
    evidence = " ".join(finding(r, "data.coverage")["evidence"])
    assert "ncci-ptp-practitioner.csv: v30.1" in evidence and "known in force through 2024-06-30" in evidence
    assert "after the newest ICD-10-CM release held" in evidence


def test_a_diagnosis_between_two_releases_held_goes_to_review(engine):
    r = engine.check(encounter(payer="commercial-default", date_of_service="2023-01-10", diagnoses=["M79.12", "Z59.48"]))
    f = finding(r, "icd10.status-uncertain")
    assert f.get("review") and "Z59.48" in f["message"] and r["outcome"] == "review"


def test_also_valid_lists_only_modifiers_no_rule_disfavors_each_once(engine):
    r = engine.check(encounter(payer="commercial-default", diagnoses=["M79.12", "M17.12"],
                               other_procedures=[{"code": "20610", "units": 1, "site": "left knee", "distinct": True}]))
    tpi = [line for line in r["claim"] if line["code"] == "20552"]
    assert tpi and tpi[0]["modifiers"] == ["XS"]
    swapped = [next(line["modifiers"] for line in alt if line["code"] == "20552") for alt in r["alternatives"]]
    assert sorted(map(tuple, swapped)) == [("XE",), ("XU",)], swapped  # not 59 (prefer X), not XP (one provider)
    assert len(r["alternatives"]) == len({str(a) for a in r["alternatives"]})


def test_no_finding_of_any_case_cites_another_payers_lcd_or_article(engine):
    """The ids a payer may cite are those its payer file names and those of rule sets it alone adopts (its own
    LCD written as a rule set); rule sets shared by several payers cite national sources or what each supplies."""
    pol = engine.policies
    users: dict[str, set] = {}
    for pid, payer in pol.payers.items():
        for u in payer.uses:
            users.setdefault(u.ruleset, set()).add(pid)
    own = {}
    for pid, payer in pol.payers.items():
        urls = [c.url for u in payer.uses for c in [*u.citations, *u.cite.values()]]
        urls += [c.url for name, rs in pol.rulesets.items() if users.get(name) == {pid} for c in rs.citations.values()]
        own[pid] = _lcd_ids(" ".join(urls))
    for case, enc in _all_cases():
        for f in engine.check(enc)["findings"]:
            cited = _lcd_ids(" ".join(c["url"] for c in f["citations"]))
            assert cited <= own[enc.payer], (case.name, enc.payer, f["rule"], cited - own[enc.payer])
