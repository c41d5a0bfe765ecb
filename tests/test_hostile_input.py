"""Hostile input never loses a record: every record in gets a result out, in order; a bad one is an error
result naming its file, record and field; no traceback; exit 2."""
import copy
import json
import subprocess
import sys

import pytest

from conftest import BASE
from solver import batch
from solver.batch import Job
from solver.encounter import Encounter
from solver.reading import MAX_DEPTH, read_bytes

PAYERKB = [sys.executable, "-m", "solver"]
# 31 billable ICD-10-CM codes (FY2026), enough to overflow a weight of 2**rank
MANY_DIAGNOSES = ["M00.00", "M00.011", "M00.012", "M00.019", "M00.021", "M00.022", "M00.029", "M00.031", "M00.032",
                  "M00.039", "M00.041", "M00.042", "M00.049", "M00.051", "M00.052", "M00.059", "M00.061", "M00.062",
                  "M00.069", "M00.071", "M00.072", "M00.079", "M00.08", "M00.09", "M00.10", "M00.111", "M00.112",
                  "M00.119", "M00.121", "M00.122", "M00.129"]


def run(*args, stdin=None):
    return subprocess.run(PAYERKB + [str(a) for a in args], input=stdin, capture_output=True)


def enc(**changes):
    raw = copy.deepcopy(BASE)
    raw.update(changes)
    return raw


def check_json(tmp_path, name, data: bytes, *extra):
    path = tmp_path / name
    path.write_bytes(data)
    r = run("check", path, "--format", "json", *extra)
    assert b"Traceback" not in r.stderr, r.stderr.decode()
    return r, r.stdout.decode(), r.stderr.decode()


def results(stdout: str) -> list[dict]:
    stdout = stdout.strip()
    return json.loads(stdout) if stdout.startswith("[") else [json.loads(x) for x in stdout.split("\n")]


def _with(raw, path, value):
    node = raw
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    node[path[-1]] = value
    return raw


HUGE_INTS = {
    "claim.0.units": (["claim", 0, "units"], lambda r: r.update(claim=[{"code": "20552"}])),
    "other_procedures.0.units": (["other_procedures", 0, "units"], lambda r: r.update(other_procedures=[{"code": "96372"}])),
    "documentation.conservative_therapy.weeks": (["documentation", "conservative_therapy", "weeks"], None),
    "documentation.prior_relief.weeks": (["documentation", "prior_relief", "weeks"],
                                         lambda r: r["documentation"].update(prior_relief={"percent": 60})),
}


@pytest.mark.parametrize("field", sorted(HUGE_INTS))
@pytest.mark.parametrize("value", [2**31, 10**40])
def test_an_integer_past_32_bits_is_an_error_of_its_field_and_the_next_record_is_answered(tmp_path, field, value):
    path, prepare = HUGE_INTS[field]
    bad = enc(id="huge")
    if prepare:
        prepare(bad)
    _with(bad, path, value)
    text = json.dumps(bad) + "\n" + json.dumps(enc(id="next")) + "\n"
    r, out, err = check_json(tmp_path, "e.jsonl", text.encode())
    assert r.returncode == 2
    got = results(out)
    assert [(o["encounter"], o["outcome"]) for o in got] == [("huge", "error"), ("next", "allow")]
    assert f"line 1 (id huge): {field}: Input should be less than or equal to" in err


@pytest.mark.parametrize("name", ["e.json", "e.jsonl"])
def test_a_number_too_long_for_python_to_read_is_an_error_of_its_field_and_the_others_are_answered(tmp_path, name):
    """Python converts at most 4,300 digits to an int: a longer JSON number costs its field, not the document."""
    bad = json.dumps(enc(id="long", claim=[{"code": "20552", "units": 7777}])).replace("7777", "9" * 5000)
    good = json.dumps(enc(id="next"))
    data = (f"[{bad}, {good}]" if name == "e.json" else f"{bad}\n{good}\n").encode()
    r, out, err = check_json(tmp_path, name, data)
    assert r.returncode == 2
    assert [(o["encounter"], o["outcome"]) for o in results(out)] == [("long", "error"), ("next", "allow")]
    assert "(id long): claim.0.units: Unable to parse input string as an integer, exceeded maximum size" in err


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1e400"])
def test_an_infinite_number_in_yaml_is_an_error_of_its_field(tmp_path, value):
    text = (f"- {{id: inf, payer: medicare-cgs, date_of_service: 2024-06-10, documentation: {{prior_relief: {{percent: 50, weeks: {value}}}}}}}\n"
            "- {id: fine, payer: medicare-cgs, date_of_service: 2024-06-10}\n")
    r, out, err = check_json(tmp_path, "e.yaml", text.encode())
    assert r.returncode == 2
    assert [(o["encounter"], o["outcome"]) for o in results(out)] == [("inf", "error"), ("fine", "allow")]
    assert "record 1 (id inf): documentation.prior_relief.weeks:" in err


