"""The command line behaves as a careful user expects: options where they are typed, clear messages for bad
paths, help in words, a report that cannot be hijacked by the input, a clean Ctrl-C, nothing left unsaid."""
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BASE

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "encounters.yaml"
PAYERKB = [sys.executable, "-m", "solver"]


def run(*args, stdin=None, env=None):
    return subprocess.run(PAYERKB + [str(a) for a in args], input=stdin, capture_output=True, text=True, env=env)


def enc(**changes):
    raw = copy.deepcopy(BASE)
    raw.update(changes)
    return raw


@pytest.fixture(scope="module")
def own_policies(tmp_path_factory):
    """A copy of the shipped policies without the payer cigna: a folder of one's own that can be told apart."""
    folder = tmp_path_factory.mktemp("own") / "policies"
    shutil.copytree(ROOT / "policies", folder)
    (folder / "payers" / "cigna.yaml").unlink()
    return folder


@pytest.mark.parametrize("where", ["before", "after"])
def test_policies_works_before_and_after_the_command(own_policies, where):
    def args(*cmd):
        return ["--policies", own_policies, *cmd] if where == "before" else [*cmd, "--policies", own_policies]
    r = run(*args("policy", "list"))
    assert r.returncode == 0, r.stderr
    assert "medicare-cgs" in r.stdout and "cigna" not in r.stdout
    r = run(*args("policy", "show", "cigna"))
    assert r.returncode == 2 and "unknown payer 'cigna'" in r.stderr
    r = run(*args("check", "-", "--format", "json"), stdin=json.dumps(enc(payer="cigna")))
    assert r.returncode == 2 and "unknown payer 'cigna'" in r.stderr


def test_policies_after_check_points_at_a_missing_folder(tmp_path):
    r = run("check", EXAMPLE, "--policies", tmp_path / "nowhere")
    assert r.returncode == 2 and "no such policies folder" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("target", ["missing-folder/facts.lp", "."])
def test_compile_to_a_path_that_cannot_be_written_is_a_clear_error(tmp_path, target):
    enc_file = tmp_path / "one.json"
    enc_file.write_text(json.dumps(enc()))
    out = tmp_path / target
    r = run("compile", enc_file, "-o", out)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert f"error: {out}: -o: cannot be written" in r.stderr


@pytest.mark.parametrize("command", [["check"], ["compile"], ["policy", "diff"], ["policy", "show"], ["test"]])
def test_help_names_values_in_words_not_python_types(command):
    r = run(*command, "--help", env=dict(os.environ, COLUMNS="120"))
    assert r.returncode == 0
    for python_type in ("<list[str]>", "<str>", "<path>", "<bool>", "<int"):
        assert python_type not in r.stdout, (python_type, r.stdout)
    assert "--policies" in r.stdout
    if command == ["check"]:
        assert "FILE..." in r.stdout and "PAYER" in r.stdout and "YYYY-MM-DD" in r.stdout


HOSTILE = "\x1b]0;owned\x07\x1b[2J\x1b[31mred\u202eevil\r\x08\x9b"


def test_terminal_escapes_from_the_input_are_shown_escaped_in_the_report():
    raw = enc(id="id" + HOSTILE, injections=[{"muscle": "trap" + HOSTILE, "side": "left", "substance": "lidocaine", "dose": "1 mL"}])
    bad = enc(id="bad" + HOSTILE, payer="nobody" + HOSTILE)
    r = run("check", "-", stdin=json.dumps(raw) + "\n" + json.dumps(bad) + "\n")
    assert r.returncode == 2
    for stream in (r.stdout, r.stderr):
        assert not any(ch in stream for ch in "\x1b\x07\x08\r\x9b\u202e"), repr(stream)
    assert "id\\x1b]0;owned\\x07\\x1b[2J\\x1b[31mred\\u202eevil\\x0d\\x08\\x9b" in r.stdout
    assert "trap\\x1b]0;owned" in r.stdout  # the muscle, in a finding's evidence
    assert "bad\\x1b]0;owned" in r.stderr and "nobody\\x1b" in r.stderr


