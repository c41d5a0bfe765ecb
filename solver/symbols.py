"""clingo's symbol API at the C level, for the hot loops of a batch: making the facts of an encounter, adding
them to a Control, and reading the answer atoms back.

The Python classes of clingo (clingo.Function, Backend.add_atom, Symbol.arguments) allocate a cffi buffer
for every call; a batch makes about 100 facts and reads about 80 atoms an encounter, so this module calls
the same C functions of clingo's own binding (clingo._internal) with buffers made once. It is still the
symbol API: a value becomes a clingo String, Number or Function, never program text. A symbol here is its
handle (`Symbol._rep`, a 64-bit integer): clingo keeps every symbol for the life of the process, so a handle
names one symbol for good, and two handles are equal exactly when the symbols are.
"""
from __future__ import annotations

import threading

from clingo import Symbol, SymbolType
from clingo._internal import _ffi, _lib

_create_function = _lib.clingo_symbol_create_function
_create_number = _lib.clingo_symbol_create_number
_create_string = _lib.clingo_symbol_create_string
_NUMBER, _STRING, _FUNCTION = SymbolType.Number.value, SymbolType.String.value, SymbolType.Function.value
_SUPREMUM = SymbolType.Supremum.value
_SHOWN = _lib.clingo_show_type_shown
_CACHE_LIMIT = 200_000  # values and decoded atoms kept per process (a few tens of MB at most)
_numbers: dict[int, int] = {}
_strings: dict[str, int] = {}
_names: dict[str, bytes] = {}
_local = threading.local()  # clingo's C calls release the GIL: each thread has its own out-buffers


def _check(ok: bool) -> None:
    if not ok:
        raise RuntimeError(_ffi.string(_lib.clingo_error_message()).decode())


class Builder:
    """Makes symbol handles, with out-buffers of its own (one Builder a thread: see builder())."""

    __slots__ = ("_out", "_atom", "_args", "_size", "_chars", "_int")

    def __init__(self):
        self._out = _ffi.new("clingo_symbol_t*")
        self._atom = _ffi.new("clingo_atom_t*")
        self._args = _ffi.new("clingo_symbol_t**")
        self._size = _ffi.new("size_t*")
        self._chars = _ffi.new("char**")
        self._int = _ffi.new("int*")

    def number(self, n: int) -> int:
        rep = _numbers.get(n)
        if rep is None:
            _create_number(n, self._out)
            rep = self._out[0]
            if len(_numbers) < _CACHE_LIMIT:
                _numbers[n] = rep
        return rep

    def string(self, s: str) -> int:
        rep = _strings.get(s)
        if rep is None:
            _check(_create_string(s.encode(), self._out))
            rep = self._out[0]
            if len(_strings) < _CACHE_LIMIT:
                _strings[s] = rep
        return rep

    def function(self, name: str, args: list[int]) -> int:
        """The handle of name(args...) (args are handles)."""
        b = _names.get(name)
        if b is None:
            b = _names[name] = name.encode()
        _check(_create_function(b, args, len(args), True, self._out))
        return self._out[0]

    def value(self, a) -> int:
        """The handle of a Python value as the facts use it: a Symbol as is, an int a Number, else a String."""
        cls = a.__class__
        if cls is str:
            rep = _strings.get(a)
            return self.string(a) if rep is None else rep
        if cls is int:
            rep = _numbers.get(a)
            return self.number(a) if rep is None else rep
        if isinstance(a, Symbol):
            return a._rep  # pylint: disable=protected-access
        if isinstance(a, int):
            return self.number(a)
        return self.string(str(a))

    def add_facts(self, backend, reps) -> None:
        """Each handle a fact of the program of an open clingo.Backend (backend.add_rule([backend.add_atom(s)]))."""
        b = backend._rep  # pylint: disable=protected-access
        add_atom, rule, null, out, atom = _lib.clingo_backend_add_atom, _lib.clingo_backend_rule, _ffi.NULL, self._out, self._atom
        for rep in reps:
            out[0] = rep
            if not (add_atom(b, out, atom) and rule(b, False, atom, 1, null, 0)):
                _check(False)


