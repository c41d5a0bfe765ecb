"""Contract-v1 paths into an encounter (`documentation.conservative_therapy.failed`, `injections[2].muscle`,
`diagnoses[0]`, 0-based indexes) and changes made through them: a program can apply the facts an exploration
names and check the encounter again.

A change is {"path", "value"} (set; an index equal to the list's length appends) or {"path", "op": "remove"}
(a list item is deleted, a field goes back to its default)."""
from __future__ import annotations

import re

from pydantic import ValidationError

from solver.encounter import Encounter
from solver.errors import InputError, Problem
from solver.explore.patching import document, path_steps

_INDEXES = re.compile(r"(?:\[\d+\])*")


def parse_path(path: str) -> list[str | int]:
    """`injections[2].muscle` -> ["injections", 2, "muscle"]; a malformed path is an InputError naming it.

    patching's reading of a path (patching.path_steps), as this module has always read it: no blank trimmed, and a
    field may be preceded by indexes (`[0]injections`); a path cut short (empty, ending with a dot or with indexes
    where a field is due) gets the short message."""
    steps = path_steps(path, leading_indexes=True)
    if steps is not None:
        return steps
    *parts, last = path.split(".")
    if _INDEXES.fullmatch(last) and path_steps(".".join(parts) + ".x" if parts else "x", leading_indexes=True):
        raise InputError([Problem("(command line)", path or "(empty)", "not a contract-v1 path")])
    raise InputError([Problem("(command line)", path, "not a contract-v1 path; write e.g. "
                              "documentation.conservative_therapy.failed or injections[0].muscle")])


def apply_changes(enc: Encounter, changes: list[dict]) -> Encounter:
    """The encounter with every change applied in order, validated again as contract v1."""
    raw = document(enc)
    for ch in changes:
        _apply(raw, ch)
    try:
        return Encounter.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError([Problem("(change)", where, f"{first['msg']}; the changes were {changes}")]) from None


def _apply(raw: dict, change: dict) -> None:
    """One change in place. Not patching.set_path: a missing container is made from the next step ({} or []), not
    from the contract's defaults, and a step is not checked against the contract (the validation of the whole
    document after the changes names a wrong field); a change may remove ("op": "remove")."""
    tokens = parse_path(change["path"])
    node = raw
    for i, tok in enumerate(tokens[:-1]):
        nxt = tokens[i + 1]
        if isinstance(tok, int):
            _within(node, tok, change["path"], len(node) + 1)
            if tok == len(node):  # one past the end: a new item, made from the next step
                node.append(None)
            child = node[tok]
        else:
            child = node.get(tok)
        if child is None:
            child = node[tok] = [] if isinstance(nxt, int) else {}
        node = child
    last = tokens[-1]
    if isinstance(last, int):
        _within(node, last, change["path"], len(node) + (change.get("op") != "remove"))
    if change.get("op") == "remove":
        if isinstance(last, int):
            del node[last]
        else:
            node.pop(last, None)
    elif isinstance(last, int) and last == len(node):
        node.append(change["value"])
    else:
        node[last] = change["value"]


def _within(items: list, index: int, path: str, bound: int) -> None:
    """An index a change may use: an item of the list, or (bound: len + 1) the one after its last."""
    if not isinstance(items, list) or not 0 <= index < bound:
        size = len(items) if isinstance(items, list) else "no"
        raise ValueError(f"{path}: index {index} is past the end of a list of {size} items; a change may name an item "
                         "of the list or the one after its last")


def get_value(enc: Encounter, path: str):
    """The value at a path (None when absent)."""
    return value_at(document(enc), path)


def value_at(doc: dict, path: str):
    """The value at a path of an encounter's JSON document (patching.document: one made for many look-ups), None
    when absent."""
    node = doc
    for tok in parse_path(path):
        try:
            node = node[tok]
        except (KeyError, IndexError, TypeError):
            return None
        if node is None:
            return None
    return node
