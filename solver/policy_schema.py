"""The JSON Schema of every kind of policy file, from the pydantic models that validate it, and which kind each
shipped file is. `payerkb schema --policy KIND` prints one; tools/write_policy_schemas.py writes them all to
policies/schema/<kind>.schema.json, and every policy YAML names its schema on its first line
(`# yaml-language-server: $schema=...`), so an analyst's editor completes and checks its fields.

Beyond the models: a rule's `family` is one of kb/families.yaml and its `params` are the family's own
(names, and the types JSON Schema can say: whole numbers and their bounds, text, yes/no, dates, enums,
lists); a case's `encounter` and `defaults` are the encounter contract's fields, none required (the two are
merged before the encounter is validated)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from pydantic import BaseModel

from solver.encounter import Encounter
from solver.explore.assumable_model import AssumableFile
from solver.formats.payer_map import PayerMapFile
from solver.icd10cm_data import ChangesFile, ReleasesSource
from solver.policy_model import CaseFile, MuscleTable, Payer, RuleSet
from solver.table_model import CodeGroupsFile, SourceFile, SubstancesFile
from solver.verify.space import Space

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_DIR = "schema"  # under the policies folder
HEADER = "# yaml-language-server: $schema="

POLICY_FILE_MODELS: dict[str, type[BaseModel]] = {
    "ruleset": RuleSet, "payer": Payer, "cases": CaseFile, "muscles": MuscleTable, "code-groups": CodeGroupsFile,
    "substances": SubstancesFile, "table-source": SourceFile, "icd10cm-releases-source": ReleasesSource,
    "icd10cm-changes": ChangesFile, "payer-map": PayerMapFile, "space": Space,
    "assumable": AssumableFile,
}
TITLES = {
    "ruleset": "payerkb rule set (policies/rulesets/*.yaml)",
    "payer": "payerkb payer (policies/payers/*.yaml)",
    "cases": "payerkb cases (*.cases.yaml next to a policy file)",
    "muscles": "payerkb muscle vocabulary and region model (policies/tables/muscles.yaml)",
    "code-groups": "payerkb code and modifier groups (policies/tables/code-groups.yaml)",
    "substances": "payerkb injectate classes (policies/tables/substances.yaml)",
    "table-source": "payerkb provenance of a CMS code table (policies/tables/<table>.source.yaml)",
    "icd10cm-releases-source": "payerkb ICD-10-CM releases held (policies/tables/icd10cm-releases.source.yaml)",
    "icd10cm-changes": "payerkb dated ICD-10-CM changes (policies/tables/icd10cm-changes.yaml)",
    "payer-map": "payerkb payer map (policies/payer-map.yaml)",
    "space": "payerkb bounded encounter space of verify and policy diff --witness (policies/verify/space.yaml)",
    "assumable": "payerkb facts explain --missing may assume and --sensitivity may change (policies/assumable.yaml)",
}


# Policy YAML read without a pydantic model, so without a schema yet (named, so a new one cannot slip by).
UNMODELLED: dict[str, str] = {}


def kind_of(relative: str) -> str | None:
    """The kind of a policy file by its path under the policies folder ('rulesets/ncci.yaml'), or None."""
    path = relative.replace(os.sep, "/")
    name = path.rsplit("/", 1)[-1]
    if not name.endswith(".yaml"):
        return None
    if name.endswith(".cases.yaml"):
        return "cases"
    if path == "payer-map.yaml":
        return "payer-map"
    if path == "verify/space.yaml":
        return "space"
    if path == "assumable.yaml":
        return "assumable"
    folder = path.rsplit("/", 1)[0] if "/" in path else ""
    if folder == "rulesets":
        return "ruleset"
    if folder == "payers":
        return "payer"
    if folder == "tables":
        fixed = {"muscles.yaml": "muscles", "code-groups.yaml": "code-groups", "substances.yaml": "substances",
                 "icd10cm-changes.yaml": "icd10cm-changes", "icd10cm-releases.source.yaml": "icd10cm-releases-source"}
        return fixed.get(name, "table-source" if name.endswith(".source.yaml") else None)
    return None


def policy_files(root: Path) -> list[tuple[Path, str]]:
    """Every policy YAML of a policies folder with its kind (the schema folder aside)."""
    out = []
    for path in sorted(Path(root).rglob("*.yaml")):
        kind = kind_of(path.relative_to(root).as_posix())
        if kind:
            out.append((path, kind))
    return out


def header_line(root: Path, path: Path, kind: str) -> str:
    """The first line a policy file carries: the relative path of its schema."""
    target = Path(root) / SCHEMA_DIR / f"{kind}.schema.json"
    return HEADER + Path(os.path.relpath(target, Path(path).parent)).as_posix()


def policy_schema(kind: str, families: dict | None = None) -> dict:
    """The JSON Schema of one kind of policy file (families: kb/families.yaml's specs, for a rule's params)."""
    schema = POLICY_FILE_MODELS[kind].model_json_schema()
    if kind == "cases":
        _partial_encounters(schema)
    if kind == "ruleset" and families:
        _family_params(schema, families)
    if kind == "space":
        schema["properties"].pop("file", None)  # the loader's own record of where the file was read
    return {"$schema": DIALECT, "$id": f"urn:payerkb:policy-schema:{kind}", "title": TITLES[kind],
            **{k: v for k, v in schema.items() if k != "title"}}


def schema_text(kind: str, families: dict | None = None) -> str:
    return json.dumps(policy_schema(kind, families), indent=2, sort_keys=False) + "\n"


def _partial_encounters(schema: dict) -> None:
    """A case's encounter and the file's defaults: the encounter's fields, none required, nothing else."""
    enc = Encounter.model_json_schema()
    defs = schema.setdefault("$defs", {})
    for name, d in enc.get("$defs", {}).items():
        defs.setdefault(name, d)
    partial = {"type": "object", "additionalProperties": False, "properties": enc["properties"],
               "description": "Fields of an encounter (contract v1); a case's encounter is merged over the file's defaults, "
                              "and the result must be a whole encounter (id, payer, date_of_service)."}
    defs["PartialEncounter"] = partial
    ref = {"$ref": "#/$defs/PartialEncounter"}
    schema["properties"]["defaults"] = {**ref, "default": {}}
    defs["Case"]["properties"]["encounter"] = dict(ref)


