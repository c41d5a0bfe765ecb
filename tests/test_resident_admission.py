"""Admission of shape programs: with admit_after=2 (the service's workers and the Python API), a shape's first
encounter is answered by the reference engine and its program is built when the shape comes again; a what-if's
variants are admitted at once. Every answer is the reference engine's, whichever path gave it."""
from __future__ import annotations

import json

import pytest

import solver.resident.engine as resident_engine
from resident_corpus import shipped_cases
from solver.engine import Engine
from solver.resident import ResidentEngine
from solver.resident.shape import encode


@pytest.fixture(scope="module")
def ref():
    return Engine()


def _distinct_shapes(ref: Engine, n: int) -> list:
    """n shipped cases, each of a shape of its own."""
    seen, out = set(), []
    for enc in shipped_cases(ref.policies):
        coded = encode(ref.policies, enc)
        if coded is not None and coded.shape not in seen:
            seen.add(coded.shape)
            out.append(enc)
        if len(out) == n:
            return out
    raise AssertionError(f"fewer than {n} shapes in the shipped cases")


def _same(a: dict, b: dict) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_a_shape_is_built_on_its_second_sighting_and_answered_from_its_program_after(ref):
    enc = _distinct_shapes(ref, 1)[0]
    want = ref.check(enc)
    res = ResidentEngine(reference=ref, watch=False, admit_after=2)
    first = res.check(enc)
    assert res.stats()["first_sightings"] == 1 and len(res.cache) == 0 and res.resident == 0
    second = res.check(enc)
    assert len(res.cache) == 1 and res.resident == 1 and res.cache.misses == 2
    third = res.check(enc)
    assert res.cache.hits == 1 and res.resident == 2 and res.fallbacks == 0
    assert all(_same(got, want) for got in (first, second, third))


def test_built_on_first_use_by_default(ref):
    enc = _distinct_shapes(ref, 1)[0]
    res = ResidentEngine(reference=ref, watch=False)
    assert _same(res.check(enc), ref.check(enc))
    assert len(res.cache) == 1 and res.resident == 1 and res.stats()["first_sightings"] == 0


def test_a_whatifs_variants_are_admitted_at_once(ref):
    enc = _distinct_shapes(ref, 1)[0]
    res = ResidentEngine(reference=ref, watch=False, admit_after=2)
    variant = enc.model_copy(update={"id": enc.id + "-again"})
    got = res.check_variants([enc, variant])
    assert len(res.cache) == 1 and res.resident == 2 and res.stats()["first_sightings"] == 0
    assert [g["encounter"] for g in got] == [enc.id, variant.id]
    assert all(_same(g, w) for g, w in zip(got, ref.check_many([enc, variant])))


def test_shapes_seen_once_are_remembered_within_a_bound(ref, monkeypatch):
    monkeypatch.setattr(resident_engine, "SIGHTINGS_KEPT", 2)
    a, b, c = _distinct_shapes(ref, 3)
    res = ResidentEngine(reference=ref, watch=False, admit_after=2)
    for enc in (a, b, c):  # a is forgotten when c is remembered
        res.check(enc)
    assert len(res._sightings) == 2 and len(res.cache) == 0
    res.check(a)  # a first sighting again
    assert len(res.cache) == 0 and res.stats()["first_sightings"] == 4
    res.check(c)  # remembered: built now
    assert len(res.cache) == 1 and res.resident == 1


def test_the_service_and_the_api_wait_for_a_second_sighting(tmp_path, monkeypatch):
    import solver.api as api
    import solver.service.pool as pool

    assert resident_engine.SERVICE_ADMIT_AFTER == 2
    monkeypatch.setattr(api, "_ENGINE", None)
    assert api.engine().admit_after == resident_engine.SERVICE_ADMIT_AFTER
    monkeypatch.setattr(pool, "_ENGINE", None)
    monkeypatch.setattr(pool.signal, "signal", lambda *_: None)  # the worker's signal set-up, not this process's
    pool.init_worker(str(api.engine().policies_dir))
    assert pool._ENGINE.admit_after == resident_engine.SERVICE_ADMIT_AFTER