def test_thirty_one_diagnoses_are_an_error_naming_the_bound_not_a_solver_crash(tmp_path):
    data = json.dumps([enc(id="many", diagnoses=MANY_DIAGNOSES), enc(id="next")]).encode()
    r, out, err = check_json(tmp_path, "e.json", data)
    assert r.returncode == 2
    assert [(o["encounter"], o["outcome"]) for o in results(out)] == [("many", "error"), ("next", "allow")]
    assert "record 1 (id many): diagnoses: List should have at most 12 items" in err


def test_the_diagnosis_weight_stays_in_32_bits_whatever_the_rank(engine, monkeypatch):
    """kb/claims.lp caps the rank in W = 2**R: 31 ranks (past the contract's bound) still solve."""
    from solver import facts
    e = Encounter.model_validate(enc(id="ranks", diagnoses=MANY_DIAGNOSES[:12]))
    real = facts.encounter_facts

    def ranked_far(pol, encounter, key):
        ef = real(pol, encounter, key)
        from clingo import Function, Number, String
        ef.symbols += [Function("diagnosis", [Number(key), String(d), Number(r)]) for r, d in enumerate(MANY_DIAGNOSES[12:], start=13)]
        ef.symbols += [Function("diagnosis_status", [Number(key), String(d), String("billable")]) for d in MANY_DIAGNOSES[12:]]
        return ef

    monkeypatch.setattr("solver.engine.encounter_facts", ranked_far)
    result = engine.check(e)
    assert result["outcome"] != "error", result
    assert result["claim"][0]["code"] == "20552"


def _bound(prop: dict, key: str):
    return prop.get(key, next((alt[key] for alt in prop.get("anyOf", []) if key in alt), None))


def test_limits_of_a_real_claim_are_in_the_schema():
    schema = Encounter.model_json_schema()
    props, defs = schema["properties"], schema["$defs"]
    assert props["diagnoses"]["maxItems"] == 12 and "837P" in props["diagnoses"]["description"]
    assert _bound(props["claim"], "maxItems") == 50
    line = defs["ClaimLine"]["properties"]
    assert line["units"]["maximum"] == 999 and "MUE" in line["units"]["description"]
    assert line["modifiers"]["maxItems"] == 4 and line["diagnoses"]["maxItems"] == 4
    assert defs["OtherProcedure"]["properties"]["units"]["maximum"] == 999
    assert _bound(defs["PriorRelief"]["properties"]["percent"], "maximum") == 100
    assert _bound(defs["ConservativeTherapy"]["properties"]["weeks"], "maximum") == 5200
    assert _bound(defs["PainScores"]["properties"]["before"], "maximum") == 100
    assert props["id"]["maxLength"] == 100


@pytest.mark.parametrize("field,value", [
    ("claim", [{"code": "20552", "modifiers": ["59", "XS", "XU", "XE", "XP"]}]),
    ("claim", [{"code": "20552", "diagnoses": ["M79.11", "M79.12", "M79.18", "M54.2", "M54.6"]}]),
    ("claim", [{"code": "20552"}] * 51),
    ("injections", [{"muscle": "trapezius", "trigger_points": 100}]),
    ("injections", [{"muscle": "x" * 201}]),
    ("id", "x" * 101),
])
def test_values_past_what_a_claim_can_carry_are_rejected(field, value):
    from pydantic import ValidationError
    with pytest.raises(ValidationError) as err:
        Encounter.model_validate(enc(**{field: value}))
    assert err.value.errors()[0]["loc"][0] == field