_INT = re.compile(r"^int(?:\[(-?\d+)?\.\.(-?\d+)?\])?$")
_TEXT_TYPES = {"str", "slot", "group", "modifier_group", "modifier", "code", "region", "element", "category",
               "substance_class", "rule_id"}


def param_type_schema(typ: str) -> dict:
    """What JSON Schema can say of a parameter type of kb/families.yaml (solver/param_types.py checks the rest)."""
    m = _INT.match(typ)
    if m:
        out: dict = {"type": "integer", "minimum": int(m.group(1)) if m.group(1) else 0}
        if m.group(2):
            out["maximum"] = int(m.group(2))
        return out
    if typ == "bool":
        return {"type": "boolean"}
    if typ == "date":
        return {"type": "string", "format": "date"}
    if typ in _TEXT_TYPES:
        return {"type": "string", "description": f"a {typ} (see kb/families.yaml)"}
    if typ.startswith("enum[") and typ.endswith("]"):
        return {"enum": [v.strip() for v in typ[5:-1].split(",")]}
    if typ.startswith("list[") and typ.endswith("]"):
        return {"type": "array", "items": param_type_schema(typ[5:-1])}
    if typ == "diagnoses":
        return {"type": "array", "items": {"type": "string"}, "description": "ICD-10-CM codes; \"M54.5*\" is the code and all below it"}
    if typ == "bands":
        return {"type": "array", "items": {"type": "object", "required": ["code", "min"], "additionalProperties": False,
                                           "properties": {"code": {"type": "string"}, "min": {"type": "integer"},
                                                          "max": {"type": ["integer", "null"], "description": "none: no upper limit"}}}}
    if typ.startswith("map[") and typ.endswith("]"):
        _key, value = typ[4:-1].split(",", 1)
        return {"type": "object", "additionalProperties": param_type_schema(value.strip())}  # the value type is a list
    return {}


def _param_property(typ: str) -> dict:
    out = param_type_schema(typ)
    out.setdefault("description", f"type {typ} (kb/families.yaml)")
    return out


def _family_params(schema: dict, families: dict) -> None:
    """A rule's family is one of kb/families.yaml, and its params are that family's (names and types)."""
    rule = schema["$defs"]["Rule"]
    rule["properties"]["family"] = {"enum": sorted(families), "description": "A rule family of kb/families.yaml", "title": "Family"}
    cases = []
    for name in sorted(families):
        params = families[name].get("params") or {}
        props = {p.rstrip("?"): _param_property(str(t)) for p, t in params.items()}
        required = sorted(p for p in params if not p.endswith("?"))
        then = {"properties": {"params": {"type": "object", "additionalProperties": False, "properties": props,
                                          **({"required": required} if required else {})}}}
        if required:
            then["required"] = ["params"]
        cases.append({"if": {"properties": {"family": {"const": name}}, "required": ["family"]}, "then": then})
    rule["allOf"] = cases


def write_schemas(root: Path, families: dict) -> list[Path]:
    """Write every kind's schema under root/schema/; the files written."""
    folder = Path(root) / SCHEMA_DIR
    folder.mkdir(exist_ok=True)
    out = []
    for kind in POLICY_FILE_MODELS:
        path = folder / f"{kind}.schema.json"
        path.write_text(schema_text(kind, families), encoding="utf-8")
        out.append(path)
    return out


def with_header(text: str, line: str) -> str:
    """The file's text with its schema line first (an older schema line is replaced)."""
    rest = text[text.index("\n") + 1:] if text.startswith(HEADER) and "\n" in text else ("" if text.startswith(HEADER) else text)
    return line + "\n" + rest
