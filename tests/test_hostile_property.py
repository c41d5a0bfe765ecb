"""Property: whatever mix of valid and hostile records, in whatever files, N records in give N results out,
in order, with matching ids, no traceback, and the exit code the README documents (0 ran, 1 fail-on,
2 bad input). Records and files are generated: valid encounters, invalid ones, integers past 32 bits, deep
nesting, bad bytes, byte-order marks, U+2028 and U+0085 in strings, repeated ids and keys, YAML plain
scalars that YAML 1.1 would turn into numbers, YAML, JSON, JSON Lines (named or not) and standard input."""
import copy
import json
import subprocess
import sys
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BASE

PAYERKB = [sys.executable, "-m", "solver"]
LINE_FORMATS = {"jsonl", "txt", "stdin-jsonl"}
COMMON_KINDS = ["valid", "valid", "valid", "unknown_key", "bad_code", "huge_int", "deep", "dup_key", "dup_id",
                "separator", "tricky_id", "bad_id"]
LINE_KINDS = COMMON_KINDS + ["bad_bytes", "unparseable"]
TRICKY_IDS = ["0012", "12:30", "no", "yes", "1e3", "0x1F", "~x", "true", "2024-06-10", "1_000", ".inf"]
HUGE_FIELDS = [("claim", 0, "units"), ("other_procedures", 0, "units"), ("documentation", "conservative_therapy", "weeks"),
               ("documentation", "prior_relief", "weeks")]
DIAGNOSES = ["M79.12", "M79.18", "M54.2", "M54.6", "M79.11"]
MUSCLES = ["upper trapezius", "rhomboid major", "levator scapulae", "infraspinatus", "gluteus medius", "paraspinals"]


@dataclass
class Record:
    text: bytes  # one line (JSON Lines) or one list item (JSON/YAML) as written
    error: bool  # the record itself is bad
    id: str | None  # the id the product can read, if any


@dataclass
class File:
    fmt: str
    records: list[Record] = field(default_factory=list)
    bom: bool = False
    blank_after: set = field(default_factory=set)  # JSON Lines: blank lines after these records


def _encounter(draw, rid) -> dict:
    raw = copy.deepcopy(BASE)
    raw["id"] = rid
    raw["payer"] = draw(st.sampled_from(["medicare-cgs", "commercial-default", "cigna"]))
    raw["diagnoses"] = draw(st.lists(st.sampled_from(DIAGNOSES), min_size=1, max_size=3, unique=True))
    raw["injections"] = [{"muscle": m, "side": draw(st.sampled_from(["left", "right"])), "substance": "lidocaine 1%", "dose": "1 mL"}
                         for m in draw(st.lists(st.sampled_from(MUSCLES), min_size=1, max_size=3, unique=True))]
    if draw(st.booleans()):
        raw["claim"] = [{"code": draw(st.sampled_from(["20552", "20553"])), "units": draw(st.integers(1, 3)),
                         "modifiers": draw(st.sampled_from([[], ["59"], ["50"]])), "diagnoses": raw["diagnoses"][:1]}]
    return raw


def _set(raw, path, value):
    node = raw
    for key in path[:-1]:
        if isinstance(key, int):
            node = node[key]
        else:
            node = node.setdefault(key, [{"code": "96372"}] if key == "other_procedures" else
                                   [{"code": "20552"}] if key == "claim" else {})
    node[path[-1]] = value


def _dump(raw, fmt) -> str:
    # YAML reads the JSON form as a flow mapping; raw U+2028 / U+0085 would be line breaks there, so escape them
    return json.dumps(raw, ensure_ascii=fmt in {"yaml", "stdin-yaml"})


