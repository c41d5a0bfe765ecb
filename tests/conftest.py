import copy
import datetime as dt
import shutil

import pytest

from solver.encounter import Encounter
from solver.engine import Engine
from solver.paths import POLICIES_DIR

BASE = {
    "id": "t-1",
    "payer": "medicare-cgs",
    "date_of_service": "2024-06-10",
    "injections": [
        {"muscle": "upper trapezius", "side": "right", "substance": "lidocaine 1%", "dose": "2 mL"},
    ],
    "diagnoses": ["M79.12"],
    "documentation": {
        "trigger_points_on_exam": True,
        "focal_muscle_pain": True,
        "conservative_therapy": {"tried": ["physical_therapy"], "weeks": 8, "failed": True, "ongoing": True},
        "pain_scores": {"scale": "NRS", "before": 7, "after": 3},
        "functional_limitation": True,
    },
}


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine()


def encounter(**changes) -> Encounter:
    """A clean, covered medicare-cgs encounter (one muscle), with the given fields replaced."""
    raw = copy.deepcopy(BASE)
    raw.update(changes)
    return Encounter.model_validate(raw)


def inj(muscle, side="right", substance="lidocaine 1%", dose="2 mL", **kw):
    return dict(muscle=muscle, side=side, substance=substance, dose=dose, **kw)


def rules(result) -> set[str]:
    return {f["rule"] for f in result["findings"]}


def finding(result, rule):
    found = [f for f in result["findings"] if f["rule"] == rule]
    assert found, f"no finding {rule}; findings: {sorted(rules(result))}"
    return found[0]


def shift(raw: dict, days: int) -> dict:
    """The same encounter, every date moved by the same number of days."""
    raw = copy.deepcopy(raw)
    d = dt.date.fromisoformat(str(raw["date_of_service"])) + dt.timedelta(days=days)
    raw["date_of_service"] = d.isoformat()
    for h in raw.get("history", []):
        h["date"] = (dt.date.fromisoformat(str(h["date"])) + dt.timedelta(days=days)).isoformat()
    return raw


@pytest.fixture
def policies(tmp_path):
    """A copy of the shipped policies folder, for a test to break."""
    root = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, root)
    return root


def replace_in(path, old, new, count=1):
    """Replace old with new in a file (count times), failing when old is not there."""
    text = path.read_text()
    assert text.count(old) >= count, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count))
