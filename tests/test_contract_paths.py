"""The two readers of contract-v1 paths share one parser (solver/explore/patching.py path_steps): what-if's
(--set, fields only, blanks trimmed) and the explorations' changes (solver/explore/contract_paths.py, which also
takes indexes before a field). Each reads every text as its own parser of before did, with the same messages."""
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.errors import InputError
from solver.explore import contract_paths, patching

_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|(\.)")
_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")


def tokenizer_of_before(path: str):
    """contract_paths' own tokenizer before it shared patching's parser: steps, or (field, message) of its error."""
    out, pos, expect_name = [], 0, True
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m or (m.group(3) and expect_name) or (m.group(1) and not expect_name):
            return (path, ("not a contract-v1 path; write e.g. documentation.conservative_therapy.failed or "
                           "injections[0].muscle"))
        if m.group(1):
            out.append(m.group(1))
            expect_name = False
        elif m.group(2):
            out.append(int(m.group(2)))
        else:
            expect_name = True
        pos = m.end()
    if not out or expect_name:
        return (path or "(empty)", "not a contract-v1 path")
    return out


def parser_of_before(text: str):
    """patching's parser before: steps, or None for a text it refused."""
    steps = []
    for part in text.strip().split("."):
        m = _STEP.fullmatch(part)
        if not m:
            return None
        steps.append(m.group(1))
        steps += [int(i) for i in re.findall(r"\[(\d+)\]", m.group(2))]
    return steps


def read(path: str):
    try:
        return contract_paths.parse_path(path)
    except InputError as exc:
        (p,) = exc.problems
        return (p.field, p.message)


def read_set_path(text: str):
    try:
        return patching.parse_path(text)
    except patching.PathError:
        return None


PIECES = ["injections", "muscle", "a", "_b1", "[0]", "[12]", ".", " ", "[", "]", "7", "-"]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=7).map("".join))
def test_each_path_is_read_as_by_each_parser_of_before(text):
    assert read(text) == tokenizer_of_before(text)
    assert read_set_path(text) == parser_of_before(text)


@pytest.mark.parametrize("path, steps", [
    ("injections[2].muscle", ["injections", 2, "muscle"]),
    ("[0]injections", [0, "injections"]),  # contract_paths alone: indexes before a field
    ("documentation.conservative_therapy.failed", ["documentation", "conservative_therapy", "failed"]),
])
def test_a_change_path_is_read_into_fields_and_indexes(path, steps):
    assert contract_paths.parse_path(path) == steps


@pytest.mark.parametrize("path, field, short", [("", "(empty)", True), ("injections.", "injections.", True),
                                                ("[0]", "[0]", True), ("a..b", "a..b", False), (" a", " a", False)])
def test_a_malformed_change_path_is_an_error_naming_it(path, field, short):
    with pytest.raises(InputError) as got:
        contract_paths.parse_path(path)
    (p,) = got.value.problems
    assert p.field == field and (p.message == "not a contract-v1 path") == short


def test_a_change_past_the_end_of_a_list_is_an_error_naming_its_path_and_one_past_the_end_appends():
    import pytest

    from solver.explore.contract_paths import _apply
    raw = {"injections": [{"muscle": "upper trapezius"}]}
    _apply(raw, {"path": "injections[1].muscle", "value": "rhomboid major"})
    assert raw["injections"] == [{"muscle": "upper trapezius"}, {"muscle": "rhomboid major"}]
    with pytest.raises(ValueError, match=r"injections\[5\]\.side: index 5 is past the end of a list of 2 items"):
        _apply(raw, {"path": "injections[5].side", "value": "left"})
    with pytest.raises(ValueError, match=r"injections\[2\]: index 2 is past the end"):
        _apply(raw, {"path": "injections[2]", "op": "remove"})
    _apply(raw, {"path": "injections[0]", "op": "remove"})
    assert raw["injections"] == [{"muscle": "rhomboid major"}]