@pytest.mark.parametrize("kind", ["json", "yaml", "jsonl"])
def test_deep_nesting_is_an_error_of_its_record_and_the_others_are_answered(tmp_path, kind):
    deep = "[" * 5000 + "]" * 5000
    if kind == "jsonl":
        data = json.dumps(enc(id="a")) + "\n" + json.dumps(enc(id="deep", injections="@")).replace('"@"', deep) + "\n" + json.dumps(enc(id="c")) + "\n"
    elif kind == "json":
        data = "[" + json.dumps(enc(id="a")) + ",\n" + json.dumps(enc(id="deep", injections="@")).replace('"@"', deep) + ",\n" + json.dumps(enc(id="c")) + "]"
    else:
        data = "\n".join(f"- {json.dumps(e)}" for e in (enc(id="a"), enc(id="deep", injections="@"), enc(id="c"))).replace('"@"', deep)
    r, out, err = check_json(tmp_path, f"e.{kind}", data.encode())
    assert r.returncode == 2
    assert [(o["encounter"], o["outcome"]) for o in results(out)] == [("a", "allow"), ("deep", "error"), ("c", "allow")]
    assert "(id deep): injections.0.0" in err and f"nested more than {MAX_DEPTH} levels deep" in err


def test_a_bad_byte_in_json_lines_costs_its_line_only(tmp_path):
    lines = [json.dumps(enc(id="a")).encode(), json.dumps(enc(id="b", patient="P\u00e9"), ensure_ascii=False).encode("latin-1"), json.dumps(enc(id="c")).encode()]
    r, out, err = check_json(tmp_path, "e.jsonl", b"\n".join(lines) + b"\n")
    assert r.returncode == 2
    assert [(o["encounter"], o["outcome"]) for o in results(out)] == [("a", "allow"), ("b", "error"), ("c", "allow")]
    assert "e.jsonl: line 2 (id b): (record): not UTF-8: byte 0xe9 at column" in err


def test_a_bad_byte_in_a_yaml_file_names_its_line(tmp_path):
    r, out, err = check_json(tmp_path, "e.yaml", b"id: a\npayer: medicare-cgs\npatient: P\xe9\n")
    assert r.returncode == 2 and "e.yaml: (file): not UTF-8: byte 0xe9 on line 3" in err


def test_a_byte_order_mark_does_not_cost_record_one(tmp_path):
    data = b"\xef\xbb\xbf" + json.dumps(enc(id="a")).encode() + b"\r\n" + json.dumps(enc(id="b")).encode() + b"\r\n"
    r, out, err = check_json(tmp_path, "e.jsonl", data)
    assert r.returncode == 0, err
    assert [(o["encounter"], o["outcome"]) for o in results(out)] == [("a", "allow"), ("b", "allow")]


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c"])
def test_a_line_separator_inside_a_json_string_does_not_split_the_line(tmp_path, char):
    data = json.dumps(enc(id=f"a{char}1"), ensure_ascii=False) + "\n" + json.dumps(enc(id="b"), ensure_ascii=False) + "\n"
    r, out, err = check_json(tmp_path, "e.jsonl", data.encode())
    assert r.returncode == 0, err
    assert [o["encounter"] for o in results(out)] == [f"a{char}1", "b"]


@pytest.mark.parametrize("bad", [0, 1])
def test_json_lines_on_stdin_with_a_bad_first_or_second_line_keeps_the_others(bad):
    lines = [json.dumps(enc(id=f"s-{n}")) for n in range(1, 4)]
    lines[bad] = "this is not json" if bad == 0 else "{broken"
    r = run("check", "-", "--format", "json", stdin=("\n".join(lines) + "\n").encode())
    assert b"Traceback" not in r.stderr and r.returncode == 2
    got = [json.loads(x) for x in r.stdout.decode().splitlines()]
    want = [("<stdin>#1" if bad == 0 else "s-1", "error" if bad == 0 else "allow"),
            ("<stdin>#2" if bad == 1 else "s-2", "error" if bad == 1 else "allow"), ("s-3", "allow")]
    assert [(o["encounter"], o["outcome"]) for o in got] == want
    assert f"<stdin>: line {bad + 1}: (record): not valid JSON" in r.stderr.decode()


