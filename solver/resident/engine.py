"""ResidentEngine: single checks in about a millisecond, answered by programs grounded once per encounter shape.

    from solver.resident import ResidentEngine
    engine = ResidentEngine()                 # policies_dir, kb_dir, cap_mb (memory budget of the program cache),
                                              # admit_after (sightings of a shape before its program is built)
    result = engine.check(enc)                # an Encounter -> the result dict, identical to solver.engine.Engine's
    results = engine.check_many(encs)         # several: the reference engine's batch (one grounding for all)
    result = engine.solve_assuming(enc, {"documentation": {"abn_on_file": True}})   # what-if: a variant re-solved
    found = engine.solve_assuming(enc, assumable=changes, goal="allow")  # the cheapest sets of facts to assume
    results = engine.check_variants([enc, *variants])  # what-if: variants of one shape on one program
    engine.stats()                            # cache hits, misses, programs, fallbacks, rebuilds

How: an encounter's shape (solver.resident.shape) names a program (solver.resident.program) kept in a bounded
LRU cache (solver.resident.cache); the encounter's other inputs are externals assigned true and the program
is re-solved. With admit_after=2 (the service's and the Python API's), a shape's first encounter is answered by
the reference engine and its program is built when the shape comes again: a shape seen once costs the reference's
check (less than a build: bench/resident.py) and evicts no program that is in use. The result is built by the
reference engine's own code (solver.explain.build_result) from the shown atoms with the renamed values put
back, so it is byte for byte the reference engine's answer (held so by tests/test_resident_differential.py).

The reference engine (solver.engine.Engine, `self.reference`) answers instead, never a stale or partial
answer: an encounter with no shape (positions past the largest bucket, an uncertain diagnosis status), an
input outside its program's domain, any failure of a program (the program is dropped), and an unknown payer
(it raises InputError, as the reference does). When a file under the policies or knowledge-base folder
changes (asked on every call: an inotify watch on Linux, else a fingerprint of every file's path, size and
modification time; solver/resident/watch.py), the policies are loaded again and every program is dropped
before the answer. A Control is not thread-safe: the threads of one process take turns
(a lock); the service's worker processes have one engine each.

The engine takes Encounters: anything else (a dict, one encounter where a list is due) is a TypeError saying
to validate it (Encounter.model_validate) or to use solver.api, which takes dicts.
"""
from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from solver.encounter import Encounter, encounter_list, one_encounter
from solver.engine import Engine
from solver.errors import InputError, Problem, pydantic_problems
from solver.explain import build_result
from solver.paths import KB_DIR, POLICIES_DIR
from solver.resident.cache import DEFAULT_CAP_MB, ProgramCache
from solver.resident.program import ShapeProgram
from solver.resident.shape import decode_atoms, encode
from solver.resident.watch import FolderWatch

# The service's workers and the Python API build a shape's program on its second sighting: bench/resident.py
# --only-traffic (2,000 checks, half the shipped cases at random, half varied encounters seen once) took 33.9 s
# against 65.5 s building on first use, on mimalloc (no program evicted against 1,276; a one-off 29.0 ms against
# 47.5 at p50; the cases 1.54 ms against 1.87). Traffic of shapes that all come again pays one check of today's
# engine a shape.
SERVICE_ADMIT_AFTER = 2
SIGHTINGS_KEPT = 20_000  # shapes seen without a program, remembered (by hash) for the admission of a program
_DEFERRED = object()  # a shape not admitted yet: the reference engine answers, not a fallback




