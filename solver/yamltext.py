"""YAML as the product reads it: safe, with dates kept as text, so an impossible date (2024-04-31) is a
validation error naming its field rather than a crash that hides every other problem.

Policy files are read more strictly still: a key given twice in one mapping is an error (plain YAML keeps
the last value silently)."""
from __future__ import annotations

from pathlib import Path

import yaml

from solver.errors import Problem


class TextDatesLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's C parser where present
    """A safe YAML loader that leaves dates as text, so an impossible date is a validation error, not a crash."""


TextDatesLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class PolicyLoader(TextDatesLoader):
    """Dates as text, and a key given twice in one mapping is an error."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice; keep one", key_node.start_mark)
                try:
                    seen.add(key)
                except TypeError:  # an unhashable key: the base class reports it
                    pass
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str):
    return yaml.load(text, Loader=TextDatesLoader)  # noqa: S506 - a SafeLoader subclass


def read_policy_yaml(path: Path, problems: list[Problem]):
    """The data of a policy file, or None with a problem naming the file (and the line of a syntax error)."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=PolicyLoader)  # noqa: S506 - a SafeLoader subclass
        if data is None:
            problems.append(Problem(str(path), "(file)", "the file is empty; fill it in or remove it"))
        return data
    except FileNotFoundError:
        problems.append(Problem(str(path), "(file)", "no such file"))
    except (UnicodeDecodeError, IsADirectoryError, PermissionError) as exc:
        problems.append(Problem(str(path), "(file)", f"cannot be read ({exc.__class__.__name__}); give a UTF-8 YAML file"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problems.append(Problem(str(path), "(file)", f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"))
    return None
