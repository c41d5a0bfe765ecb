"""`payerkb policy diff OLD --witness`: with no corpus, the verdict per payer and date window and, for each
difference, a least encounter that `payerkb check` answers differently under the two folders."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from solver.paths import POLICIES_DIR

ROOT = Path(__file__).resolve().parent.parent
PAYER, DAY = "commercial-default", "2024-06-10"


def _cli(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "solver", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env)


def _copy(tmp_path, name):
    root = tmp_path / name
    shutil.copytree(POLICIES_DIR, root)
    return root


def _replace(path: Path, old: str, new: str):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture(scope="module")
def changed(tmp_path_factory):
    """NEW: the commercial frequency limit lowered from 4 to 3 sessions a year, and the injection-record rule
    (injectate and dose documented) no longer adopted."""
    root = _copy(tmp_path_factory.mktemp("witness"), "new")
    _replace(root / "rulesets" / "commercial-default.yaml", "max_sessions: 4, window_days: 365", "max_sessions: 3, window_days: 365")
    _replace(root / "payers" / "commercial-default.yaml", "    version: guidance\n",
             "    version: guidance\n    exclude: [commercial.injection-record]\n")
    return root


def _diff(old, new, *more):
    r = _cli("policy", "diff", old, "--witness", "--against", new, "--payer", PAYER, "--date", DAY, "--format", "json", *more)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _check(policies, encounter, tmp_path):
    path = tmp_path / f"{encounter['id']}.json"
    path.write_text(json.dumps(encounter), encoding="utf-8")
    r = _cli("check", path, "--format", "json", "--policies", policies)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)[0]


@pytest.fixture(scope="module")
def report(changed):
    return _diff(POLICIES_DIR, changed, "--limit", "1")


def test_a_lower_limit_and_a_rule_dropped_make_the_new_version_incomparable_with_a_witness_each_way(report):
    (payer,) = report["payers"]
    assert payer["payer"] == PAYER and payer["verdict"] == "incomparable"
    (window,) = payer["windows"]
    assert window["date"] == DAY and window["verdict"] == "incomparable" and window["complete"] is True
    assert window["changed_rules"] == {"old": ["commercial.frequency", "commercial.injection-record"], "new": ["commercial.frequency"]}
    by = {w["direction"]: w for w in window["witnesses"]}
    assert set(by) == {"stricter", "looser"}
    stricter, looser = by["stricter"], by["looser"]
    assert [r["rule"] for r in stricter["new"]["deciding_rules"]] == ["commercial.frequency"]
    assert "commercial.frequency" not in [r["rule"] for r in stricter["old"]["deciding_rules"]]
    assert stricter["new"]["outcome"] == "deny" and stricter["old"]["outcome"] in ("allow", "modify", "review")
    assert len([h for h in stricter["witness"]["history"] if h["date"] > "2023-06-10"]) == 3  # the fourth session in a year
    assert "commercial.injection-record" in [r["rule"] for r in looser["old"]["deciding_rules"]]
    assert "commercial.injection-record" not in [r["rule"] for r in looser["new"]["deciding_rules"]]
    assert looser["old"]["outcome"] == "deny" and looser["new"]["outcome"] != "deny"
    cites = stricter["new"]["deciding_rules"][0]["citations"]
    assert cites and all(c["url"].startswith("https://") for c in cites)


def test_each_witness_is_answered_differently_by_payerkb_check_under_each_folder(report, changed, tmp_path):
    for w in report["payers"][0]["windows"][0]["witnesses"]:
        before = _check(POLICIES_DIR, w["witness"], tmp_path)
        after = _check(changed, w["witness"], tmp_path)
        assert (before["outcome"], after["outcome"]) == (w["outcome"]["from"], w["outcome"]["to"])
        assert before["outcome"] != after["outcome"]
        assert (before["outcome"], after["outcome"]) == (w["old"]["outcome"], w["new"]["outcome"])


def test_the_lower_limit_alone_makes_the_new_version_stricter(tmp_path):
    new = _copy(tmp_path, "limit")
    _replace(new / "rulesets" / "commercial-default.yaml", "max_sessions: 4, window_days: 365", "max_sessions: 3, window_days: 365")
    report = _diff(POLICIES_DIR, new)
    window = report["payers"][0]["windows"][0]
    assert window["verdict"] == "stricter" and report["payers"][0]["verdict"] == "stricter"
    assert window["witnesses"] and {w["direction"] for w in window["witnesses"]} == {"stricter"}
    pairs = [(w["outcome"]["from"], w["outcome"]["to"]) for w in window["witnesses"]]
    assert len(set(pairs)) == len(pairs) and all(to == "deny" for _, to in pairs)
    costs = [w["cost"] for w in window["witnesses"]]
    assert costs[0] == min(costs)  # the least witness first


def test_an_unchanged_copy_is_equivalent(tmp_path):
    same = _copy(tmp_path, "same")
    report = _diff(POLICIES_DIR, same)
    window = report["payers"][0]["windows"][0]
    assert report["payers"][0]["verdict"] == "equivalent" and window["verdict"] == "equivalent" and window["witnesses"] == []


def test_a_change_of_wording_is_equivalent_without_a_search_and_the_text_report_says_so(tmp_path):
    new = _copy(tmp_path, "wording")
    _replace(new / "rulesets" / "commercial-default.yaml", "title: At most 4 TPI sessions in a rolling 12 months (a parameter)",
             "title: No more than 4 TPI sessions in a rolling year (a parameter)")
    r = _cli("policy", "diff", POLICIES_DIR, "--witness", "--against", new, "--payer", PAYER, "--date", DAY)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{PAYER}: equivalent\n")
    assert f"answered on {DAY}: equivalent (the same rules are in force under both versions)" in r.stdout


def test_a_list_written_in_another_order_is_proved_equivalent_by_the_search(tmp_path):
    new = _copy(tmp_path, "order")
    _replace(new / "rulesets" / "icd10cm.yaml", "shoulder: [M79.1, M79.10, M79.12, M79.18, M62.838]",
             "shoulder: [M62.838, M79.18, M79.12, M79.10, M79.1]")
    window = _diff(POLICIES_DIR, new)["payers"][0]["windows"][0]
    assert "note" not in window  # the rules differ as written: the solver searched the space
    assert window["verdict"] == "equivalent" and window["witnesses"] == [] and window["complete"] is True


def test_witness_mode_takes_no_files_and_knows_its_payers(changed, tmp_path):
    r = _cli("policy", "diff", POLICIES_DIR, ROOT / "examples" / "encounters.yaml", "--witness", "--against", changed)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "--witness searches without encounter files" in r.stderr
    r = _cli("policy", "diff", POLICIES_DIR, "--witness", "--payer", "nobody")
    assert r.returncode == 2 and "--payer: unknown payer 'nobody'" in r.stderr
    r = _cli("policy", "diff", POLICIES_DIR)
    assert r.returncode == 2 and "give the encounter files" in r.stderr


def test_the_search_keeps_clingo_silent_and_holds_both_versions_under_distinct_keys(changed):
    import datetime as dt

    from solver.engine import Engine
    from solver import witness
    from solver.verify import space as sp
    old, new = Engine(), Engine(policies_dir=changed)
    day = dt.date.fromisoformat(DAY)
    msgs: list[str] = []
    ctl, _sf, off = witness.build(old, new, PAYER, day, sp.load_space(sp.SPACE_FILE, new.policies), msgs)
    ctl.ground([("base", [])])
    names = {(a.symbol.arguments[0].number, a.symbol.arguments[2].string) for a in ctl.symbolic_atoms.by_signature("rule_name", 4)}
    assert (old.policies.in_force(PAYER, day)[0].index, old.policies.in_force(PAYER, day)[0].id) in names
    assert any(k >= off and rid == "commercial.frequency" for k, rid in names)
    assert not any(k >= off and rid == "commercial.injection-record" for k, rid in names)
    s = witness.search_window(old, new, PAYER, witness.windows(old.policies, new.policies, PAYER, day)[0],
                              sp.load_space(sp.SPACE_FILE, new.policies), limit=1)
    assert s.verdict() == "incomparable"
    assert msgs == [] and old.messages == [] and new.messages == []


def test_a_verdict_found_one_way_while_the_other_way_stopped_unfinished_says_it_may_be_incomparable():
    import datetime as dt

    from solver.witness import Search, Window, _first_per_rule
    s = Search(Window(None, None, dt.date(2024, 6, 10)), witnesses=[{"direction": "stricter"}], refuted=25)
    s.complete["looser"] = False
    assert s.verdict() == "stricter" and "may also be incomparable" in s.caveat()
    s.complete["looser"] = True
    assert s.caveat() is None
    two_lines = [{"rule": "a", "line": 1}, {"rule": "b"}, {"rule": "a", "line": 2}]
    assert _first_per_rule(two_lines) == two_lines[:2]
