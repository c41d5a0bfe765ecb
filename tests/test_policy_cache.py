"""The policies cache (solver/policy_cache.py): a cold start reads it, and it never gives a stale answer."""
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import solver.policy as policy_module
from solver import icd10cm, policy_cache
from solver.casetest import find_case_files, load_cases
from solver.engine import Engine
from solver.errors import PolicyError
from solver.paths import KB_DIR, POLICIES_DIR
from solver.reading import read_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "encounters.yaml"


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    """A cache folder of the test's own (the ICD-10-CM index stays where it is: building it takes seconds)."""
    folder = tmp_path / "cache"
    monkeypatch.setattr(policy_cache, "cache_dir", lambda: folder)
    monkeypatch.delenv("PAYERKB_POLICY_CACHE", raising=False)
    return folder


@pytest.fixture()
def policies(tmp_path) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, root)
    return root


def no_validation(monkeypatch):
    """Make load_policies fail loudly: what loads now comes from the cache."""
    def refuse(*_args, **_kw):
        raise AssertionError("load_policies was called: the cache was not read")
    monkeypatch.setattr(policy_module, "load_policies", refuse)


def summary(pol) -> dict:
    """What a check reads of the policies, as plain data."""
    return {
        "payers": sorted(pol.payers),
        "instances": [i.canonical_text for i in pol.instances],
        "citations": [i.citation_dicts for i in pol.instances],
        "sources": [i.source for i in pol.instances],
        "base_digest": pol.base_digest,
        "families": json.dumps(pol.families, sort_keys=True, default=str),
        "code_groups": pol.tables.code_groups,
        "mue": sorted(pol.tables.mue),
        "ptp": len(pol.tables.ptp),
        "icd": [pol.codeset.status(c, __import__("datetime").date(2024, 6, 10)) for c in ("M79.12", "M79.1", "M54.5", "M54.50", "Z00.00")],
        "expand": pol.codeset.expand("M79.1*"),
    }


def test_a_second_load_comes_from_the_cache_and_equals_the_validated_load(cache, monkeypatch):
    uncached = policy_module.load_policies(POLICIES_DIR, KB_DIR)
    first = policy_cache.load(POLICIES_DIR, KB_DIR)  # validates and writes the cache
    assert policy_cache.cache_file(POLICIES_DIR, KB_DIR).is_file()
    no_validation(monkeypatch)
    second = policy_cache.load(POLICIES_DIR, KB_DIR)
    assert second is not first
    assert summary(second) == summary(first) == summary(uncached)
    for payer in sorted(second.payers):
        on = __import__("datetime").date(2024, 6, 10)
        assert second.version_hash(second.in_force(payer, on)) == uncached.version_hash(uncached.in_force(payer, on))


def test_a_check_answers_the_same_from_the_cache_on_the_examples_and_every_shipped_case(cache, monkeypatch):
    encounters = [r.resolve().encounter for r in read_file(str(EXAMPLE))]
    for path in find_case_files(POLICIES_DIR):
        encounters += [enc for _case, enc in load_cases(path)]
    assert len(encounters) > 100
    monkeypatch.setenv("PAYERKB_POLICY_CACHE", "off")
    plain = Engine()
    monkeypatch.delenv("PAYERKB_POLICY_CACHE")
    Engine()  # writes the cache
    no_validation(monkeypatch)
    cached = Engine()
    for enc in encounters:
        assert json.dumps(cached.check(enc), sort_keys=True) == json.dumps(plain.check(enc), sort_keys=True), enc.id


def test_a_changed_policy_file_is_seen_at_once(cache, policies):
    rid, title = "cpt.tpi-code-by-muscle-count", "20552 for 1-2 named muscles, 20553 for 3 or more"
    before = policy_cache.load(policies, KB_DIR)
    assert {i.rule.title for i in before.instances if i.id == rid} == {title}
    path = policies / "rulesets" / "cpt-tpi.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(f"title: {title}\n") == 1
    path.write_text(text.replace(f"title: {title}\n", f"title: {title} (changed)\n"), encoding="utf-8")
    after = policy_cache.load(policies, KB_DIR)
    assert {i.rule.title for i in after.instances if i.id == rid} == {title + " (changed)"}
    assert policy_cache.read(policy_cache.cache_file(policies, KB_DIR), policy_cache.fingerprint(policies, KB_DIR)) is not None