@st.composite
def records_of(draw, fmt, counter, ids_so_far) -> list[Record]:
    kinds = LINE_KINDS if fmt in LINE_FORMATS else COMMON_KINDS
    out = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(kinds))
        counter[0] += 1
        rid = f"r{counter[0]}"
        raw = _encounter(draw, rid)
        error, readable = kind != "valid", rid
        if kind == "unknown_key":
            raw["colour"] = "red"
        elif kind == "bad_code":
            raw["claim"] = [{"code": "2055"}]
        elif kind == "huge_int":
            path = draw(st.sampled_from(HUGE_FIELDS))
            if path[1] == "prior_relief":
                raw["documentation"]["prior_relief"] = {"percent": 60}
            _set(raw, path, draw(st.integers(2**31, 10**30)))
        elif kind == "dup_id":
            if ids_so_far:
                rid = readable = raw["id"] = draw(st.sampled_from(sorted(ids_so_far)))
            else:
                error = False
        elif kind == "separator":
            rid = readable = raw["id"] = rid + draw(st.sampled_from(["\u2028", "\u2029", "\u0085", "\x0b", "\x1c"])) + "x"
            error = False
        elif kind == "tricky_id":
            rid = readable = raw["id"] = draw(st.sampled_from(TRICKY_IDS))
            error = False
        elif kind == "bad_id":
            # (in YAML a plain true is the text "true": an id as written)
            raw["id"] = draw(st.sampled_from([["a", "list"], {"x": 1}, "x" * 150] + ([] if "yaml" in fmt else [True, 12.5])))
            readable = None
        if kind == "deep":
            raw["injections"] = "@deep@"
        text = _dump(raw, fmt)
        if kind == "deep":
            depth = draw(st.integers(20, 3000))
            text = text.replace('"@deep@"', "[" * depth + "]" * depth, 1)
        elif kind == "dup_key":
            text = '{"payer": "medicare-cgs", ' + text[1:]
        elif kind == "tricky_id" and fmt in {"yaml", "stdin-yaml"}:
            text = text.replace(f'"id": "{rid}"', f'"id": {rid}', 1)  # a plain scalar, as a person writes it
        data = text.encode("utf-8")
        if kind == "bad_bytes":
            data = data.replace(b'"date_of_service"', b'"patient": "P\xe9", "date_of_service"', 1)
        elif kind == "unparseable":
            data = draw(st.sampled_from([f'{{"id": "{rid}", oops}}'.encode(), b"not json at all", b"{broken"]))
            readable = None
            if fmt != "jsonl":  # without a telling name, a line must look like an object to be read as JSON Lines
                data = f'{{"id": "{rid}", oops}}'.encode()
        if readable is not None:
            if readable in ids_so_far:
                error = True
            ids_so_far.add(readable)
        out.append(Record(data, error, readable))
    return out


@st.composite
def scenarios(draw):
    counter, ids, files = [0], set(), []
    formats = ["yaml", "json", "jsonl", "txt", "stdin-jsonl", "stdin-yaml"]
    for _ in range(draw(st.integers(1, 3))):
        fmt = draw(st.sampled_from(formats))
        if fmt.startswith("stdin"):
            formats = [f for f in formats if not f.startswith("stdin")]
        f = File(fmt, draw(records_of(fmt, counter, ids)), bom=draw(st.booleans()))
        if fmt in LINE_FORMATS:
            f.blank_after = set(draw(st.lists(st.integers(0, len(f.records) - 1), max_size=2)))
        files.append(f)
    return files, draw(st.booleans())


def _content(f: File) -> tuple[bytes, list[int]]:
    """The file's bytes and each record's index as the product numbers it (line number, or list position)."""
    if f.fmt in LINE_FORMATS:
        lines, index = [], []
        for k, rec in enumerate(f.records):
            lines.append(rec.text)
            index.append(len(lines))
            if k in f.blank_after:
                lines.append(b"")
        data = b"\n".join(lines) + b"\n"
    elif f.fmt == "json":
        data = b"[" + b",\n".join(r.text for r in f.records) + b"]"
        index = list(range(1, len(f.records) + 1))
    else:
        data = b"".join(b"- " + r.text + b"\n" for r in f.records)
        index = list(range(1, len(f.records) + 1))
    return (b"\xef\xbb\xbf" + data if f.bom else data), index


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.data_too_large])
@given(scenarios())
def test_every_record_in_gives_one_result_out_in_order(tmp_path_factory, scenario):
    files, fail_on = scenario
    folder = tmp_path_factory.mktemp("hostile")
    args, stdin, expected = [], None, []
    for n, f in enumerate(files):
        data, index = _content(f)
        if f.fmt.startswith("stdin"):
            source, stdin = "<stdin>", data
            args.append("-")
        else:
            path = folder / f"in{n}.{f.fmt}"
            path.write_bytes(data)
            source = str(path)
            args.append(source)
        expected += [(rec.id if rec.id is not None else f"{source}#{i}", rec.error) for rec, i in zip(f.records, index)]
    r = subprocess.run(PAYERKB + ["check", *args, "--format", "json"] + (["--fail-on", "error"] if fail_on else []),
                       input=stdin, capture_output=True)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert "Traceback" not in err, err
    json_lines = any(f.fmt in LINE_FORMATS for f in files)
    assert out.startswith("[") != json_lines, out[:200]
    got = json.loads(out) if not json_lines else [json.loads(line) for line in out.split("\n") if line]
    assert [(g["encounter"], g["outcome"] == "error") for g in got] == expected, err
    errors = [g for g in got if g["outcome"] == "error"]
    assert err.count("error: ") >= len(errors)
    if errors:
        assert r.returncode == 2
    elif fail_on and any(f["severity"] == "error" for g in got for f in g["findings"]):
        assert r.returncode == 1
    else:
        assert r.returncode == 0, err
