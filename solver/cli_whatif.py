"""`payerkb whatif` and the text of exploration answers: the command's options and output, nothing else.

Each --set is one variant and each --patch file one (a file holding a list of patches, one per patch);
--together makes every change one variant. All variants are answered with the baseline in one batch."""
from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from solver.errors import PayerkbError


class OutFormat(str, Enum):
    text = "text"
    json = "json"


POLICIES = typer.Option(None, "--policies", metavar="DIR", help="A policies folder of your own (default: the shipped one).")
ENCOUNTER_ID = typer.Option(None, "--id", metavar="ID", help="The encounter of a file holding several (by its id).")


def line_text(line: dict) -> str:
    mods = "-".join(line.get("modifiers", []))
    return line["code"] + (f"-{mods}" if mods else "") + (f" x{line['units']}" if line.get("units", 1) != 1 else "")


def claim_text(lines: list[dict] | None) -> str:
    return ", ".join(line_text(x) for x in lines) if lines else "(no line)"


def finding_text(f: dict) -> str:
    line = f" line {f['line']}" if f.get("line") else ""
    cites = "; ".join(c.get("title", "") for c in f.get("citations", [])[:2])
    return f"{f['rule']}{line} ({f['severity']}): {f.get('message', '')}" + (f" [{cites}]" if cites else "")


def render_whatif(answer: dict) -> str:
    from solver.report import clean
    base = answer["baseline"]
    out = [f"{clean(answer['encounter'])}: baseline {base['outcome']}, claim {clean(claim_text(base['claim']))}"]
    for n, v in enumerate(answer["variants"], start=1):
        out.append(f"variant {n}: {clean(v['label'])}")
        if not v["changes"]:
            out.append("  changes: none (the encounter is the baseline)")
        for c in v["changes"]:
            out.append(f"  set {clean(c['path'])} = {clean(json.dumps(c['value']))}")
        if v["outcome"]:
            out.append(f"  outcome: {v['outcome']['from']} -> {v['outcome']['to']}")
        if v["claim"]:
            out.append(f"  claim: {clean(claim_text(v['claim']['from']))} -> {clean(claim_text(v['claim']['to']))}")
        out += [f"  + {clean(finding_text(f))}" for f in v["findings_added"]]
        out += [f"  - {clean(finding_text(f))}" for f in v["findings_removed"]]
        if not (v["outcome"] or v["claim"] or v["findings_added"] or v["findings_removed"]):
            out.append("  the same answer as the baseline (outcome, claim and findings)")
    return "\n".join(out) + "\n"


def whatif(
    encounter: str = typer.Argument(..., metavar="ENCOUNTER", help="An encounter file (one encounter, or several with --id)."),
    sets: List[str] = typer.Option([], "--set", metavar="PATH=VALUE", help="Change one field (a contract path, e.g. injections[2].muscle=trapezius); each --set is one variant."),
    patches: List[Path] = typer.Option([], "--patch", metavar="FILE", help="A JSON or YAML file: an RFC 7386 merge patch (object), an RFC 6902 JSON Patch (list of operations), or a list of patches (one variant each)."),
    together: bool = typer.Option(False, "--together", help="Apply every change (the --set ones, then the patches) as one variant."),
    encounter_id: Optional[str] = ENCOUNTER_ID,
    fmt: OutFormat = typer.Option(OutFormat.text, "--format", metavar="text|json", help="text or json."),
    policies: Optional[Path] = POLICIES,
):
    """What if: the encounter's answer and each variant's, side by side, showing only what changed."""
    from solver.cli import _engine, _fail, _set_policies
    from solver.errors import Problem
    from solver.explore.patching import PathError, parse_set, variants
    from solver.explore.reading import one_encounter, patch_file
    from solver.explore.whatif import whatif as answer_whatif

    _set_policies(policies)
    if not sets and not patches:
        _fail([Problem("(command line)", "--set", "give at least one change: --set PATH=VALUE or --patch FILE")])
    try:
        parsed = []
        for s in sets:
            try:
                parsed.append(parse_set(s))
            except PathError as exc:
                raise PayerkbError([Problem("(command line)", s.partition("=")[0].strip() or "--set", str(exc))]) from None
        enc = one_encounter(encounter, encounter_id)
        found = variants(enc, parsed, [(str(p), patch_file(p)) for p in patches], together)
        answer = answer_whatif(_engine(), enc, found)
    except PayerkbError as exc:
        _fail(exc.problems)
    if fmt is OutFormat.json:
        sys.stdout.write(json.dumps(answer, indent=2) + "\n")
    else:
        sys.stdout.write(render_whatif(answer))
