"""solver/prune.py: the statements that cannot fire are left out, and no answer changes.

- on random small programs (hypothesis), the pruned program has the answer sets of the whole program;
- on the shipped cases and varied encounters, a check of the pruned knowledge base answers byte for byte as one of
  every statement (Engine(), whose default is every statement), on today's engine and on the resident programs;
- what is left out: a family not in force, a predicate nothing gives; a pool narrowed; a #defined for the lost.
"""
from __future__ import annotations

import json

import clingo
import pytest
from clingo import ast
from hypothesis import given, settings
from hypothesis import strategies as st

from resident_corpus import shipped_cases, varied_encounters
from solver.encounter import Encounter
from solver.engine import Engine
from solver.prune import live, read
from solver.resident import ResidentEngine


def _parse(text: str) -> list:
    stmts: list = []
    ast.parse_string(text, lambda s: s.ast_type != ast.ASTType.Program and stmts.append(s))
    return stmts


def _answer_sets(stmts: list, facts: str) -> list[list[str]]:
    """Every answer set (of a program with weak constraints: every optimal one; the models clingo passes on
    its way to the optimum depend on its search, not on the program's meaning)."""
    ctl = clingo.Control(["0", "--warn=none", "--opt-mode=optN"])
    with ast.ProgramBuilder(ctl) as builder:
        for stmt in _parse(facts) + stmts:
            builder.add(stmt)
    ctl.ground([("base", [])])
    out: list[list[str]] = []

    def on_model(m: clingo.Model) -> None:
        if m.optimality_proven or not m.cost:
            out.append(sorted(str(s) for s in m.symbols(atoms=True)))

    ctl.solve(on_model=on_model)
    return sorted(out)


PREDICATES = ["p", "q", "r", "s", "t"]
FAMILIES = ["fa", "fb", "fc"]
literal = st.tuples(st.sampled_from(PREDICATES), st.booleans())  # (predicate, negated)
rule_literal = st.one_of(st.none(), st.sampled_from(FAMILIES).map(lambda f: f"rule(K,{f})"),
                         st.lists(st.sampled_from(FAMILIES), min_size=2, max_size=3, unique=True)
                         .map(lambda fs: f"rule(K,F), F = ({';'.join(fs)})"))


@st.composite
def programs(draw):
    """Rules over p..t/1 (keyed by X, some reading rule(K,F) of a family), choices among them, and facts."""
    rules = []
    for _ in range(draw(st.integers(1, 8))):
        head = draw(st.sampled_from(PREDICATES))
        body = draw(st.lists(literal, min_size=1, max_size=3))
        positive = [f"{p}(X)" for p, neg in body if not neg] or ["dom(X)"]
        negative = [f"not {p}(X)" for p, neg in body if neg]
        fam = draw(rule_literal)
        parts = positive + negative + ([fam, "key(K)"] if fam else [])
        if draw(st.booleans()):
            rules.append(f"{{ {head}(X) }} :- {', '.join(parts)}.")
        else:
            rules.append(f"{head}(X) :- {', '.join(parts)}.")
    if draw(st.booleans()):
        rules.append(f":~ {draw(st.sampled_from(PREDICATES))}(X). [1@1,X]")
    facts = draw(st.lists(st.sampled_from(PREDICATES), max_size=3, unique=True))
    in_force = draw(st.lists(st.sampled_from(FAMILIES), max_size=2, unique=True))
    fact_text = " ".join(["dom(1). dom(2). key(1). key(2)."] + [f"{p}(1)." for p in facts]
                         + [f"rule({k},{f})." for k, f in enumerate(in_force, start=1)])
    defined = " ".join(f"#defined {p}/1." for p in PREDICATES) + " #defined rule/2."
    return "\n".join(rules), fact_text, defined, facts, in_force


@settings(max_examples=300, deadline=None)
@given(programs())
def test_a_pruned_program_has_the_answer_sets_of_the_whole(program):
    rules, facts, defined, with_facts, in_force = program
    stmts = _parse(defined + "\n" + rules)
    given_sigs = {(p, 1) for p in with_facts} | {("dom", 1), ("key", 1)} | ({("rule", 2)} if in_force else set())
    kept = live(read(stmts), given_sigs, set(in_force))
    assert _answer_sets(kept, facts) == _answer_sets(stmts, facts)


def test_what_is_left_out_and_narrowed():
    stmts = _parse("""
        a(E,K) :- applies(E,K), rule(K,fam_in).
        b(E,K) :- applies(E,K), rule(K,fam_out).
        c(E,K) :- applies(E,K), rule(K,F), F = (fam_in; fam_out).
        d(E) :- absent(E).
        e(E) :- applies(E,_), not d(E).
    """)
    kept = live(read(stmts), {("applies", 2), ("rule", 2)}, {"fam_in"})
    text = [str(s) for s in kept]
    assert "a(E,K) :- applies(E,K); rule(K,fam_in)." in text
    assert not any(t.startswith("b(") or t.startswith("d(") for t in text)
    assert "c(E,K) :- applies(E,K); rule(K,F); F = fam_in." in text  # the pool narrowed to the family in force
    assert "#defined b/2." in text and "#defined d/1." in text  # defined only by statements left out
    assert "e(E) :- applies(E,_); not d(E)." in text


def test_a_statement_the_pruning_cannot_read_leaves_the_program_whole():
    stmts = _parse("-a(1). b :- -a(1).")  # classical negation: not read
    assert read(stmts) is None


@pytest.fixture(scope="module")
def engines():
    return Engine(prune=True), Engine()


def _corpus(pol) -> list[Encounter]:
    return shipped_cases(pol) + [Encounter.model_validate(r) for r in varied_encounters(150, seed=31)]


def test_checks_of_the_pruned_knowledge_base_answer_as_every_statement(engines):
    pruned, whole = engines
    encounters = _corpus(pruned.policies)
    assert json.dumps([pruned.check(e) for e in encounters]) == json.dumps([whole.check(e) for e in encounters])
    # and batches (one grounding for many: nearly every statement may fire)
    assert json.dumps(pruned.check_many(encounters)) == json.dumps(whole.check_many(encounters))
    assert not pruned.messages  # no clingo message: a predicate left undefined got its #defined


def test_the_pruning_leaves_statements_out_of_a_single_check():
    pruned = Engine(prune=True)
    enc = shipped_cases(pruned.policies)[0]
    pruned.check(enc)
    [((files, _given, _families), kept)] = pruned._pruned.items()
    every = sum(len(stmts) for name, stmts, _d in pruned._parts if not name.startswith("families/") or name in files)
    assert len([s for s in kept if s.ast_type != ast.ASTType.Defined]) < every


def test_resident_programs_of_the_pruned_knowledge_base_answer_as_every_statement(engines):
    pruned, whole = engines
    encounters = _corpus(pruned.policies)[::3]
    res = ResidentEngine(reference=pruned, watch=False)
    assert json.dumps([res.check(e) for e in encounters]) == json.dumps([whole.check(e) for e in encounters])
    assert res.resident > len(encounters) // 2


def test_a_resident_engine_of_its_own_prunes_and_a_command_does_not():
    assert ResidentEngine(watch=False).reference.prune is True  # the service's workers and the Python API
    assert Engine().prune is False  # a command's cold start reads no statement for the pruning