def test_json_lines_in_a_file_not_named_jsonl_is_read_line_by_line(tmp_path):
    data = json.dumps(enc(id="a")) + "\nnot json\n" + json.dumps(enc(id="c")) + "\n"
    r, out, err = check_json(tmp_path, "batch.txt", data.encode())
    assert [(o["encounter"], o["outcome"]) for o in results(out)] == [("a", "allow"), (f"{tmp_path / 'batch.txt'}#2", "error"), ("c", "allow")]
    assert "batch.txt: line 2: (record): not valid JSON" in err


def test_one_json_line_prints_json_lines_as_two_do():
    one = run("check", "-", "--format", "json", stdin=(json.dumps(enc(id="a")) + "\n").encode()).stdout.decode()
    two = run("check", "-", "--format", "json", stdin=(json.dumps(enc(id="a")) + "\n" + json.dumps(enc(id="b")) + "\n").encode()).stdout.decode()
    assert one.count("\n") == 1 and json.loads(one)["encounter"] == "a"
    assert [json.loads(x)["encounter"] for x in two.splitlines()] == ["a", "b"]


def test_one_record_in_a_jsonl_file_prints_json_lines(tmp_path):
    r, out, err = check_json(tmp_path, "one.jsonl", (json.dumps(enc(id="a")) + "\n").encode())
    assert not out.startswith("[") and json.loads(out)["encounter"] == "a"


def test_a_pretty_printed_json_list_is_still_one_document(tmp_path):
    r, out, err = check_json(tmp_path, "e.json", json.dumps([enc(id="a"), enc(id="b")], indent=2).encode())
    assert r.returncode == 0, err
    assert out.startswith("[") and [o["encounter"] for o in json.loads(out)] == ["a", "b"]


@pytest.mark.parametrize("written,read", [("0012", "0012"), ("12:30", "12:30"), ("no", "no"), ("yes", "yes"), ("1e3", "1e3"),
                                          ("0x1F", "0x1F"), ("2024-06-10", "2024-06-10"), ("007.50", "007.50"), ("~x", "~x")])
def test_yaml_ids_and_texts_are_read_as_written(tmp_path, written, read):
    text = (f"id: {written}\npatient: {written}\npayer: medicare-cgs\ndate_of_service: 2024-06-10\n"
            f"injections: [{{muscle: trapezius, side: left, trigger_points: 2, substance: {written}, dose: {written}}}]\n"
            f"documentation: {{trigger_points_on_exam: yes, conservative_therapy: {{tried: [{written}], weeks: 8, failed: true}},"
            f" pain_scores: {{scale: {written}, before: 7.5, after: 3}}}}\n"
            "claim: [{code: 20552, units: 1, modifiers: [59], diagnoses: [M79.12]}]\n")
    records = list(read_bytes(text.encode(), "e.yaml"))
    assert records[0].problems is None, records[0].problems
    e = records[0].encounter
    assert (e.id, e.patient, e.injections[0].substance, e.injections[0].dose) == (read, read, read, read)
    assert e.documentation.conservative_therapy.tried == [read] and e.documentation.pain_scores.scale == read
    # numbers and yes/no where the contract wants them
    assert e.injections[0].trigger_points == 2 and e.documentation.conservative_therapy.weeks == 8
    assert e.documentation.trigger_points_on_exam is True and e.documentation.pain_scores.before == 7.5
    assert e.claim[0].code == "20552" and e.claim[0].modifiers == ["59"] and e.claim[0].units == 1


def test_yaml_null_and_merge_keys_still_work():
    text = (b"base: &b {payer: medicare-cgs, date_of_service: 2024-06-10}\n")
    text = (b"- &b {id: a, payer: medicare-cgs, date_of_service: 2024-06-10, patient: ~}\n"
            b"- {<<: *b, id: b, evaluation: null}\n")
    records = list(read_bytes(text, "e.yaml"))
    assert [r.problems for r in records] == [None, None]
    assert [(r.encounter.id, r.encounter.payer, r.encounter.patient) for r in records] == [("a", "medicare-cgs", None), ("b", "medicare-cgs", None)]


