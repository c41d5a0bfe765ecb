"""A batch streams: it reads its records as the workers need them and gives each chunk's answers as they
come, in input order, with ids unique over the whole run; the last chunks are cut so the workers end together."""
from __future__ import annotations

import json
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from solver import batch
from solver.batch import CHUNK, GROUP, Job
from solver.errors import Problem
from solver.reading import Record, read_file


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=0, max_value=6 * CHUNK), jobs=st.integers(min_value=1, max_value=4))
def test_chunks_keep_every_record_in_order_and_cut_the_tail_for_every_worker(n, jobs):
    pieces = list(batch.chunks(iter(range(n)), jobs))
    assert [x for p in pieces for x in p] == list(range(n))
    assert all(0 < len(p) <= CHUNK for p in pieces)
    if jobs == 1:
        assert all(len(p) == CHUNK for p in pieces[:-1])
        return
    ahead = CHUNK * jobs  # records read ahead: the end of the input is known this far before the workers need it
    full = max(0, (n - ahead) // CHUNK)
    assert all(len(p) == CHUNK for p in pieces[:full])
    tail, rest = pieces[full:], n - full * CHUNK
    assert rest < ahead + CHUNK
    assert len(tail) <= 2 * jobs  # a few pieces ...
    assert len({len(p) for p in tail[:-1]}) <= 1  # ... of one size (the last may be smaller) ...
    if rest >= 2 * jobs * GROUP:  # ... at least one a worker when the tail is large
        assert len(tail) >= jobs
    elif tail:
        assert all(len(p) == GROUP for p in tail[:-1])


def _bad(n: int, rid: str | None) -> Record:
    """A record that failed validation: answered as an error without a solve (fast, for counting)."""
    return Record("f.jsonl", n, rid, problems=[Problem("f.jsonl", "payer", "unknown payer; name one", f"line {n}")],
                  json_lines=True)


def test_a_batch_reads_its_records_as_it_answers_them(engine):
    taken = []

    def records():
        for n in range(1, 5 * CHUNK + 1):
            taken.append(n)
            yield _bad(n, f"r{n}")

    answers = batch.stream(Job(engine), records(), jobs=1)
    first = next(answers)
    assert first.raw_id == "r1" and first.outcome == "error"
    assert len(taken) == CHUNK  # one chunk read, not the input
    rest = list(answers)
    assert len(taken) == 5 * CHUNK and [a.raw_id for a in rest] == [f"r{n}" for n in range(2, 5 * CHUNK + 1)]


def test_an_id_repeated_chunks_apart_on_several_workers_is_an_error_naming_the_first(engine):
    recs = [_bad(n, f"r{n}") for n in range(1, 2 * CHUNK + 400)]
    recs[2 * CHUNK + 100] = _bad(2 * CHUNK + 101, "r7")
    answers = batch.run(Job(engine, form="json"), recs, jobs=2)
    assert [a.label for a in answers] == [r.label for r in recs]
    again = answers[2 * CHUNK + 100]
    assert again.outcome == "error" and again.problems[-1].field == "id"
    assert "already used by line 7 (id r7) of f.jsonl" in again.problems[-1].message
    assert json.loads(again.result)["errors"][-1]["field"] == "id"
    assert sum(1 for a in answers if any(p.field == "id" for p in a.problems)) == 1


def test_a_json_lines_file_is_read_a_line_at_a_time_with_its_line_numbers(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"id": "a"}\r\n\n{"id": "b"}\n   \n{"id": "c"}')
    recs = [r.resolve() for r in read_file(str(path))]
    assert [(r.index, r.raw_id) for r in recs] == [(1, "a"), (3, "b"), (5, "c")]
    assert all(r.problems for r in recs)  # not encounters (no payer ...), each with its own problems


def test_the_command_line_writes_answers_in_input_order_from_a_stream_of_several_chunks(tmp_path):
    """Through the command line, on every core: one JSON line an input line, the repeated id an error."""
    lines = [json.dumps({"id": f"x{n}", "payer": "no-such-payer"}) for n in range(1, CHUNK + 300)]
    lines.append(json.dumps({"id": "x5", "payer": "no-such-payer"}))
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    p = subprocess.run([sys.executable, "-m", "solver", "check", str(path), "--format", "json"],
                       capture_output=True, text=True, check=False)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    out = [json.loads(line) for line in p.stdout.splitlines()]
    assert [o["encounter"] for o in out] == [f"x{n}" for n in range(1, CHUNK + 300)] + ["x5"]
    assert all(o["outcome"] == "error" for o in out)
    assert out[-1]["errors"][-1]["field"] == "id"
    assert "already used by line 5 (id x5)" in out[-1]["errors"][-1]["message"]
