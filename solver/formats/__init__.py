"""Input formats of the field, at the edge: each turns its own format into contract-v1 records, and the engine
never knows they exist. A format module has

    sniff(data: bytes, source: str) -> bool       # is this input mine? (cheap: a look at the first bytes)
    records(data: bytes, source: str) -> Iterator[Record]   # one Record per encounter, in input order
    line_record(line: bytes, source: str, index: int) -> Record | None   # optional: one JSON Lines line of
                                                  # the format (FHIR NDJSON), or None when the line is not

and is listed in INPUTS. reading.read_bytes asks each in turn before it reads YAML, JSON or JSON Lines; a
record a format cannot turn into an encounter is a Record with its problems, so no record is ever lost.
Which payer a format's claim is for comes from the deployment's payer map (solver/formats/payer_map.py).
"""
from __future__ import annotations

from importlib import import_module

# module names under solver.formats, asked in this order
INPUTS: list[str] = ["fhir", "x12_837p"]


def input_formats():
    return [import_module(f"solver.formats.{name}") for name in INPUTS]


def line_readers():
    """The formats' readers of one JSON Lines line (line_record), in INPUTS order."""
    return [fmt.line_record for fmt in input_formats() if hasattr(fmt, "line_record")]
