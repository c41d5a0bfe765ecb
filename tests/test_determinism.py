"""The answer never depends on the solver's search: every tie is ranked, so another seed, randomness or
preprocessing gives the same claims and findings."""
import sys
from pathlib import Path

import solver.engine as engine_module
from solver.casetest import find_case_files, load_cases
from solver.encounter import Encounter
from solver.paths import POLICIES_DIR

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from bench import generate  # noqa: E402

OTHER_SEARCH = ["--opt-strategy=usc,stratify", "--warn=none", "--opt-mode=opt", "--seed=7", "--rand-freq=0.05",
                "--sat-prepro=0", "--eq=0"]


def test_another_search_gives_the_same_answers(monkeypatch):
    encounters = [enc for path in find_case_files(POLICIES_DIR) for _, enc in load_cases(path)]
    encounters += [Encounter.model_validate(raw) for raw in generate(500, seed=31)]
    first = engine_module.Engine()
    usual = [r for k in range(0, len(encounters), 250) for r in first.check_many(encounters[k:k + 250])]
    monkeypatch.setattr(engine_module, "SOLVER_OPTIONS", OTHER_SEARCH)
    second = engine_module.Engine()
    other = [r for k in range(0, len(encounters), 250) for r in second.check_many(encounters[k:k + 250])]
    differing = [a["encounter"] for a, b in zip(usual, other) if a != b]
    assert not differing, differing


def test_a_single_check_and_a_batch_give_the_same_answers():
    encounters = [enc for path in find_case_files(POLICIES_DIR) for _, enc in load_cases(path)]
    engine = engine_module.Engine()
    assert [engine.check(e) for e in encounters] == engine.check_many(encounters)


def test_the_policy_version_of_an_answer_does_not_depend_on_where_the_folders_lie(tmp_path):
    import shutil

    from solver.engine import Engine
    from solver.paths import KB_DIR
    shutil.copytree(POLICIES_DIR, tmp_path / "a" / "policies")
    shutil.copytree(KB_DIR, tmp_path / "z" / "kb")
    enc = load_cases(find_case_files(POLICIES_DIR)[0])[0][1]
    here, there = Engine().check(enc), Engine(tmp_path / "a" / "policies", tmp_path / "z" / "kb").check(enc)
    assert here["policy"]["version"] == there["policy"]["version"] and here["policy"]["version"].startswith("sha256:")
    (tmp_path / "z" / "kb" / "claims.lp").write_text((KB_DIR / "claims.lp").read_text() + "\n% a comment\n")
    assert Engine(tmp_path / "a" / "policies", tmp_path / "z" / "kb").check(enc)["policy"]["version"] != here["policy"]["version"]
