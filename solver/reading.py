"""Reading encounter files: YAML or JSON, one encounter, a list, or JSON Lines.

Every record is validated on its own, so one bad record never loses the others: the reader yields
either an Encounter or the list of Problems found in that record. Files are read as bytes: a JSON Lines
file is decoded line by line (a bad byte costs its line only), split on line feeds only (a U+2028 inside a
string is text), and a byte-order mark is dropped. Nesting deeper than MAX_DEPTH and a key given twice are
problems of the record they are in. YAML plain scalars are read as the text written (``id: 0012`` is the id
"0012", ``no`` is "no"); the contract turns text into numbers, dates and yes/no where it wants them.
"""
from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import yaml
from pydantic import ValidationError

from solver.encounter import MAX_ID, Encounter
from solver.errors import InputError, Problem, pydantic_problems
from solver.formats import input_formats, line_readers

MAX_DEPTH = 16  # lists and mappings inside one another, from the top of a file; an encounter needs 5
TOO_DEEP = "\x00payerkb: nested too deeply"  # stands for a part of the input cut off below MAX_DEPTH
BOM = b"\xef\xbb\xbf"
_DEPTH_MESSAGE = f"nested more than {MAX_DEPTH} levels deep; an encounter's lists and mappings go 5 levels at most"


class _Duplicates(dict):
    """A mapping in which some keys were given more than once (the last value is kept, the record is an error)."""

    duplicates: list[str]


# --- YAML ------------------------------------------------------------------------------------------


_KEEP = {"tag:yaml.org,2002:null", "tag:yaml.org,2002:merge"}
_MAP_TAG = "tag:yaml.org,2002:map"
_DEEP_TAG = "tag:payerkb,2024:too-deep"