class ResidentEngine:
    def __init__(self, policies_dir: Path = POLICIES_DIR, kb_dir: Path = KB_DIR, cap_mb: int = DEFAULT_CAP_MB,
                 reference: Engine | None = None, watch: bool = True, admit_after: int = 1):
        self.policies_dir, self.kb_dir = Path(policies_dir), Path(kb_dir)
        self.cache = ProgramCache(cap_mb)
        # A shape's program is built on its admit_after-th sighting (1: on first use); before, the reference answers.
        # A what-if's variants (check_variants) are admitted at once: they share a program by construction.
        self.admit_after = max(1, admit_after)
        self._sightings: OrderedDict[int, int] = OrderedDict()  # hash of a shape with no program -> its sightings
        self.fallbacks = self.rebuilds = self.resident = self.first_sightings = 0
        self.build_seconds = 0.0
        self.fallback_reasons: Counter = Counter()  # no shape | outside the domain | failure
        self._lock = threading.Lock()  # a Control answers one query at a time: threads of one process take turns
        # before loading: a change while loading counts. watch=False: an engine for one call (a command's what-if)
        # over a reference engine already loaded, which does not watch the folders either
        self._watch = FolderWatch(self.policies_dir, self.kb_dir) if watch else None
        self.reference = reference or self._own_reference()

    # --- the reference engine's public surface ----------------------------------------------------
    @property
    def policies(self):
        return self.reference.policies

    @property
    def timings(self):
        return self.reference.timings

    @property
    def messages(self) -> list[str]:
        return self.reference.messages

    def unknown_payer(self, enc: Encounter) -> Problem | None:
        return self.reference.unknown_payer(enc)

    def facts_program(self, enc: Encounter) -> str:
        return self.reference.facts_program(enc)

    # --- checks ----------------------------------------------------------------------------------
    def check(self, enc: Encounter) -> dict:
        one_encounter(enc, "ResidentEngine.check")
        with self._lock:
            self._fresh()
            if enc.payer not in self.reference.policies.payers:
                return self.reference.check(enc)  # raises InputError, as the reference does
        return self._check_coded(enc, None)

    def _check_coded(self, enc: Encounter, coded, admit: bool = False) -> dict:
        """The answer from the shape's program (coded: the encounter encoded already, or None), else the reference's.
        admit: build the shape's program now, whatever its sightings."""
        with self._lock:
            got = self._resident(enc, coded, admit)
        if got is None or got is _DEFERRED:
            if got is None:
                self.fallbacks += 1
            else:  # the shape is not admitted yet: not a fallback
                self.first_sightings += 1
            return self.reference.check(enc)
        self.resident += 1
        return got

    def check_many(self, encounters: list[Encounter]) -> list[dict]:
        """One encounter: check(). Several: the reference engine in one grounding (bench/resident.py: on varied
        encounters nearly every shape is new, and a batch shares one grounding; the answers are the same)."""
        encounters = encounter_list(encounters, "ResidentEngine.check_many")
        if len(encounters) == 1:
            return [self.check(encounters[0])]
        with self._lock:
            self._fresh()
        return self.reference.check_many(encounters)

    def check_variants(self, encounters: list[Encounter], min_shared: int = 2) -> list[dict]:
        """Encounters that are mostly variants of one (what-if): each one whose shape has a program already, or is
        shared by at least `min_shared` of them, by a resident program (built once, then an assignment and a
        re-solve each); the others (a variant of a new shape: another payer or date, an injection past the
        bucket, another code) by the reference engine in one batch. The answers are the reference engine's."""
        encounters = encounter_list(encounters, "ResidentEngine.check_variants")
        with self._lock:
            self._fresh()
            ref = self.reference
            coded = [self._encode(enc) for enc in encounters]
            count = Counter(c.shape for c in coded if c is not None)
            programs = self.cache._programs
            here = [i for i, c in enumerate(coded) if c is not None and (count[c.shape] >= min_shared or c.shape in programs)]
        out: list[dict | None] = [None] * len(encounters)
        for i in here:
            out[i] = self._check_coded(encounters[i], coded[i], admit=True)
        rest = [i for i in range(len(encounters)) if out[i] is None]
        if rest:
            for i, result in zip(rest, ref.check_many([encounters[i] for i in rest])):
                out[i] = result
        return out  # type: ignore[return-value]

    def solve_assuming(self, enc: Encounter, changes: dict | None = None, *, assumable: list | None = None,
                       goal: str = "allow", limit: int = 12):
        """What-if, or what may be assumed.

        changes (contract fields, merged one level deep into documentation and evaluation): the encounter so
        changed, answered again (a variant of the same shape is an assignment of externals and a re-solve).

        assumable (solver.explore.assumable.Change, e.g. from assumable(...) of policies/assumable.yaml): the
        cheapest sets of them whose facts make the outcome `goal` (allow or modify), found by the solver on the
        shape's search program with those facts left free externals, each change with its cost
        (solver/resident/search.py): {"sets": [[Change, ...], ...], "cost": n | None (out of reach),
        "truncated": bool (more than `limit` sets of that cost)}; None when a change leaves the shape."""
        one_encounter(enc, "ResidentEngine.solve_assuming")
        if assumable is not None:
            return self._cheapest(enc, list(assumable), goal, limit)
        if changes is not None and not isinstance(changes, Mapping):
            raise TypeError(f"ResidentEngine.solve_assuming takes changes as a mapping of contract fields to values "
                            f"(e.g. {{'documentation': {{'abn_on_file': True}}}}), not a {type(changes).__name__}")
        data = enc.model_dump(mode="python")
        for key, value in (changes or {}).items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        try:
            changed = Encounter.model_validate(data)
        except ValidationError as exc:  # a change the contract does not take: named, as a bad input file is
            raise InputError(pydantic_problems(exc, "(solve_assuming changes)", f"encounter {enc.id}")) from None
        return self.check(changed)

    def _cheapest(self, enc: Encounter, changes: list, goal: str, limit: int) -> dict | None:
        from solver.resident import search
        with self._lock:
            self._fresh()
            if enc.payer not in self.reference.policies.payers:
                return None
            p = search.plan(self.reference.policies, enc, changes)
            if p is None:
                return None
            prog = search.search_program(self, p.coded.shape)
            if not search.fits(prog, p):
                return None
            got = search.cheapest(prog, p, goal, limit)
        return {"sets": [[changes[a] for a in sorted(s)] for s in got.sets], "cost": got.cost, "truncated": got.truncated}

    def stats(self) -> dict:
        return {**self.cache.stats(), "resident": self.resident, "fallbacks": self.fallbacks,
                "admit_after": self.admit_after, "first_sightings": self.first_sightings,
                "fallback_reasons": dict(self.fallback_reasons), "rebuilds": self.rebuilds,
                "build_seconds": round(self.build_seconds, 3)}

    # --- inside --------------------------------------------------------------------------------
    def _fresh(self) -> None:
        """Policies or knowledge base changed on disk: load them again and drop every program."""
        if self._watch is not None and self._watch.changed():
            self.cache.clear()
            self._sightings.clear()
            self.reference = self._own_reference()
            self.rebuilds += 1

    def _own_reference(self) -> Engine:
        """The reference engine this one lives with: pruned checks (solver/prune.py; an engine that lives long), its
        statements read for the pruning now, before the first check (a service worker does it while it warms)."""
        eng = Engine(policies_dir=self.policies_dir, kb_dir=self.kb_dir, prune=True)
        eng.pruning_parts()
        return eng

    def _encode(self, enc: Encounter):
        """The encounter encoded for a program, or None (an unknown payer, no shape, a failure: the reference answers)."""
        try:
            if enc.payer not in self.reference.policies.payers:
                return None
            return encode(self.reference.policies, enc)
        except Exception:  # noqa: BLE001
            return None

    def _admitted(self, shape) -> bool:
        """Whether a shape with no program has now been seen admit_after times (this sighting counted)."""
        if self.admit_after <= 1:
            return True
        key = hash(shape)
        seen = self._sightings.pop(key, 0) + 1
        if seen >= self.admit_after:
            return True
        self._sightings[key] = seen  # most recent last; the oldest leave first
        if len(self._sightings) > SIGHTINGS_KEPT:
            self._sightings.popitem(last=False)
        return False

    def _resident(self, enc: Encounter, coded=None, admit: bool = False):
        """The answer of the shape's program; None: the reference answers instead (a fallback); _DEFERRED: the
        shape is not admitted yet (the reference answers)."""
        ref = self.reference
        try:
            coded = coded or encode(ref.policies, enc)
            if coded is None:
                self.fallback_reasons["no shape"] += 1
                return None
            prog = self.cache.get(coded.shape)
            if prog is None:
                if not admit and not self._admitted(coded.shape):
                    return _DEFERRED
                t0 = time.perf_counter()
                prog = ShapeProgram(ref, coded.shape)
                self.build_seconds += time.perf_counter() - t0
                self.cache.put(coded.shape, prog)
            lits = prog.literals(coded.true)
            if lits is None:
                self.fallback_reasons["outside the domain"] += 1
                return None
            shown = prog.solve(lits)
            return build_result(ref.policies, enc, coded.ef, decode_atoms(shown, coded.decode))
        except Exception:  # noqa: BLE001 - the reference engine answers instead; the program is not trusted again
            self.fallback_reasons["failure"] += 1
            try:
                self.cache._programs.pop(coded.shape, None)  # type: ignore[possibly-undefined]
            except Exception:  # noqa: BLE001
                pass
            return None
