"""The command line as a user meets it."""
import json
import subprocess
import sys
from pathlib import Path

import clingo

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples" / "encounters.yaml")
PAYERKB = [sys.executable, "-m", "solver"]


def run(*args, stdin=None):
    return subprocess.run(PAYERKB + [str(a) for a in args], input=stdin, capture_output=True, text=True)


def test_check_prints_claim_findings_and_citations_as_text():
    r = run("check", EXAMPLE)
    assert r.returncode == 0, r.stderr
    assert "enc-0001" in r.stdout and "MODIFY" in r.stdout
    assert "cpt.tpi-code-by-muscle-count" in r.stdout
    assert "source: " in r.stdout
    assert "3 encounters: 1 allow, 1 modify, 1 deny" in r.stdout


def test_check_json_answers_every_encounter_with_the_contract_fields():
    r = run("check", EXAMPLE, "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [o["encounter"] for o in out] == ["enc-0001", "enc-0002", "enc-0003"]
    for o in out:
        assert set(o) >= {"encounter", "payer", "date_of_service", "outcome", "claim", "alternatives", "findings", "policy"}
        assert o["policy"]["version"].startswith("sha256:")
        for f in o["findings"]:
            assert set(f) >= {"rule", "category", "severity", "line", "message", "citations", "evidence"}
            if f["severity"] == "error":
                assert f["citations"], f["rule"]
    first = out[0]
    assert first["claim"][0]["code"] == "20553" and "50" not in first["claim"][0]["modifiers"]
    assert all(l["code"] != "99213" for l in first["claim"])  # E/M not separately identifiable: included


def test_check_reads_stdin_and_json_lines_in_json_lines_out():
    enc = {"id": "s-1", "payer": "commercial-default", "date_of_service": "2024-06-10",
           "injections": [{"muscle": "trapezius", "side": "left", "substance": "lidocaine", "dose": "1 mL"}], "diagnoses": ["M79.12"]}
    text = json.dumps(enc) + "\n" + json.dumps(dict(enc, id="s-2")) + "\n"
    r = run("check", "-", "--format", "json", stdin=text)
    lines = r.stdout.strip().splitlines()
    assert [json.loads(x)["encounter"] for x in lines] == ["s-1", "s-2"]


def test_what_if_another_payer_and_date():
    r = run("check", EXAMPLE, "--format", "json", "--payer", "commercial-default")
    assert {o["payer"] for o in json.loads(r.stdout)} == {"commercial-default"}
    r = run("check", EXAMPLE, "--format", "json", "--date", "2024-03-29")
    out = json.loads(r.stdout)
    assert {o["date_of_service"] for o in out} == {"2024-03-29"}
    assert not any(rid.startswith("lcd.") for rid in out[0]["policy"]["rules"])  # before L39656


def test_fail_on_sets_exit_code_one():
    assert run("check", EXAMPLE, "--fail-on", "error").returncode == 1
    r = run("check", EXAMPLE, "--format", "json")
    assert r.returncode == 0


def test_policy_list_and_show():
    r = run("policy", "list")
    assert r.returncode == 0 and "medicare-cgs" in r.stdout and "commercial-default" in r.stdout
    assert "2024-04-01" in r.stdout
    assert "code table ncci-ptp-practitioner.csv:" in r.stdout and "ccipra-v301r0" in r.stdout and "confidence high" in r.stdout
    r = run("policy", "show", "medicare-cgs", "--date", "2024-06-10", "--format", "json")
    rules = {x["rule"]: x for x in json.loads(r.stdout)}
    assert rules["lcd.tpi-frequency"]["params"]["max_sessions"] == 3
    assert any("L39656" in c["title"] for c in rules["lcd.tpi-frequency"]["citations"])
    r = run("policy", "show", "medicare-cgs", "--date", "2024-03-31", "--format", "json")
    assert "lcd.tpi-frequency" not in {x["rule"] for x in json.loads(r.stdout)}


def test_the_policy_cases_pass_through_the_test_command():
    r = run("test")
    assert r.returncode == 0, r.stdout + r.stderr
    assert " passed, 0 failed" in r.stdout


def test_the_test_command_names_a_rule_no_case_exercises(tmp_path):
    import shutil
    root = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", root)
    rules = root / "rulesets" / "commercial-default.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").rstrip() + """
  - id: commercial.five-regions
    family: regions_per_session
    title: At most 5 regions a session
    category: coverage
    severity: error
    confidence: low
    params: {slot: tpi, max_regions: 5}
    message: "More than 5 regions."
    citations: [pmr-guidance]
""", encoding="utf-8")
    r = run("--policies", root, "test")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rules no case exercises under any payer: commercial.five-regions;" in r.stdout
    r = run("--policies", root, "test", "--format", "json")
    assert json.loads(r.stdout)["reached_by_no_case"] == ["commercial.five-regions"]
    assert "rules no case exercises" not in run("test").stdout  # every shipped rule has its cases