def test_a_changed_knowledge_base_file_is_seen_at_once(cache, tmp_path):
    kb = tmp_path / "kb"
    shutil.copytree(KB_DIR, kb)
    before = policy_cache.load(POLICIES_DIR, kb).base_digest
    with (kb / "output.lp").open("a", encoding="utf-8") as fh:
        fh.write("\n% a comment: the digest of the knowledge base changes\n")
    assert policy_cache.load(POLICIES_DIR, kb).base_digest != before


def test_a_payer_file_removed_is_seen_at_once(cache, policies):
    assert "cigna" in policy_cache.load(policies, KB_DIR).payers
    (policies / "payers" / "cigna.yaml").unlink()
    assert "cigna" not in policy_cache.load(policies, KB_DIR).payers


def test_a_corrupt_cache_file_is_rebuilt(cache, monkeypatch):
    good = summary(policy_cache.load(POLICIES_DIR, KB_DIR))
    path = policy_cache.cache_file(POLICIES_DIR, KB_DIR)
    key = policy_cache.fingerprint(POLICIES_DIR, KB_DIR)
    for junk in (b"", b"not a pickle", path.read_bytes()[: path.stat().st_size // 2],
                 pickle.dumps({"format": policy_cache.FORMAT, "key": key, "policies": "not policies"}),
                 pickle.dumps({"format": policy_cache.FORMAT, "key": "another key", "policies": None}),
                 pickle.dumps([1, 2, 3])):
        path.write_bytes(junk)
        assert policy_cache.read(path, key) is None
        assert summary(policy_cache.load(POLICIES_DIR, KB_DIR)) == good
        assert policy_cache.read(path, key) is not None  # written again, whole


class _Boom:
    def __reduce__(self):
        return (os.system, ("echo cache-was-executed",))


def test_a_cache_file_naming_anything_but_the_product_s_classes_is_not_run(cache, capfd):
    path = policy_cache.cache_file(POLICIES_DIR, KB_DIR)
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps({"format": policy_cache.FORMAT, "key": "k", "policies": _Boom()}))
    assert policy_cache.read(path, "k") is None
    assert "cache-was-executed" not in capfd.readouterr().out


def test_a_policies_folder_with_problems_is_never_cached(cache, policies):
    (policies / "payers" / "cigna.yaml").write_text("payer: cigna\nuses: 7\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(PolicyError) as err:
            policy_cache.load(policies, KB_DIR)
        assert any("cigna.yaml" in p.file for p in err.value.problems)
    assert not policy_cache.cache_file(policies, KB_DIR).exists()


def test_a_cache_folder_that_cannot_be_written_still_answers(tmp_path, monkeypatch):
    blocked = tmp_path / "a file"
    blocked.write_text("", encoding="utf-8")
    monkeypatch.setattr(policy_cache, "cache_dir", lambda: blocked)  # policies/ cannot be made under a file
    pol = policy_cache.load(POLICIES_DIR, KB_DIR)
    assert "medicare-cgs" in pol.payers
    assert [p.name for p in tmp_path.iterdir()] == ["a file"]


def test_the_cache_is_off_when_asked(cache, monkeypatch):
    monkeypatch.setenv("PAYERKB_POLICY_CACHE", "off")
    policy_cache.load(POLICIES_DIR, KB_DIR)
    assert not policy_cache.cache_file(POLICIES_DIR, KB_DIR).exists()


def test_the_sharded_codes_answer_as_the_code_dict_does():
    codes = icd10cm.index()["codes"]
    sharded = pickle.loads(pickle.dumps(policy_cache.ShardedCodes.of(codes)))
    assert len(sharded) == len(codes) and dict(sharded) == codes
    for code in ("M79.12", "M79.1", "A00", "Z99.89", "QQQ", "", "m79.12"):
        assert sharded.get(code) == codes.get(code) and (code in sharded) == (code in codes)
    assert sharded.get(None) is None and None not in sharded
    with pytest.raises(KeyError):
        sharded["NOPE"]
    assert sharded["M79.12"] == codes["M79.12"] == 1


def test_old_cache_files_are_pruned(cache, policies):
    folder = policy_cache.cache_file(policies, KB_DIR).parent
    folder.mkdir(parents=True)
    for n in range(policy_cache.KEEP + 5):
        old = folder / f"policies-old{n:03d}.pickle"
        old.write_bytes(b"x")
        os.utime(old, (1_000_000 + n, 1_000_000 + n))
    policy_cache.load(policies, KB_DIR)
    left = sorted(p.name for p in folder.glob("policies-*.pickle"))
    assert len(left) == policy_cache.KEEP
    assert policy_cache.cache_file(policies, KB_DIR).name in left
    assert "policies-old000.pickle" not in left


def _check(*args, cache_on: bool) -> bytes:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PAYERKB_POLICY_CACHE="on" if cache_on else "off")
    r = subprocess.run([sys.executable, "-m", "solver", "check", *map(str, args)], capture_output=True, env=env, cwd=ROOT)
    assert r.returncode in (0, 1), r.stderr
    return r.stdout


