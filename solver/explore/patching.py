"""Changing an encounter: contract-v1 paths (`injections[2].muscle`, `documentation.conservative_therapy.failed`),
--set PATH=VALUE, RFC 7386 merge patches and RFC 6902 JSON Patches, applied to the encounter's JSON document and
validated again against the contract; and the changes between two encounters, as paths and values.

Paths are dotted field names with 0-based indexes in brackets. A path must name a field of the contract at every
step (the message lists the fields there); an index may be the length of the list, which adds an item. Values of
--set are read like a YAML scalar (`true`, `3`, `2024-06-10`, `[M54.2]`); where the contract wants text and YAML
read a number, a date or yes/no, the text is taken as written."""
from __future__ import annotations

import copy
import json
import datetime as dt
import re
import types
import typing
from dataclasses import dataclass

import json_merge_patch
import jsonpatch
import jsonpointer
import yaml
from pydantic import BaseModel, ValidationError

from solver.encounter import Encounter
from solver.errors import InputError, Problem
from solver.yamltext import load_yaml

_STEP = re.compile(r"((?:\[\d+\])*)([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")


class PathError(ValueError):
    """A path that names no field of the contract, or an index out of range: the message says what to do."""


def path_text(steps: typing.Sequence) -> str:
    out = ""
    for s in steps:
        out += f"[{s}]" if isinstance(s, int) else (f".{s}" if out else str(s))
    return out or "(encounter)"


def path_steps(text: str, leading_indexes: bool = False) -> list | None:
    """'injections[2].muscle' -> ['injections', 2, 'muscle']; None when the text is not a path (no blank is
    trimmed). leading_indexes: a field may also be preceded by indexes (`[0]injections`, `a.[1]b`: how
    solver/explore/contract_paths.py has read its paths)."""
    steps: list = []
    for part in text.split("."):
        m = _STEP.fullmatch(part)
        if not m or (m.group(1) and not leading_indexes):
            return None
        steps += [int(i) for i in _INDEX.findall(m.group(1))]
        steps.append(m.group(2))
        steps += [int(i) for i in _INDEX.findall(m.group(3))]
    return steps


def parse_path(text: str) -> list:
    """'injections[2].muscle' -> ['injections', 2, 'muscle'] (blanks around the path trimmed)."""
    steps = path_steps(text.strip())
    if steps is None:
        raise PathError(f"{text!r} is not a contract path; write fields with dots and 0-based indexes in brackets, "
                        "e.g. injections[2].muscle or documentation.conservative_therapy.failed")
    return steps


def _unwrap(tp):
    """The type inside Annotated[...] and Optional[...]."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            tp = args[0]
        else:
            return tp


def _is_model(tp) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _types_along(steps: list) -> list:
    """The contract's type at each step of a path (the type the step leads to); PathError where it names nothing."""
    tp, out = Encounter, []
    for n, step in enumerate(steps):
        here = path_text(steps[:n]) if n else "an encounter"
        if isinstance(step, str):
            if not _is_model(tp):
                what = "a list: give an index" if typing.get_origin(tp) is list else "a value, with no fields"
                raise PathError(f"{path_text(steps[:n])} is {what}")
            if step not in tp.model_fields:
                raise PathError(f"{step!r} is not a field of {here}; the fields are {', '.join(tp.model_fields)}")
            tp = _unwrap(tp.model_fields[step].annotation)
        else:
            if typing.get_origin(tp) is not list:
                raise PathError(f"{path_text(steps[:n])} is not a list; drop the index [{step}]")
            tp = _unwrap(typing.get_args(tp)[0])
        out.append(tp)
    return out


def _empty(tp):
    """A new container for a step: a model's defaults (or {} when it has required fields), or a list."""
    if typing.get_origin(tp) is list:
        return []
    if _is_model(tp):
        try:
            return tp().model_dump(mode="json")
        except ValidationError:
            return {}
    return None


def document(enc: Encounter) -> dict:
    """The encounter as its JSON document (every field, defaults included): what paths and patches address."""
    return enc.model_dump(mode="json")


