"""The statements of a check's program that can never fire for its inputs, left out before grounding, and the
family pools of the others narrowed to the families in force.

clingo pays for every non-ground statement it grounds, matched or not: about 15-20 µs a body literal (17 ms for
the 330 statements of the knowledge base over no facts at all), and a pool `F = (a;b)` is grounded as one rule
per element. A single check spends most of its grounding there. A statement cannot fire when one of its plain
positive body literals names

- a predicate that has no facts (nor externals) and that no statement left in can derive (a fixpoint), or
- `rule(K,F)` with a family F (a constant, or a pool `F = (a;b)` in the same body) that no rule in force has.

Leaving such a statement out changes no answer set: its body is false in every one. A pool of families in a
statement kept is narrowed to the families in force (`F = a` when only a is), which changes no ground rule. A
predicate that only left-out statements defined gets a `#defined` statement, so clingo stays silent about it.
Aggregates, conditional literals and negative literals never decide. Only a program whose every fact is known
when it is made may be pruned: a check's (solver.engine.Engine._solve) and a shape's check program
(solver.resident.program), never a search program to which facts are added later.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from clingo import ast

_RULE = ("rule", 2)  # rule(K,Family): the family of each rule in force (solver/facts.py rule_facts)
_LOC = ast.Location(ast.Position("<pruned>", 1, 1), ast.Position("<pruned>", 1, 1))


@dataclass(frozen=True, eq=False)
class Statement:
    """What the pruning reads of one statement."""

    stmt: object
    heads: frozenset  # the predicates its head may derive
    needs: frozenset  # the predicates of its plain positive body literals
    families: frozenset | None  # the families its rule(K,F) literals allow (None: any)
    pool_at: int | None  # the body index of a comparison `F = (a;b)` of the family variable, to narrow
    pool: frozenset = frozenset()  # the families of that pool
    narrowed: dict = field(default_factory=dict)  # families kept of the pool -> the statement narrowed (made once)


def _signature(atom) -> tuple[str, int] | None:
    sym = atom.symbol
    if sym.ast_type == ast.ASTType.Function and not sym.external:
        return (sym.name, len(sym.arguments))
    return None


def _constants(term) -> dict[str, object] | None:
    """The constants a term may be (name -> its term node): a constant or a pool of them; None otherwise."""
    if term.ast_type == ast.ASTType.SymbolicTerm and term.symbol.type.name == "Function" and not term.symbol.arguments:
        return {term.symbol.name: term}
    if term.ast_type == ast.ASTType.Function and not term.arguments and not term.external:
        return {term.name: term}
    if term.ast_type == ast.ASTType.Pool:
        out: dict[str, object] = {}
        for arg in term.arguments:
            got = _constants(arg)
            if got is None:
                return None
            out.update(got)
        return out
    return None


def _head_signatures(head) -> set | None:
    """The predicates a head may derive; None for a form not read here (then nothing is pruned)."""
    kind = head.ast_type
    if kind == ast.ASTType.Literal:
        if head.atom.ast_type == ast.ASTType.BooleanConstant:
            return set()
        if head.atom.ast_type != ast.ASTType.SymbolicAtom:
            return None
        sig = _signature(head.atom)
        return None if sig is None else {sig}
    if kind in (ast.ASTType.Aggregate, ast.ASTType.Disjunction):
        out: set = set()
        for element in head.elements:
            lit = element.literal
            if lit.atom.ast_type != ast.ASTType.SymbolicAtom:
                return None
            sig = _signature(lit.atom)
            if sig is None:
                return None
            out.add(sig)
        return out
    return None


def _plain(lit) -> bool:
    return lit.ast_type == ast.ASTType.Literal and lit.sign == ast.Sign.NoSign


def _body(body) -> tuple[set, frozenset | None, int | None]:
    """(the predicates of the plain positive literals, the families allowed or None, the index of the family pool)."""
    needs: set = set()
    families: set | None = None
    pools: dict[str, tuple[int, dict]] = {}  # variable -> (index, constants) of `V = (a;b)`
    for i, lit in enumerate(body):
        if not _plain(lit):
            continue
        atom = lit.atom
        if (atom.ast_type == ast.ASTType.Comparison and len(atom.guards) == 1
                and atom.guards[0].comparison == ast.ComparisonOperator.Equal and atom.term.ast_type == ast.ASTType.Variable):
            got = _constants(atom.guards[0].term)
            if got is not None:
                pools[atom.term.name] = (i, got)
    pool_at = None
    for lit in body:
        if not _plain(lit) or lit.atom.ast_type != ast.ASTType.SymbolicAtom:
            continue
        sig = _signature(lit.atom)
        if sig is None:
            continue
        needs.add(sig)
        if sig == _RULE:
            arg = lit.atom.symbol.arguments[1]
            if arg.ast_type == ast.ASTType.Variable:
                got = pools.get(arg.name)
                if got is None:
                    continue
                pool_at, allowed = got[0], set(got[1])
            else:
                constants = _constants(arg)
                if constants is None:
                    continue
                allowed = set(constants)
            families = allowed if families is None else families & allowed
    return needs, (None if families is None else frozenset(families)), pool_at


def read(stmts: list) -> list[Statement] | None:
    """The statements as the pruning reads them; None when one has a form not read here (nothing is pruned)."""
    out = []
    for stmt in stmts:
        kind = stmt.ast_type
        pool_at = None
        if kind == ast.ASTType.Rule:
            heads = _head_signatures(stmt.head)
            if heads is None:
                return None
            needs, families, pool_at = _body(stmt.body)
        elif kind in (ast.ASTType.Minimize, ast.ASTType.ShowTerm):
            heads = set()
            needs, families, pool_at = _body(stmt.body)
        elif kind in (ast.ASTType.Program, ast.ASTType.ShowSignature, ast.ASTType.Defined):
            heads, needs, families = set(), set(), None
        else:
            return None
        pool = frozenset(_constants(stmt.body[pool_at].atom.guards[0].term)) if pool_at is not None else frozenset()
        out.append(Statement(stmt, frozenset(heads), frozenset(needs), families, pool_at, pool))
    return out


def _narrowed(st: Statement, families: set):
    """The statement with its family pool narrowed to the families in force (each narrowing made once: the AST
    is rebuilt through clingo's C API)."""
    if st.pool_at is None:
        return st.stmt
    keep = st.pool & families
    got = st.narrowed.get(keep)
    if got is None:
        lit = st.stmt.body[st.pool_at]
        guard = lit.atom.guards[0]
        constants = _constants(guard.term)
        if len(keep) == len(constants):
            got = st.stmt
        else:
            terms = [term for name, term in constants.items() if name in keep]
            term = terms[0] if len(terms) == 1 else ast.Pool(guard.term.location, terms)
            body = list(st.stmt.body)
            body[st.pool_at] = lit.update(atom=lit.atom.update(guards=[guard.update(term=term)]))
            got = st.stmt.update(body=body)
        st.narrowed[keep] = got
    return got


def live(statements: list[Statement], given: set, families: set) -> list:
    """The statements that may fire (family pools narrowed), then a `#defined` for each predicate only the others
    defined. given: the predicates with facts or externals in the program; families: those of the rules in force."""
    possible = set(given)
    fires = [False] * len(statements)
    unmet: list[int] = []
    waiting: dict[tuple, list[int]] = {}  # a predicate not yet possible -> the statements that need it
    ready: list[int] = []
    for i, st in enumerate(statements):
        if st.families is not None and not st.families & families:
            unmet.append(-1)  # never fires
            continue
        missing = st.needs - possible
        unmet.append(len(missing))
        for sig in missing:
            waiting.setdefault(sig, []).append(i)
        if not missing:
            ready.append(i)
    while ready:
        i = ready.pop()
        fires[i] = True
        for sig in statements[i].heads:
            if sig in possible:
                continue
            possible.add(sig)
            for j in waiting.pop(sig, ()):
                unmet[j] -= 1
                if unmet[j] == 0:
                    ready.append(j)
    kept = [_narrowed(st, families) for i, st in enumerate(statements) if fires[i]]
    lost = {h for st in statements for h in st.heads} - possible
    return kept + [_defined(sig) for sig in sorted(lost)]


_DEFINED: dict[tuple[str, int], object] = {}


def _defined(sig: tuple[str, int]):
    """`#defined name/arity.` as an AST node, made once."""
    got = _DEFINED.get(sig)
    if got is None:
        got = _DEFINED[sig] = ast.Defined(_LOC, sig[0], sig[1], 1)
    return got