def test_payerkb_check_prints_the_same_bytes_with_and_without_the_cache(tmp_path):
    cases = tmp_path / "cases.jsonl"
    lines = [enc.model_dump_json() for path in find_case_files(POLICIES_DIR) for _c, enc in load_cases(path)]
    cases.write_text("\n".join(lines) + "\n", encoding="utf-8")
    for args in ([EXAMPLE], [EXAMPLE, "--format", "json"], [cases, "--format", "json", "--jobs", "1"], [cases, "--jobs", "1"]):
        plain = _check(*args, cache_on=False)
        _check(*args, cache_on=True)  # the cache is written (or was there)
        assert policy_cache.read(policy_cache.cache_file(POLICIES_DIR, KB_DIR), policy_cache.fingerprint(POLICIES_DIR, KB_DIR))
        assert _check(*args, cache_on=True) == plain, args


_LOAD_IN_A_PROCESS = r'''
import sys
from pathlib import Path
from solver import policy_cache
from solver.paths import KB_DIR, POLICIES_DIR
policy_cache.cache_dir = lambda: Path(sys.argv[1])
pol = policy_cache.load(POLICIES_DIR, KB_DIR)
print(len(pol.instances), pol.base_digest, policy_cache.cache_file(POLICIES_DIR, KB_DIR).name)
'''


def test_processes_that_start_together_each_read_a_whole_cache_or_none(tmp_path):
    folder = tmp_path / "cache"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", _LOAD_IN_A_PROCESS, str(folder)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT) for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [e for _o, e in outs]
    assert len({o for o, _e in outs}) == 1
    # the file the processes name (they import the package from this source tree, as the test may not: an
    # installed copy has folders of its own, so a cache file of its own)
    assert [p.name for p in (folder / "policies").iterdir()] == [outs[0][0].split()[-1]]
    again = subprocess.run([sys.executable, "-c", _LOAD_IN_A_PROCESS, str(folder)], capture_output=True, text=True,
                           env=env, cwd=ROOT)
    assert again.stdout == outs[0][0]


class _CallsTheProduct:
    def __reduce__(self):
        from solver.paths import cache_dir
        return (cache_dir, ())  # harmless here; any function of the product could be named the same way


def test_a_cache_file_naming_a_function_of_the_product_is_not_run(cache):
    path = policy_cache.cache_file(POLICIES_DIR, KB_DIR)
    path.parent.mkdir(parents=True)
    blob = pickle.dumps({"format": policy_cache.FORMAT, "key": "k", "policies": _CallsTheProduct()})
    assert isinstance(pickle.loads(blob)["policies"], Path)  # a plain unpickler calls it
    with pytest.raises(pickle.UnpicklingError):
        policy_cache._Unpickler(__import__("io").BytesIO(blob)).load()
    path.write_bytes(blob)
    assert policy_cache.read(path, "k") is None
