"""A family is its .lp file plus its spec in kb/families.yaml: the details it fills, the evidence it derives."""
import re
import shutil
from pathlib import Path

import clingo
import pytest
import yaml
from clingo import ast

from solver.errors import PolicyError
from solver.paths import KB_DIR, POLICIES_DIR
from solver.policy import load_policies

SPEC = yaml.safe_load((KB_DIR / "families.yaml").read_text())
SOLVER = Path(__file__).resolve().parent.parent / "solver"


def _heads(path: Path, name: str, arity: int) -> list[ast.AST]:
    """The head atoms name/arity of the rules of one .lp file."""
    out = []

    def visit(stmt):
        if stmt.ast_type == ast.ASTType.Rule and stmt.head.ast_type == ast.ASTType.Literal:
            atom = stmt.head.atom
            if atom.ast_type == ast.ASTType.SymbolicAtom:
                sym = atom.symbol
                if sym.ast_type == ast.ASTType.Function and sym.name == name and len(sym.arguments) == arity:
                    out.append(sym)
    ast.parse_string(path.read_text(), visit)
    return out


def _families_of(file: str) -> list[str]:
    return [name for name, spec in SPEC["families"].items() if spec["file"] == file]


@pytest.mark.parametrize("file", sorted({spec["file"] for spec in SPEC["families"].values()}))
def test_every_evidence_term_and_detail_a_family_derives_is_declared_in_its_spec(file):
    path = KB_DIR / "families" / file
    declared_terms = {t for f in _families_of(file) for t in SPEC["families"][f].get("evidence", [])}
    declared_details = {d for f in _families_of(file) for d in SPEC["families"][f].get("details", [])} | {"code"}
    for head in _heads(path, "evidence", 5):
        term = head.arguments[4]
        if term.ast_type == ast.ASTType.Function:
            key = f"{term.name}/{len(term.arguments)}"
        else:
            key = f"{term}/0"
        assert key in declared_terms, f"{file}: evidence term {key} is not declared in kb/families.yaml"
    for head in _heads(path, "detail", 6):
        assert str(head.arguments[4]) in declared_details, f"{file}: detail {head.arguments[4]} is not declared"


def test_the_explanation_layer_names_no_family():
    text = (SOLVER / "explain.py").read_text()
    named = [f for f in SPEC["families"] if re.search(rf"\b{f}\b", text)]
    assert not named, f"explain.py branches on families {named}; put the words in kb/families.yaml"


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    shutil.copytree(KB_DIR, tmp_path / "kb")
    shutil.copytree(POLICIES_DIR, tmp_path / "policies")
    return tmp_path / "policies", tmp_path / "kb"


def test_a_misspelt_placeholder_in_a_message_is_a_load_error_naming_the_rule(tmp_path):
    policies, kb = _copy(tmp_path)
    path = policies / "rulesets" / "icd10cm.yaml"
    path.write_text(path.read_text().replace("matches the {region} region", "matches the {regoin} region"))
    with pytest.raises(PolicyError) as exc:
        load_policies(policies, kb)
    text = str(exc.value)
    assert "icd10cm.yaml" in text and ".message" in text and "{regoin}" in text and "'region'" in text


def test_a_family_that_kb_main_does_not_include_is_a_load_error(tmp_path):
    policies, kb = _copy(tmp_path)
    main = kb / "main.lp"
    main.write_text(main.read_text().replace('#include "families/repeat_response.lp".\n', ""))
    with pytest.raises(PolicyError) as exc:
        load_policies(policies, kb)
    assert "families.repeat_response.file" in str(exc.value) and "does not include" in str(exc.value)


def test_an_evidence_term_without_a_reading_is_a_load_error(tmp_path):
    policies, kb = _copy(tmp_path)
    spec = kb / "families.yaml"
    spec.write_text(spec.read_text().replace('  region/1: "region {0}"\n', ""))
    with pytest.raises(PolicyError) as exc:
        load_policies(policies, kb)
    assert "region/1 has no reading" in str(exc.value)


def test_the_knowledge_base_declares_what_its_families_define_for_each_other():
    """Grounded with no family at all, the core files raise no warning: every cross-family predicate is declared."""
    from solver.engine import kb_parts
    messages = []
    ctl = clingo.Control(logger=lambda _c, m: messages.append(m))
    with ast.ProgramBuilder(ctl) as builder:
        for name, stmts in kb_parts():
            if not name.startswith("families/"):
                for stmt in stmts:
                    builder.add(stmt)
    ctl.ground([("base", [])])
    assert messages == []
