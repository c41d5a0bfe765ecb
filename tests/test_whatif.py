"""payerkb whatif: variants of an encounter answered beside the baseline, showing only what changed."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.encounter import Encounter
from solver.engine import Engine
from solver.errors import InputError
from solver.explore.patching import changes, document, parse_set, variants
from solver.explore.whatif import whatif

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = yaml.safe_load((ROOT / "examples" / "encounters.yaml").read_text())


@pytest.fixture(scope="module")
def engine():
    return Engine()


def two_muscles() -> Encounter:
    """enc-0001 with two of its three muscles injected and no claim submitted: the solver derives 20552."""
    data = dict(EXAMPLES[0], injections=EXAMPLES[0]["injections"][:2])
    data.pop("claim")
    return Encounter.model_validate(data)


def run(*args):
    return subprocess.run([sys.executable, "-m", "solver", *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def test_a_variant_naming_a_third_muscle_turns_20552_into_20553(engine):
    enc = two_muscles()
    answer = whatif(engine, enc, variants(enc, [parse_set("injections[2].muscle=levator scapulae")]))
    assert [line["code"] for line in answer["baseline"]["claim"]] == ["20552"]
    v = answer["variants"][0]
    assert v["changes"] == [{"path": "injections[2]", "value": {"muscle": "levator scapulae", "trigger_points": 1, "guidance": "none"}}]
    assert [line["code"] for line in v["claim"]["from"]] == ["20552"] and [line["code"] for line in v["claim"]["to"]] == ["20553"]
    # the new injection has no injectate or dose: the LCD's injection record rule now finds it (with its citation)
    added = {f["rule"]: f for f in v["findings_added"]}
    assert "lcd.tpi-injection-record" in added and added["lcd.tpi-injection-record"]["citations"]
    assert v["outcome"] == {"from": "allow", "to": "deny"}


def test_a_merge_patch_and_a_json_patch_make_the_same_variant(engine):
    enc = two_muscles()
    third = {"muscle": "levator scapulae", "side": "right", "substance": "lidocaine 1%", "dose": "1 mL"}
    merge = {"injections": EXAMPLES[0]["injections"][:2] + [third], "documentation": {"abn_on_file": True}}
    ops = [{"op": "add", "path": "/injections/-", "value": third},
           {"op": "replace", "path": "/documentation/abn_on_file", "value": True}]
    found = variants(enc, patches=[("merge", merge), ("json-patch", ops)])
    assert found[0].encounter == found[1].encounter and found[0].changes == found[1].changes
    assert {c["path"] for c in found[0].changes} == {"injections[2]", "documentation.abn_on_file"}
    answer = whatif(engine, enc, found)
    a, b = answer["variants"]
    assert {k: a[k] for k in ("outcome", "claim", "findings_added", "findings_removed")} == \
           {k: b[k] for k in ("outcome", "claim", "findings_added", "findings_removed")}
    assert [line["code"] for line in a["claim"]["to"]] == ["20553"] and a["outcome"] is None  # documented fully: still allow


def test_each_set_is_one_variant_and_together_makes_them_one(engine):
    enc = two_muscles()
    sets = [parse_set("injections[2].muscle=levator scapulae"), parse_set("documentation.conservative_therapy.failed=false")]
    assert len(variants(enc, sets)) == 2
    (one,) = variants(enc, sets, together=True)
    assert {c["path"] for c in one.changes} == {"injections[2]", "documentation.conservative_therapy.failed"}


def test_values_are_read_like_yaml_and_text_fields_keep_the_text_as_written():
    enc = two_muscles()
    (v,) = variants(enc, [parse_set("diagnoses=[M54.2, m79.12]")])
    assert v.encounter.diagnoses == ["M54.2", "M79.12"]
    (v,) = variants(enc, [parse_set("id=0012")])
    assert v.encounter.id == "0012"
    (v,) = variants(enc, [parse_set("date_of_service=2024-04-01"), parse_set("documentation.abn_on_file=true")], together=True)
    assert str(v.encounter.date_of_service) == "2024-04-01" and v.encounter.documentation.abn_on_file is True


def test_a_bad_path_or_value_is_a_clear_error_naming_the_path_with_exit_2():
    r = run("whatif", "examples/encounters.yaml", "--id", "enc-0001", "--set", "documentation.conservative_therapy.faild=true")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "documentation.conservative_therapy.faild" in r.stderr and "the fields are tried, weeks, failed, ongoing" in r.stderr
    r = run("whatif", "examples/encounters.yaml", "--id", "enc-0001", "--set", "injections[7].muscle=trapezius")
    assert r.returncode == 2 and "injections[7].muscle" in r.stderr and "give an index up to 3" in r.stderr
    r = run("whatif", "examples/encounters.yaml", "--id", "enc-0001", "--set", "injections[0].trigger_points=many")
    assert r.returncode == 2 and "injections[0].trigger_points" in r.stderr and "integer" in r.stderr


@pytest.mark.parametrize("how", ["set", "patch"])
def test_an_impossible_date_in_a_variant_is_an_error_naming_its_field_not_a_traceback(tmp_path, how):
    if how == "set":
        args = ["--set", "date_of_service=2024-02-30"]
    else:
        patch = tmp_path / "p.yaml"
        patch.write_text("date_of_service: 2024-02-30\n")
        args = ["--patch", patch]
    r = run("whatif", "examples/encounters.yaml", "--id", "enc-0001", *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "date_of_service: Input should be a valid date" in r.stderr


def test_a_json_patch_that_cannot_apply_names_its_operation_and_path(tmp_path):
    patch = tmp_path / "p.json"
    patch.write_text(json.dumps([{"op": "remove", "path": "/history/4"}]))
    r = run("whatif", "examples/encounters.yaml", "--id", "enc-0003", "--patch", patch)
    assert r.returncode == 2 and "history[4]" in r.stderr and "operation 0 (remove)" in r.stderr and "Traceback" not in r.stderr


def test_whatif_prints_only_what_changed_as_text_and_json(tmp_path):
    patch = tmp_path / "variants.yaml"
    patch.write_text(yaml.safe_dump([{"documentation": {"prior_relief": None}}, [{"op": "replace", "path": "/history/2/date", "value": "2024-02-01"}]]))
    r = run("whatif", "examples/encounters.yaml", "--id", "enc-0003", "--patch", patch, "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["encounter"] == "enc-0003" and out["baseline"]["outcome"] == "deny" and len(out["variants"]) == 2
    relief, moved = out["variants"]
    assert relief["changes"] == [{"path": "documentation.prior_relief", "value": None}]
    assert "lcd.tpi-repeat-response" in {f["rule"] for f in relief["findings_added"]}
    assert moved["changes"] == [{"path": "history[2].date", "value": "2024-02-01"}]
    r = run("whatif", "examples/encounters.yaml", "--id", "enc-0003", "--set", "documentation.prior_relief=null")
    assert r.returncode == 0 and "+ lcd.tpi-repeat-response (error)" in r.stdout and "baseline deny" in r.stdout


def _leaves(doc, steps=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _leaves(v, steps + (k,))
    elif isinstance(doc, list) and doc:
        for i, v in enumerate(doc):
            yield from _leaves(v, steps + (i,))
    else:
        yield steps, doc


def _text(steps) -> str:
    from solver.explore.patching import path_text
    return path_text(steps)


LEAVES = {n: list(_leaves(document(Encounter.model_validate(e)))) for n, e in enumerate(EXAMPLES)}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_setting_fields_to_the_values_they_have_is_the_baseline(engine, data):
    n = data.draw(st.sampled_from(sorted(LEAVES)))
    enc = Encounter.model_validate(EXAMPLES[n])
    picked = data.draw(st.lists(st.sampled_from(LEAVES[n]), min_size=1, max_size=4, unique_by=lambda x: x[0]))
    sets = [(_text(steps), value, "") for steps, value in picked]
    (v,) = variants(enc, sets, patches=[("empty", {})], together=True)
    assert v.changes == [] and v.encounter == enc
    answer = whatif(engine, enc, [v])
    got = answer["variants"][0]
    assert got["outcome"] is None and got["claim"] is None and got["findings_added"] == [] and got["findings_removed"] == []


def test_changes_lists_added_items_and_removed_fields():
    assert changes({"a": [1], "b": {"c": 2}}, {"a": [1, 5], "b": {}}) == [{"path": "a[1]", "value": 5}, {"path": "b.c", "value": None}]


def test_an_unknown_payer_in_a_variant_is_an_input_error_naming_payer(engine):
    enc = two_muscles()
    with pytest.raises(InputError, match="unknown payer 'nobody'"):
        whatif(engine, enc, variants(enc, [parse_set("payer=nobody")]))


def _flip(value):
    """Another valid value of the same kind: a yes/no turned over, a whole number one up."""
    return (not value) if isinstance(value, bool) else value + 1


FLIPPABLE = {n: [(steps, v) for steps, v in leaves if isinstance(v, (bool, int)) and not (isinstance(v, int) and not isinstance(v, bool) and v >= 99)]
             for n, leaves in LEAVES.items()}


def _merge_patch(doc, steps, value):
    """A merge patch setting one leaf: objects nest; the first list on the way is given whole, with the leaf set in
    it (RFC 7386 has no index)."""
    import copy
    if not steps:
        return value
    head, rest = steps[0], steps[1:]
    if isinstance(doc[head], list):
        whole = copy.deepcopy(doc[head])
        here = whole
        for s in rest[:-1]:
            here = here[s]
        if rest:
            here[rest[-1]] = value
        else:
            whole = value
        return {head: whole}
    return {head: _merge_patch(doc[head], rest, value)}


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_merge_patch_a_json_patch_and_a_set_of_one_field_make_the_same_variant(data):
    n = data.draw(st.sampled_from(sorted(FLIPPABLE)))
    steps, value = data.draw(st.sampled_from(FLIPPABLE[n]))
    enc = Encounter.model_validate(EXAMPLES[n])
    new = _flip(value)
    doc = document(enc)
    top = _merge_patch(doc, steps, new)
    pointer = "/" + "/".join(str(s) for s in steps)
    found = variants(enc, [(_text(steps), new, "")], [("merge", top), ("json", [{"op": "replace", "path": pointer, "value": new}])])
    assert found[0].encounter == found[1].encounter == found[2].encounter
    assert found[0].changes == found[1].changes == found[2].changes == [{"path": _text(steps), "value": new}]