def test_a_failing_case_prints_expected_and_actual_side_by_side(tmp_path):
    p = tmp_path / "x.cases.yaml"
    p.write_text("""cases:
  - name: deliberately wrong
    violates: [lcd.tpi-frequency]
    encounter: {payer: medicare-cgs, date_of_service: 2024-06-10,
                injections: [{muscle: trapezius, side: left, substance: lidocaine, dose: 1 mL}], diagnoses: [M79.12]}
    expect: {outcome: allow}
""")
    r = run("test", p)
    assert r.returncode == 1
    assert "FAIL" in r.stderr and "expected" in r.stderr and "actual" in r.stderr
    assert "rule lcd.tpi-frequency" in r.stderr and "not violated" in r.stderr
    assert "0 passed, 1 failed" in r.stdout


def test_compile_replays_with_plain_clingo(tmp_path):
    enc = tmp_path / "one.yaml"
    enc.write_text((ROOT / "examples" / "encounters.yaml").read_text().split("\n- id: enc-0002")[0])
    facts = tmp_path / "facts.lp"
    r = run("compile", enc, "-o", facts)
    assert r.returncode == 0, r.stderr
    ctl = clingo.Control(["--opt-strategy=usc", "--warn=none"])
    ctl.load(str(ROOT / "kb" / "main.lp"))
    ctl.load(str(facts))
    ctl.ground([("base", [])])
    models = []
    ctl.solve(on_model=lambda m: models.append([str(s) for s in m.symbols(shown=True)]))
    final = models[-1]
    engine_out = json.loads(run("check", enc, "--format", "json").stdout)[0]
    rules = {f["rule"] for f in engine_out["findings"]}
    names = {}
    for line in facts.read_text().splitlines():
        if line.startswith("rule_name("):
            k, rest = line[len("rule_name("):].split(",", 1)
            names[k] = rest.split('"')[3]
    replay_rules = {names[s.split(",")[2]] for s in final if s.startswith("violation(")}
    assert replay_rules == rules
    assert 'line(0,cand,tpi,"20553")' in final


def test_the_readme_example_answers_as_the_readme_shows():
    import re
    readme = (ROOT / "README.md").read_text()
    enc = re.search(r"### Input: an encounter.*?```yaml\n(.*?)```", readme, re.S).group(1)
    shown = json.loads(re.search(r"### Output: a result.*?```json\n(.*?)```", readme, re.S).group(1).replace("...", ""))
    r = run("check", "-", "--format", "json", stdin=enc)
    got = json.loads(r.stdout)[0]
    assert (got["outcome"], got["claim"]) == (shown["outcome"], shown["claim"])
    assert [f["rule"] for f in got["findings"]] == [f["rule"] for f in shown["findings"]]


def test_answers_do_not_depend_on_the_hash_seed():
    import os
    outs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        outs.append(subprocess.run(PAYERKB + ["check", EXAMPLE, "--format", "json"], capture_output=True, text=True, env=env).stdout)
    assert outs[0] == outs[1] and outs[0]


def test_policy_diff_shows_what_a_change_does(tmp_path):
    import shutil
    import yaml
    changed = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", changed)
    path = changed / "rulesets" / "lcd-uniform-tpi.yaml"
    data = yaml.safe_load(path.read_text())
    next(r for r in data["rules"] if r["id"] == "lcd.tpi-frequency")["params"]["max_sessions"] = 4
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    r = run("policy", "diff", ROOT / "policies", EXAMPLE, "--against", changed, "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["encounters"] == 3
    assert [d["encounter"] for d in out["changed"]] == ["enc-0003"]
    assert out["changed"][0]["outcome"] == ["deny", "allow"]
    assert "lcd.tpi-frequency (error)" in out["changed"][0]["findings_removed"]


def test_check_with_a_policies_folder_of_ones_own(tmp_path):
    r = run("--policies", tmp_path / "nowhere", "check", EXAMPLE)
    assert r.returncode == 2 and "no such policies folder" in r.stderr


def test_schema_describes_the_encounter_contract():
    r = run("schema")
    schema = json.loads(r.stdout)
    assert set(schema["required"]) == {"id", "payer", "date_of_service"}
    assert schema["additionalProperties"] is False
    assert "injections" in schema["properties"] and "claim" in schema["properties"]