def literals(atoms, reps) -> list[int | None]:
    """The program literal of each symbol handle among a grounded Control's symbolic atoms (ctl.symbolic_atoms),
    None for a symbol that is no atom: `atoms[Symbol(rep)].literal` without a cffi buffer a call."""
    a = atoms._rep  # pylint: disable=protected-access
    find, valid_, literal = _lib.clingo_symbolic_atoms_find, _lib.clingo_symbolic_atoms_is_valid, _lib.clingo_symbolic_atoms_literal
    it, ok, lit = _ffi.new("clingo_symbolic_atom_iterator_t*"), _ffi.new("bool*"), _ffi.new("clingo_literal_t*")
    out: list[int | None] = []
    for rep in reps:
        _check(find(a, rep, it))
        _check(valid_(a, it[0], ok))
        if not ok[0]:
            out.append(None)
            continue
        _check(literal(a, it[0], lit))
        out.append(lit[0])
    return out


def builder() -> Builder:
    """This thread's Builder."""
    b = getattr(_local, "builder", None)
    if b is None:
        b = _local.builder = Builder()
    return b


def model_handles(model) -> list[int]:
    """The handles of the shown atoms of a clingo.Model (model.symbols(shown=True), without a Symbol each)."""
    m, size = model._rep, _ffi.new("size_t*")  # pylint: disable=protected-access
    _check(_lib.clingo_model_symbols_size(m, _SHOWN, size))
    if not size[0]:
        return []
    out = _ffi.new("clingo_symbol_t[]", size[0])
    _check(_lib.clingo_model_symbols(m, _SHOWN, out, size[0]))
    return _ffi.unpack(out, size[0])


def handle(sym: Symbol) -> int:
    return sym._rep  # pylint: disable=protected-access


def symbol(rep: int) -> Symbol:
    return Symbol(rep)


class Term:
    """A symbol read back once: its kind, value (number or string), name and arguments (Terms), and its text.

    Equal symbols give equal Terms (by handle; usually the very same object, decoded once per process), and
    `sym` is the clingo Symbol for whoever needs one."""

    __slots__ = ("rep", "type", "name", "args", "value", "_text")

    def __init__(self, rep: int, type_: int, name: str, args: tuple, value):
        self.rep, self.type, self.name, self.args, self.value, self._text = rep, type_, name, args, value, None

    @property
    def sym(self) -> Symbol:
        return Symbol(self.rep)

    @property
    def text(self) -> str:
        """str(Symbol): clingo's own printer."""
        if self._text is None:
            self._text = str(Symbol(self.rep))
        return self._text

    @property
    def py(self):
        """A Number as int, a String as str, #sup as None, anything else as its text (how a result shows a value)."""
        if self.type == _NUMBER or self.type == _STRING:
            return self.value
        if self.type == _SUPREMUM:
            return None
        return self.text

    def __eq__(self, other) -> bool:
        return self is other or (isinstance(other, Term) and other.rep == self.rep)

    def __hash__(self) -> int:
        return hash(self.rep)

    def __lt__(self, other: "Term") -> bool:  # clingo's order of symbols
        return bool(_lib.clingo_symbol_is_less_than(self.rep, other.rep))

    def __repr__(self) -> str:
        return f"Term({self.text})"


_terms: dict[int, Term] = {}


def term(rep: int) -> Term:
    """The Term of a symbol handle (decoded once; later calls are a dictionary look-up)."""
    t = _terms.get(rep)
    if t is not None:
        return t
    b = builder()
    typ = _lib.clingo_symbol_type(rep)
    if typ == _NUMBER:
        _check(_lib.clingo_symbol_number(rep, b._int))
        t = Term(rep, typ, "", (), b._int[0])
    elif typ == _STRING:
        _check(_lib.clingo_symbol_string(rep, b._chars))
        t = Term(rep, typ, "", (), _ffi.string(b._chars[0]).decode())
    elif typ == _FUNCTION:
        _check(_lib.clingo_symbol_name(rep, b._chars))
        name = _ffi.string(b._chars[0]).decode()
        _check(_lib.clingo_symbol_arguments(rep, b._args, b._size))
        n = b._size[0]
        reps = _ffi.unpack(b._args[0], n) if n else ()
        get = _terms.get
        t = Term(rep, typ, name, tuple(get(r) or term(r) for r in reps), None)
    else:  # #inf, #sup
        t = Term(rep, typ, "", (), None)
    if len(_terms) >= _CACHE_LIMIT:
        _terms.clear()
    _terms[rep] = t
    return t
