"""The shape of the knowledge base: rule families in kb/, no literal code, date or message in any .lp file,
every file headed by what it reads and defines, every family used by a rule (and so covered by cases)."""
import re
from pathlib import Path

import yaml

from solver.paths import KB_DIR, POLICIES_DIR
from solver.policy import load_policies

LP_FILES = sorted(KB_DIR.rglob("*.lp"))
STRUCTURAL_STRINGS = {"billable", "error", "warning", "left", "right", "abn_on_file", "same_region", "any", "slot", "other",
                      "repeat", "initial", "some_unnamed", "none_named", "global", "documented",
                      "unset", "one_side"}


def _code_only(path: Path) -> str:
    return "\n".join(line.split("%", 1)[0] for line in path.read_text().splitlines() if not line.startswith("#include"))


def test_no_lp_file_holds_a_code_a_date_or_a_message():
    for path in LP_FILES:
        text = _code_only(path)
        strings = set(re.findall(r'"([^"]*)"', text))
        assert strings <= STRUCTURAL_STRINGS, f"{path.name}: literal strings {sorted(strings - STRUCTURAL_STRINGS)}"
        assert not re.search(r"\b\d{3,}\b", text), f"{path.name}: a literal number that looks like a code, amount or date"


def test_every_lp_file_says_what_it_reads_and_defines():
    for path in LP_FILES:
        head = path.read_text().split("\n\n")[0]
        assert head.startswith("% " + path.name.replace(".lp", "")), path.name
        if path.parent.name == "families":
            assert "Reads:" in head and "Defines:" in head, path.name


def test_every_family_is_declared_has_its_file_and_is_used_by_a_rule():
    families = yaml.safe_load((KB_DIR / "families.yaml").read_text())["families"]
    pol = load_policies(POLICIES_DIR, KB_DIR)
    used = {r.family for rs in pol.rulesets.values() for r in rs.rules}
    assert set(families) == used, f"declared but unused: {sorted(set(families) - used)}"
    for name, spec in families.items():
        text = (KB_DIR / "families" / spec["file"]).read_text()
        assert f"rule(K,{name})" in text or f"= ({name};" in text or f"({name};" in text or f"; {name})" in text, name


def test_every_input_predicate_is_declared_in_the_vocabulary():
    vocabulary = (KB_DIR / "vocabulary.lp").read_text()
    from solver.facts import encounter_facts  # noqa: F401  (the names Python emits)
    facts_src = (Path(__file__).resolve().parent.parent / "solver" / "facts.py").read_text()
    emitted = set(re.findall(r'f\("([a-z_]+)"', facts_src)) | set(re.findall(r'Function\("([a-z_]+)", \[', facts_src))
    emitted |= set(re.findall(r'fact\("([a-z_]+)"', facts_src))
    declared = set(re.findall(r"#defined ([a-z_]+)/\d+\.", vocabulary))
    assert emitted - {"proc", "extra"} <= declared, sorted(emitted - {"proc", "extra"} - declared)


def test_the_knowledge_base_grounds_without_a_single_warning():
    """A misspelt predicate is an atom no rule defines: clingo warns, and this test fails."""
    import clingo
    messages = []
    ctl = clingo.Control(logger=lambda _code, msg: messages.append(msg))
    ctl.load(str(KB_DIR / "main.lp"))
    ctl.ground([("base", [])])
    assert not messages, messages


def test_an_extra_program_edited_is_parsed_again_and_only_its_last_version_is_kept(tmp_path):
    import os

    from solver import engine as engine_module
    path = tmp_path / "extra.lp"
    path.write_text("a(1).\n")
    first = engine_module._parsed(path)
    path.write_text("a(1). a(2).\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    second = engine_module._parsed(path)
    assert len(second) == len(first) + 1 and engine_module._parsed(path) is second
    assert len([k for k in engine_module._PARSED if str(path.resolve()) in str(k)]) == 1