class _Depth:
    """Composing nodes with the depth counted: nesting below MAX_DEPTH becomes a TOO_DEEP marker."""

    def _start(self) -> None:
        self._depth = 0
        self.flagged = False  # a mapping with a key given twice, or nesting cut off: records need a look

    def compose_node(self, parent, index):
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return yaml.composer.Composer.compose_node(self, parent, index)
        if self._depth >= MAX_DEPTH:
            return self._skip_deep()
        self._depth += 1
        try:
            return yaml.composer.Composer.compose_node(self, parent, index)
        finally:
            self._depth -= 1

    def _skip_deep(self):
        start = self.get_event()
        level, end = 1, start
        while level:
            end = self.get_event()
            if isinstance(end, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                level += 1
            elif isinstance(end, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                level -= 1
        self.flagged = True
        node = yaml.ScalarNode(_DEEP_TAG, "", start.start_mark, end.end_mark)
        if start.anchor is not None:
            self.anchors[start.anchor] = node
        return node


class _Loader(_Depth, yaml.SafeLoader):
    """A safe YAML loader for encounter files: plain scalars stay text (only null and merge keys resolve),
    nesting below MAX_DEPTH becomes a TOO_DEEP marker, and a mapping records the keys it was given twice."""

    def __init__(self, stream):
        yaml.SafeLoader.__init__(self, stream)
        self._start()


_LOADERS: tuple = (_Loader,)
if hasattr(yaml, "CSafeLoader"):
    class _CLoader(_Depth, yaml.composer.Composer, yaml.CSafeLoader):
        """The same loader on libyaml's C parser: events from C, nodes composed (and depth counted) in Python."""

        def __init__(self, stream):
            yaml.CSafeLoader.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            self._start()

    _LOADERS = (_CLoader, _Loader)


def _construct_map(loader: _Loader, node: yaml.MappingNode):
    seen: dict[str, int] = {}
    duplicates: list[str] = []
    for key_node, _value in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            continue
        line = key_node.start_mark.line + 1
        if key_node.value in seen:
            duplicates.append(f"{key_node.value!r} (lines {seen[key_node.value]} and {line})")
        else:
            seen[key_node.value] = line
    data: dict = _Duplicates() if duplicates else {}
    if duplicates:
        data.duplicates = duplicates
        loader.flagged = True
    yield data
    data.update(loader.construct_mapping(node))


for _cls in _LOADERS:
    _cls.yaml_implicit_resolvers = {
        key: [(tag, rx) for tag, rx in resolvers if tag in _KEEP]
        for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    _cls.add_constructor(_MAP_TAG, _construct_map)
    _cls.add_constructor(_DEEP_TAG, lambda loader, node: TOO_DEEP)


def load_encounter_yaml(text: str) -> tuple[object, str | None]:
    """The data, and "walk" when some record has a key given twice or nesting cut off (else None)."""
    for n, cls in enumerate(_LOADERS, start=1):
        loader = cls(text)
        try:
            return loader.get_single_data(), "walk" if loader.flagged else None
        except yaml.YAMLError:
            if n == len(_LOADERS):
                raise
            # libyaml stops at its own flow-nesting limit and words errors its own way: the Python parser
            # reads the text again, so nesting past MAX_DEPTH is an error of its record and messages stay the same
        finally:
            loader.dispose()
    raise AssertionError("unreachable")


# --- JSON ------------------------------------------------------------------------------------------
def _duplicates(data: dict, pairs: list) -> _Duplicates:
    seen: set = set()
    dup = _Duplicates(data)
    dup.duplicates = []
    for key, _value in pairs:
        if key in seen and repr(key) not in dup.duplicates:
            dup.duplicates.append(repr(key))
        seen.add(key)
    return dup


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def _cut_deep(text: str) -> str:
    """The text with every list or mapping deeper than MAX_DEPTH replaced by the TOO_DEEP string."""
    out, depth, start, last = [], 0, None, 0
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if tok in "[{":
            depth += 1
            if depth == MAX_DEPTH + 1:
                start = m.start()
        elif tok in "]}":
            depth -= 1
            if depth == MAX_DEPTH and start is not None:
                out += [text[last:start], json.dumps(TOO_DEEP)]
                last, start = m.end(), None
    if start is not None:
        out += [text[last:start], json.dumps(TOO_DEEP)]
    else:
        out.append(text[last:])
    return "".join(out)


_INT_DIGITS = sys.get_int_max_str_digits() or None  # Python's limit on converting text to an int (0: none)


def json_int(text: str) -> int | str:
    """A JSON integer; one longer than Python converts (4,300 digits) is kept as its text, so the field that
    holds it gets an error of its own record, instead of the whole document failing to read."""
    if _INT_DIGITS is not None and len(text) > _INT_DIGITS and len(text.lstrip("-")) > _INT_DIGITS:
        return text
    return int(text)


def load_json(text: str) -> tuple[object, str | None]:
    """JSON with the same guards as YAML: a key given twice is recorded, nesting past MAX_DEPTH is cut off.
    Returns the data and what it needs: "walk" (a key twice, nesting cut off), "depth" (it may nest too
    deep), or None (an ordinary record: the fast path)."""
    flagged: list[bool] = []

    def pairs(items: list) -> dict:
        data = dict(items)
        if len(data) == len(items):
            return data
        flagged.append(True)
        return _duplicates(data, items)

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_int=json_int)
    except RecursionError:
        return json.loads(_cut_deep(text), object_pairs_hook=pairs, parse_int=json_int), "walk"
    if flagged:
        return data, "walk"
    return data, "depth" if text.count("{") + text.count("[") > MAX_DEPTH else None


# --- records ---------------------------------------------------------------------------------------
def _too_deep(raw) -> bool:
    stack = [(raw, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack += [(c, depth + 1) for c in children if isinstance(c, (dict, list))]
    return False


def _structure_problems(raw, source: str, label: str) -> list[Problem]:
    """Nesting too deep and keys given twice, anywhere in one record, each with its field path."""
    problems: list[Problem] = []
    stack = [(raw, "", 1)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, str):
            if node == TOO_DEEP:
                problems.append(Problem(source, path or "(record)", _DEPTH_MESSAGE, label))
            continue
        if not isinstance(node, (dict, list)):
            continue
        if depth > MAX_DEPTH:
            problems.append(Problem(source, path or "(record)", _DEPTH_MESSAGE, label))
            continue
        if isinstance(node, _Duplicates):
            for key in node.duplicates:
                problems.append(Problem(source, path or "(record)", f"key {key} is given more than once; keep one", label))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            stack.append((value, f"{path}.{key}" if path else str(key), depth + 1))
            if isinstance(node, dict) and isinstance(key, str) and key == TOO_DEEP:
                problems.append(Problem(source, path or "(record)", _DEPTH_MESSAGE, label))
    return sorted(problems, key=lambda p: p.field)


@dataclass
class Record:
    """One record of an input file: an encounter, or the problems that kept it from being one."""

    source: str
    index: int  # 1-based position in the file (the line number in JSON Lines)
    raw_id: str | None
    encounter: Encounter | None = None
    problems: list[Problem] | None = None
    json_lines: bool = False
    line: bytes | None = None  # a JSON Lines record not decoded yet: resolve() decodes, parses and validates it

    def resolve(self) -> "Record":
        """Decode, parse and validate a deferred JSON Lines record (done where the record is answered)."""
        if self.line is None:
            return self
        data, self.line = self.line, None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            try:  # the id, when the rest of the line can be read, names the record
                self.raw_id = _raw_id(load_json(data.decode("utf-8", "replace"))[0])
            except (ValueError, RecursionError):
                pass
            self.problems = [Problem(self.source, "(record)", f"not UTF-8: byte 0x{data[exc.start]:02x} at column {exc.start + 1}; "
                                     "save the file as UTF-8", self.label)]
            return self
        try:
            raw, needs = load_json(text)
        except json.JSONDecodeError as exc:
            self.problems = [Problem(self.source, "(record)", f"not valid JSON: {exc.msg} at column {exc.colno}; fix this line", self.label)]
            return self
        done = _validate(raw, self.source, self.index, True, needs)
        self.raw_id, self.encounter, self.problems = done.raw_id, done.encounter, done.problems
        return self

    @property
    def label(self) -> str:
        kind = "line" if self.json_lines else "record"
        return f"{kind} {self.index}" + (f" (id {self.raw_id})" if self.raw_id else "")


def _raw_id(raw) -> str | None:
    """The record's id as written, when it is one (text or a whole number, at most MAX_ID characters)."""
    value = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value).strip()
    return text if 0 < len(text) <= MAX_ID else None


def _validate(raw, source: str, index: int, json_lines: bool, needs: str | None = "walk") -> Record:
    """One record: its structure (as far as the reader says it needs a look), then the contract."""
    rec = Record(source=source, index=index, raw_id=_raw_id(raw), json_lines=json_lines)
    walk = needs == "walk" or (needs == "depth" and isinstance(raw, (dict, list)) and _too_deep(raw))
    problems = _structure_problems(raw, source, rec.label) if walk else []
    if problems:
        rec.problems = problems
        return rec
    if not isinstance(raw, dict):
        rec.problems = [Problem(source, "(record)", "an encounter must be a mapping of fields to values", rec.label)]
        return rec
    try:
        rec.encounter = Encounter.model_validate(raw)
    except ValidationError as exc:
        rec.problems = pydantic_problems(exc, source, rec.label)
    except RecursionError:
        rec.problems = [Problem(source, "(record)", _DEPTH_MESSAGE, rec.label)]
    return rec


# --- files -----------------------------------------------------------------------------------------
def _lines(data: bytes) -> list[bytes]:
    """The lines of a file, split on line feeds only (a CR before one is dropped)."""
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in data.split(b"\n")]


def _one_line_object(line: bytes) -> bool:
    return line.startswith(b"{") and line.rstrip().endswith(b"}")


def _is_json(line: bytes) -> bool:
    """A line that is JSON, or would be but for a bad byte or its depth (then an error of that line)."""
    try:
        json.loads(line, parse_int=json_int)
    except UnicodeDecodeError:
        return True
    except RecursionError:
        return True
    except ValueError:
        return False
    return True


def _json_lines(lines: Iterable[bytes], source: str) -> Iterator[Record]:
    readers = line_readers()
    for n, line in enumerate(lines, start=1):
        if line.strip():
            yield _line_record(readers, line, source, n)


def _line_record(readers, line: bytes, source: str, n: int) -> Record:
    """A JSON Lines record, decoded where it is answered (Record.resolve); a line a format of the field reads
    (a FHIR resource: NDJSON) is read now, by that format."""
    if b'"resourceType"' in line:
        for read in readers:
            rec = read(line, source, n)
            if rec is not None:
                return rec
    return Record(source, n, None, json_lines=True, line=line)


def _file_problem(source: str, message: str) -> InputError:
    return InputError([Problem(source, "(file)", message)])


def _parse_document(text: str, source: str) -> tuple[object, str | None]:
    stripped = text.lstrip()
    try:
        return load_json(text) if stripped.startswith(("{", "[")) else load_encounter_yaml(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        if isinstance(exc, json.JSONDecodeError):
            where = f" at line {exc.lineno}, column {exc.colno}"
        raise _file_problem(source, f"not valid YAML or JSON{where}: {getattr(exc, 'problem', None) or getattr(exc, 'msg', exc)}; "
                                    "fix the syntax") from None
    except RecursionError:
        raise _file_problem(source, _DEPTH_MESSAGE) from None


def read_bytes(data: bytes, source: str) -> Iterator[Record]:
    """Yield the records of one input, each validated on its own.

    JSON Lines: a file named .jsonl or .ndjson; else a text of two or more lines that each hold one JSON
    object (starting with "{" in the first column and ending with "}"), unless it starts with "["; else a
    single such line on standard input or in a file not named .json, .yaml or .yml. Anything else is one
    YAML or JSON document: an encounter or a list of them."""
    if data.startswith(BOM):
        data = data[len(BOM):]
    for fmt in input_formats():  # a format of the field (FHIR, X12 837P): solver/formats
        if fmt.sniff(data, source):
            yield from fmt.records(data, source)
            return
    lines = _lines(data)
    objects = sum(1 for ln in lines if _one_line_object(ln))
    filled = [ln for ln in lines if ln.strip()]
    single = len(filled) == 1 and objects == 1 and not source.endswith((".json", ".yaml", ".yml"))
    if source.endswith((".jsonl", ".ndjson")) or (not data.lstrip().startswith(b"[") and objects >= 2) \
            or (single and _is_json(filled[0])):
        yield from _json_lines(lines, source)
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise _file_problem(source, f"not UTF-8: byte 0x{data[exc.start]:02x} on line {line}; save the file as UTF-8") from None
    try:
        parsed, needs = _parse_document(text, source)
    except InputError:
        if not single:
            raise
        yield from _json_lines(lines, source)  # one line that is neither JSON nor YAML: an error of line 1
        return
    if parsed is None:
        raise _file_problem(source, "the file is empty; give one encounter, a list of encounters or JSON Lines")
    if not isinstance(parsed, (dict, list)) and objects:  # text then JSON lines: YAML reads it as one string
        yield from _json_lines(lines, source)
        return
    items = parsed if isinstance(parsed, list) else [parsed]
    for n, raw in enumerate(items, start=1):
        yield _validate(raw, source, n, False, needs or "depth")


def read_text(text: str, source: str) -> Iterator[Record]:
    """Yield the records of one input text (see read_bytes)."""
    yield from read_bytes(text.encode("utf-8", "surrogatepass"), source)


def read_file(path: str) -> Iterator[Record]:
    """Yield the records of a file ('-' reads standard input)."""
    if path == "-":
        yield from read_bytes(sys.stdin.buffer.read(), "<stdin>")
        return
    p = Path(path)
    try:
        if path.endswith((".jsonl", ".ndjson")):
            with p.open("rb") as stream:
                head = stream.read(_SNIFF)
                head = head[len(BOM):] if head.startswith(BOM) else head
                if not any(fmt.sniff(head, path) for fmt in input_formats()):
                    stream.seek(0)
                    yield from _json_lines(_lines_of(stream), path)
                    return
        data = p.read_bytes()
    except FileNotFoundError:
        raise _file_problem(path, "no such file; check the path") from None
    except OSError as exc:
        raise _file_problem(path, f"cannot be read ({exc.strerror or exc.__class__.__name__}); give a readable YAML or JSON file") from None
    yield from read_bytes(data, path)


_SNIFF = 1 << 16  # bytes a format of the field is asked to recognize a JSON Lines file by (it looks at the first)


def _lines_of(stream) -> Iterator[bytes]:
    """The lines of a file read a line at a time (a file of any length is never held whole), as _lines splits
    a whole one: on line feeds, a CR before one and a BOM at the start dropped."""
    for n, line in enumerate(stream):
        if n == 0 and line.startswith(BOM):
            line = line[len(BOM):]
        if line.endswith(b"\n"):
            line = line[:-1]
        yield line[:-1] if line.endswith(b"\r") else line