@pytest.mark.parametrize("kind", ["json", "yaml", "jsonl"])
def test_a_key_given_twice_is_an_error_naming_the_key(tmp_path, kind):
    one = '{"id": "a", "payer": "medicare-cgs", "date_of_service": "2024-06-10", "injections": [{"muscle": "trapezius", "muscle": "rhomboid major"}]}'
    two = json.dumps(enc(id="b"))
    data = {"json": f"[{one},\n{two}]", "jsonl": f"{one}\n{two}\n", "yaml": f"- {one}\n- {two}\n"}[kind]
    r, out, err = check_json(tmp_path, f"e.{kind}", data.encode())
    assert r.returncode == 2
    assert [(o["encounter"], o["outcome"]) for o in results(out)] == [("a", "error"), ("b", "allow")]
    assert "(id a): injections.0: key 'muscle'" in err and "is given more than once" in err


def test_a_repeated_id_is_an_error_naming_the_first(tmp_path):
    a = tmp_path / "a.jsonl"
    a.write_text(json.dumps(enc(id="x")) + "\n" + json.dumps(enc(id="y")) + "\n" + json.dumps(enc(id="x")) + "\n")
    b = tmp_path / "b.yaml"
    b.write_text("id: y\npayer: medicare-cgs\ndate_of_service: 2024-06-10\n")
    r = run("check", a, b, "--format", "json")
    assert r.returncode == 2
    got = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert [(o["encounter"], o["outcome"]) for o in got] == [("x", "allow"), ("y", "allow"), ("x", "error"), ("y", "error")]
    err = r.stderr.decode()
    assert f"a.jsonl: line 3 (id x): id: the id 'x' is already used by line 1 (id x) of {a}" in err
    assert f"b.yaml: record 1 (id y): id: the id 'y' is already used by line 2 (id y) of {a}" in err


def _records(tmp_path, *encounters):
    data = "".join(json.dumps(e) + "\n" for e in encounters).encode()
    return list(read_bytes(data, "e.jsonl"))


def test_a_solver_failure_on_one_encounter_costs_that_encounter_only(engine, monkeypatch):
    from solver import engine as engine_module
    real = engine_module.encounter_facts

    def failing(pol, encounter, key):
        if encounter.id == "boom":
            raise RuntimeError("grounding failed: weight too large")
        return real(pol, encounter, key)

    monkeypatch.setattr(engine_module, "encounter_facts", failing)
    records = _records(None, enc(id="a"), enc(id="boom"), enc(id="c", diagnoses=["M54.2"]))
    answers = batch.run(Job(engine), records, jobs=1)
    assert [(a.result["encounter"], a.outcome) for a in answers] == [("a", "allow"), ("boom", "error"), ("c", answers[2].outcome)]
    assert answers[2].outcome != "error"
    assert answers[1].problems[0].record == "line 2 (id boom)"
    assert "the solver could not answer this encounter (RuntimeError: grounding failed" in answers[1].problems[0].message


def test_a_chunk_that_fails_to_ground_is_answered_one_by_one(engine, monkeypatch):
    import clingo
    real_ground = clingo.Control.ground
    calls = []

    def ground(self, parts, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("simulated grounding failure of the whole chunk")
        return real_ground(self, parts, *args, **kwargs)

    monkeypatch.setattr(clingo.Control, "ground", ground)
    encounters = [Encounter.model_validate(enc(id=f"e{n}")) for n in range(3)]
    out = engine.check_many(encounters)
    assert [(r["encounter"], r["outcome"]) for r in out] == [("e0", "allow"), ("e1", "allow"), ("e2", "allow")]
    assert len(calls) == 4  # the chunk, then each encounter alone


@pytest.mark.parametrize("name, data", [("e.jsonl", b""), ("e.jsonl", b"\n\n"), ("e.ndjson", b" \n")])
def test_a_json_lines_file_with_no_encounter_is_an_error_not_an_exit_0_that_checked_nothing(tmp_path, name, data):
    r, out, err = check_json(tmp_path, name, data)
    assert r.returncode == 2 and "holds no encounter" in err
