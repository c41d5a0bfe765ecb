"""Write the JSON Schema of every kind of policy file, and the schema line every policy file starts with.

    python tools/write_policy_schemas.py [POLICIES_DIR]          (default: the shipped policies/)
    python tools/write_policy_schemas.py --check [POLICIES_DIR]  (exit 1 when a schema or a first line is stale)

The schemas come from the pydantic models that validate the files (solver/policy_schema.py) and the rule
families of kb/families.yaml; tests/test_policy_schema.py regenerates them and compares. Each policy YAML gets
`# yaml-language-server: $schema=<relative path>` as its first line (an older one is replaced)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from solver.families import load_families  # noqa: E402
from solver.paths import KB_DIR, POLICIES_DIR  # noqa: E402
from solver.policy_schema import POLICY_FILE_MODELS, SCHEMA_DIR, header_line, policy_files, schema_text, with_header  # noqa: E402
from solver.yamltext import read_policy_yaml  # noqa: E402


def main(argv: list[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    root = Path(args[0]) if args else POLICIES_DIR
    problems: list = []
    families = load_families(KB_DIR, read_policy_yaml, problems).specs
    if problems:
        print("\n".join(str(p) for p in problems), file=sys.stderr)
        return 2
    stale = []
    (root / SCHEMA_DIR).mkdir(exist_ok=True)
    for kind in POLICY_FILE_MODELS:
        path = root / SCHEMA_DIR / f"{kind}.schema.json"
        text = schema_text(kind, families)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if not check:
                path.write_text(text, encoding="utf-8")
    for path, kind in policy_files(root):
        text = path.read_text(encoding="utf-8")
        new = with_header(text, header_line(root, path, kind))
        if new != text:
            stale.append(path)
            if not check:
                path.write_text(new, encoding="utf-8")
    for path in stale:
        print(f"{'stale' if check else 'wrote'} {path}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