def test_the_text_report_shows_every_citation():
    from solver.report import render_result
    # on this date the data-coverage warning names four sources (three code tables and ICD-10-CM)
    r = json.loads(run("check", EXAMPLE, "--format", "json", "--date", "2026-12-01").stdout)
    text = "".join(render_result(x) for x in r)
    cited = [c for x in r for f in x["findings"] for c in f["citations"]]
    assert any(len(f["citations"]) >= 3 for x in r for f in x["findings"])
    assert text.count("source: ") == len(cited)
    for c in cited:
        assert c["url"] in text


def test_text_and_json_report_the_same_encounters_and_outcomes():
    text = run("check", EXAMPLE).stdout
    out = json.loads(run("check", EXAMPLE, "--format", "json").stdout)
    for o in out:
        assert f"{o['encounter']}  {o['payer']}  {o['date_of_service']}  {o['outcome'].upper()}" in text
    assert "3 encounters: 1 allow, 1 modify, 1 deny" in text


def test_rendering_the_text_report_costs_about_what_json_does():
    from solver.report import render_result
    out = json.loads(run("check", EXAMPLE, "--format", "json").stdout) * 300
    t = time.perf_counter()
    for r in out:
        json.dumps(r, separators=(",", ":"))
    t_json = time.perf_counter() - t
    t = time.perf_counter()
    for r in out:
        render_result(r)
    t_text = time.perf_counter() - t
    assert t_text < 4 * t_json + 0.05, (t_text, t_json)


def test_ctrl_c_stops_the_workers_and_exits_130_with_one_line(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    from bench import generate
    many = tmp_path / "many.jsonl"
    many.write_text("".join(json.dumps(e) + "\n" for e in generate(8000, seed=3)))
    p = subprocess.Popen(PAYERKB + ["check", str(many), "--format", "json", "--jobs", "2"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    time.sleep(3)  # the engine is loaded and the pool is answering chunks
    assert p.poll() is None, "the run ended before it could be interrupted"
    os.killpg(p.pid, signal.SIGINT)  # as a terminal does: to the whole process group, workers included
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130
    assert err == "payerkb: interrupted\n", err


def test_policy_diff_reports_the_records_it_could_not_answer(tmp_path):
    data = tmp_path / "batch.jsonl"
    data.write_text(json.dumps(enc(id="good")) + "\n{not json\n" + json.dumps(enc(id="who", payer="nobody")) + "\n")
    r = run("policy", "diff", ROOT / "policies", data, "--format", "json")
    assert r.returncode == 2, r.stderr
    out = json.loads(r.stdout)
    assert out["encounters"] == 3 and out["changed"] == []
    assert [u["encounter"] for u in out["not_answered"]] == [f"{data}#2", "who"]
    assert "line 2: (record): not valid JSON" in out["not_answered"][0]["before"][0]
    assert "unknown payer 'nobody'" in out["not_answered"][1]["after"][0]
    r = run("policy", "diff", ROOT / "policies", data)
    assert r.returncode == 2
    assert "who: not answered" in r.stdout and "unknown payer 'nobody'" in r.stdout
    assert r.stdout.strip().endswith("0 of 3 encounters answered differently; 2 not answered under one folder or both (listed above)")


def test_policy_diff_names_a_payer_only_one_folder_knows(tmp_path, own_policies):
    data = tmp_path / "one.json"
    data.write_text(json.dumps(enc(id="c", payer="cigna")))
    r = run("policy", "diff", own_policies, data, "--format", "json")
    out = json.loads(r.stdout)
    assert r.returncode == 2
    (u,) = out["not_answered"]
    assert u["encounter"] == "c" and "unknown payer 'cigna'" in u["before"][0] and u["after"] is None
