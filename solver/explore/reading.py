"""The encounter an exploration starts from (one record of a file, or the one named by its id) and the patch
files of a what-if (JSON or YAML)."""
from __future__ import annotations

from pathlib import Path

import yaml

from solver.encounter import Encounter
from solver.errors import InputError, PayerkbError, Problem
from solver.explore.patching import plain_json
from solver.yamltext import load_yaml


def one_encounter(path: str, wanted: str | None = None) -> Encounter:
    """The encounter of a file holding one, or the one whose id is `wanted`; InputError naming what is wrong."""
    from solver.reading import read_file
    try:
        records = [r.resolve() for r in read_file(path)]
    except PayerkbError as exc:
        raise InputError(exc.problems) from None
    if wanted is not None:
        found = [r for r in records if r.raw_id == wanted]
        if not found:
            ids = [r.raw_id for r in records if r.raw_id]
            raise InputError([Problem(path, "--id", f"no encounter with id {wanted!r}; the ids are {ids}")])
        records = found[:1]
    elif len(records) != 1:
        ids = [r.raw_id for r in records if r.raw_id]
        raise InputError([Problem(path, "(file)", f"holds {len(records)} encounters; name one with --id (the ids are {ids})")])
    rec = records[0]
    if rec.problems:
        raise InputError(rec.problems)
    return rec.encounter


def patch_file(path: Path):
    """A patch file's content: a merge patch (object), a JSON Patch (list of operations), or a list of patches."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError([Problem(str(path), "(file)", "no such file; give a JSON or YAML patch file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(str(path), "(file)", f"cannot be read ({exc.__class__.__name__}); give a UTF-8 JSON or YAML file")]) from None
    try:
        data = load_yaml(text)  # dates as text: an impossible one is an error of its field, not a crash
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InputError([Problem(str(path), "(file)", f"is not JSON or YAML{where}; fix the syntax")]) from None
    if not isinstance(data, (dict, list)) or not data:
        raise InputError([Problem(str(path), "(file)", "holds no patch; give an object (RFC 7386 merge patch), a list of "
                                                       "operations (RFC 6902 JSON Patch), or a list of patches (one variant each)")])
    return plain_json(data)
