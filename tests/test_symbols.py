"""solver/symbols.py makes and reads clingo symbols through clingo's own C binding: it must give exactly the
symbols clingo's public API gives, for any value an encounter may carry (held here for arbitrary values, so a
clingo release that changes its binding fails this test before it changes an answer)."""
from __future__ import annotations

import clingo
from clingo import Function, Number, String
from hypothesis import given, settings
from hypothesis import strategies as st

from solver import symbols

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
NUMBERS = st.integers(min_value=-(2 ** 31), max_value=2 ** 31 - 1)
VALUES = st.recursive(st.one_of(NUMBERS.map(lambda n: ("n", n)), TEXT.map(lambda s: ("s", s))),
                      lambda inner: st.tuples(st.just("f"), NAMES, st.lists(inner, max_size=4)), max_leaves=12)


def public(v):
    kind = v[0]
    if kind == "n":
        return Number(v[1])
    if kind == "s":
        return String(v[1])
    return Function(v[1], [public(a) for a in v[2]])


def built(b, v):
    kind = v[0]
    if kind == "n":
        return b.value(v[1])
    if kind == "s":
        return b.value(v[1])
    return b.function(v[1], [built(b, a) for a in v[2]])


@settings(max_examples=300, deadline=None)
@given(v=VALUES)
def test_a_symbol_made_through_the_binding_is_the_public_apis_symbol_and_reads_back_the_same(v):
    b = symbols.builder()
    rep = built(b, v)
    sym = public(v)
    assert symbols.symbol(rep) == sym and symbols.handle(sym) == rep
    t = symbols.term(rep)
    assert t.text == str(sym)
    if v[0] in ("n", "s"):
        assert t.py == v[1]
    else:
        assert t.name == v[1] and [a.text for a in t.args] == [str(a) for a in sym.arguments]


@settings(max_examples=100, deadline=None)
@given(a=VALUES, c=VALUES)
def test_terms_are_ordered_as_clingo_orders_symbols(a, c):
    b = symbols.builder()
    ta, tc = symbols.term(built(b, a)), symbols.term(built(b, c))
    assert (ta < tc) == (public(a) < public(c))


def test_facts_added_by_handle_are_the_facts_of_the_program():
    ctl = clingo.Control()
    facts = [Function("p", [Number(1), String("a \"quoted\" text")]), Function("q", [Function("r", [])])]
    with ctl.backend() as backend:
        symbols.builder().add_facts(backend, [symbols.handle(f) for f in facts])
    ctl.ground([("base", [])])
    models = []
    ctl.solve(on_model=lambda m: models.append(sorted(m.symbols(atoms=True))))
    assert models == [sorted(facts)]


@settings(max_examples=60, deadline=None)
@given(facts=st.lists(VALUES, max_size=8), externals=st.lists(VALUES, max_size=8), others=st.lists(VALUES, max_size=4))
def test_the_literals_looked_up_through_the_binding_are_the_public_apis(facts, externals, others):
    """Facts and externals added as handles are the atoms the public API finds, with its literals; a symbol
    that is no atom has none."""
    b = symbols.builder()
    ctl = clingo.Control()
    with ctl.backend() as backend:
        b.add_facts(backend, [b.function("f", [built(b, v)]) for v in facts])
        for v in externals:
            backend.add_external(backend.add_atom(Function("x", [public(v)])), clingo.TruthValue.Free)
    ctl.ground([("base", [])])
    asked = [Function("f", [public(v)]) for v in facts] + [Function("x", [public(v)]) for v in externals] \
        + [Function("g", [public(v)]) for v in others]
    atoms = ctl.symbolic_atoms
    expected = [atom.literal if (atom := atoms[sym]) is not None else None for sym in asked]
    assert symbols.literals(atoms, [symbols.handle(sym) for sym in asked]) == expected
    assert all(lit is None for lit in expected[len(facts) + len(externals):])