def plain_json(value):
    """YAML's dates as ISO text, recursively, so a document stays JSON."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return [plain_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    return value


def read_value(text: str):
    """A --set value, read like a YAML scalar: true, 3, 2024-06-10, [M54.2], null; anything else is the text."""
    try:
        return plain_json(load_yaml(text)) if text.strip() else text  # dates as text: 2024-02-30 is for validation to name
    except (yaml.YAMLError, ValueError):
        return text


def set_path(doc: dict, steps: list, value) -> dict:
    """A copy of doc with the value at the path (an index equal to a list's length appends)."""
    kinds = _types_along(steps)
    out = copy.deepcopy(doc)
    here = out
    for n, step in enumerate(steps):
        last = n == len(steps) - 1
        if isinstance(step, str):
            if last:
                here[step] = value
            else:
                if here.get(step) is None:
                    here[step] = _empty(kinds[n])
                here = here[step]
        else:
            if step > len(here):
                raise PathError(f"{path_text(steps[:n])} has {len(here)} item{'s' if len(here) != 1 else ''} (indexes 0 to "
                                f"{len(here) - 1}); give an index up to {len(here)}, which adds one")
            if step == len(here):
                here.append(value if last else _empty(kinds[n]))
                if last:
                    break
            elif last:
                here[step] = value
            if not last:
                if here[step] is None:
                    here[step] = _empty(kinds[n])
                here = here[step]
    return out


def pointer_text(pointer: str) -> str:
    """'/injections/0/muscle' -> 'injections[0].muscle' (a JSON Pointer named as a contract path)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]] if pointer else []
    return path_text([int(p) if p.isdigit() else p for p in parts])


def is_json_patch(patch) -> bool:
    return isinstance(patch, list) and all(isinstance(op, dict) and "op" in op for op in patch)


def apply_patch(doc: dict, patch, where: str) -> dict:
    """An RFC 6902 JSON Patch (a list of operations) or an RFC 7386 merge patch (an object) applied to a copy."""
    if is_json_patch(patch):
        try:
            return jsonpatch.apply_patch(doc, patch, in_place=False)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, KeyError) as exc:
            bad = next((i for i, op in enumerate(patch) if not _applies(doc, patch[:i + 1])), 0)
            at = pointer_text(str(patch[bad].get("path", "")))
            raise InputError([Problem(where, at, f"operation {bad} ({patch[bad].get('op')}) cannot be applied: {exc}; check "
                                                 "the operation's path and value against the encounter (RFC 6902 JSON Patch)")]) from None
    if isinstance(patch, dict):
        return json_merge_patch.merge(copy.deepcopy(doc), copy.deepcopy(patch))
    raise InputError([Problem(where, "(patch)", "a patch is an object (RFC 7386 merge patch) or a list of operations "
                                                "with 'op' and 'path' (RFC 6902 JSON Patch)")])


def _applies(doc: dict, ops: list) -> bool:
    try:
        jsonpatch.apply_patch(doc, ops, in_place=False)
        return True
    except Exception:  # noqa: BLE001 - only to name the first operation that fails
        return False


def _error_path(loc) -> str:
    return path_text([p for p in loc if isinstance(p, (int, str))])


def validate(doc, where: str, text_at: dict[str, str] | None = None) -> Encounter:
    """The changed document as an Encounter, or InputError naming each path at fault and what to do.

    text_at: path -> the value as written; a path whose YAML reading the contract rejects is tried as that text."""
    try:
        return Encounter.model_validate(doc)
    except ValidationError as exc:
        errors = exc.errors()
    if text_at:
        retry = copy.deepcopy(doc)
        bad = {_error_path(e["loc"]) for e in errors}
        redo = [p for p in text_at if p in bad]
        for p in redo:
            retry = set_path(retry, parse_path(p), text_at[p])
        if redo:
            return validate(retry, where)
    problems = []
    for e in errors:
        msg = e.get("msg", "invalid").removeprefix("Value error, ")
        if e.get("type") == "extra_forbidden":
            msg = "not a field of the contract; remove it or check its spelling (payerkb schema lists the fields)"
        elif e.get("type") == "missing":
            msg = "required field is missing; give it a value"
        else:
            msg += "; give a value the contract allows (payerkb schema)"
        problems.append(Problem(where, _error_path(e["loc"]), msg))
    raise InputError(problems)


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def changes(before, after, steps: tuple = ()) -> list[dict]:
    """What differs between two documents, as [{"path", "value"}] (a removed field has value null; items added at
    the end of a list are each one change, any other change of a list's length is the whole list)."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for k in list(after) + [k for k in before if k not in after]:
            out += changes(before.get(k), after.get(k), steps + (k,))
        return out
    if isinstance(before, list) and isinstance(after, list):
        if len(before) == len(after):
            return [c for i, (a, b) in enumerate(zip(before, after)) for c in changes(a, b, steps + (i,))]
        if len(after) > len(before) and after[:len(before)] == before:
            return [{"path": path_text(steps + (i,)), "value": _strip(after[i])} for i in range(len(before), len(after))]
    return [{"path": path_text(steps), "value": _strip(after)}]


@dataclass
class Variant:
    """One changed encounter: how it was asked for (label), what changed (paths and values), the encounter."""

    label: str
    changes: list[dict]
    encounter: Encounter


def parse_set(text: str) -> tuple[str, object, str]:
    """'PATH=VALUE' -> (path, value read like YAML, value as written). Where the contract wants text (a muscle, an id,
    a code) the value is the text as written, so `id=0012` is "0012" and `evaluation.code=99213` is "99213"."""
    path, eq, raw = text.partition("=")
    if not eq or not path.strip():
        raise PathError(f"{text!r} is not PATH=VALUE; e.g. --set injections[3].muscle='levator scapulae'")
    steps = parse_path(path)
    value = read_value(raw)
    if not isinstance(value, str) and value is not None and _types_along(steps)[-1] is str:
        value = raw.strip()
    return path.strip(), value, raw.strip()


def variants(enc: Encounter, sets: list[tuple[str, object, str]] = (), patches: list[tuple[str, object]] = (),
             together: bool = False, where: str = "(command line)") -> list[Variant]:
    """The variants asked for: each set is one variant, and each patch one (a list of patches, one each);
    together: all of them applied in order (sets, then patches) make a single variant.

    sets: (path, value, value as written); patches: (where it came from, the patch)."""
    base = document(enc)
    steps: list[tuple[str, str, object]] = [("set", f"{p}={raw or json.dumps(v)}", (p, v, raw)) for p, v, raw in sets]
    for origin, patch in patches:
        many = isinstance(patch, list) and not is_json_patch(patch) and bool(patch)
        if many and not all(isinstance(p, dict) or is_json_patch(p) for p in patch):
            raise InputError([Problem(origin, "(patch)", "a list of patches holds merge patches (objects) or JSON Patches "
                                                         "(lists of operations with 'op' and 'path'); fix the items")])
        for n, p in enumerate(patch if many else [patch]):
            steps.append(("patch", f"{origin} #{n + 1}" if many else origin, p))
    if together and steps:
        steps = [("all", " + ".join(label for _k, label, _v in steps), steps)]
    out = []
    for kind, label, value in steps:
        parts = value if kind == "all" else [(kind, label, value)]
        doc, sets_here = base, []
        for k, lab, v in parts:
            if k == "set":
                sets_here.append(v)
                try:
                    doc = set_path(doc, parse_path(v[0]), v[1])
                except PathError as exc:
                    raise InputError([Problem(where, v[0], str(exc))]) from None
            else:
                doc = apply_patch(doc, v, lab)
        text_at = {path_text(parse_path(p)): raw for p, v, raw in sets_here if not isinstance(v, str) and raw}
        changed = validate(doc, label if kind == "patch" else where, text_at)
        out.append(Variant(label, changes(base, document(changed)), changed))
    return out
