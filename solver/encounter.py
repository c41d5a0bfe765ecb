"""The encounter input contract (contract v1): pydantic models, strict, unknown keys rejected."""
from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

PROCEDURE_CODE = re.compile(r"^(\d{4}[0-9A-Z]|[A-Z]\d{4})$")
ICD10CM_CODE = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
MODIFIER = re.compile(r"^[0-9A-Z]{2}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _procedure_code(value: str) -> str:
    value = str(value).strip().upper()
    if not PROCEDURE_CODE.match(value):
        raise ValueError(f"{value!r} is not a CPT/HCPCS code (five characters, e.g. \"20552\" or \"J3301\"); quote it in YAML")
    return value


def _icd10cm_code(value: str) -> str:
    value = str(value).strip().upper()
    if len(value) > 3 and "." not in value:
        value = value[:3] + "." + value[3:]
    if not ICD10CM_CODE.match(value):
        raise ValueError(f"{value!r} is not an ICD-10-CM code (letter, two characters, optional dot and up to four more, e.g. M79.12)")
    return value


def _modifier(value: str) -> str:
    value = str(value).strip().upper()
    if not MODIFIER.match(value):
        raise ValueError(f"{value!r} is not a CPT/HCPCS modifier (two characters, e.g. \"59\" or \"XS\")")
    return value


ProcedureCode = Annotated[str, BeforeValidator(_procedure_code)]
DiagnosisCode = Annotated[str, BeforeValidator(_icd10cm_code)]
Modifier = Annotated[str, BeforeValidator(_modifier)]


class Injection(Strict):
    muscle: str | None = None
    side: Literal["left", "right", "midline"] | None = None
    trigger_points: int = Field(default=1, ge=1)
    substance: str | None = None
    dose: str | None = None
    guidance: Literal["none", "ultrasound", "fluoroscopy", "ct", "mri"] = "none"


class Evaluation(Strict):
    code: ProcedureCode
    separately_identifiable: bool = False
    new_patient: bool = False


class OtherProcedure(Strict):
    code: ProcedureCode
    units: int = Field(default=1, ge=1)
    site: str | None = None
    distinct: bool = False


class ConservativeTherapy(Strict):
    tried: list[str] = []
    weeks: int | None = Field(default=None, ge=0)
    failed: bool = False
    ongoing: bool = False


class PainScores(Strict):
    scale: str | None = None
    before: float | None = Field(default=None, ge=0)
    after: float | None = Field(default=None, ge=0)


class PriorRelief(Strict):
    percent: float | None = Field(default=None, ge=0, le=100)
    weeks: float | None = Field(default=None, ge=0)
    same_scale: bool = False
    dated: bool = False


class Documentation(Strict):
    trigger_points_on_exam: bool = False
    focal_muscle_pain: bool = False
    conservative_therapy: ConservativeTherapy = ConservativeTherapy()
    pain_scores: PainScores | None = None
    prior_relief: PriorRelief | None = None
    functional_limitation: bool = False
    abn_on_file: bool = False


class PriorSession(Strict):
    date: dt.date
    code: ProcedureCode
    muscles: list[str] | None = None


class ClaimLine(Strict):
    code: ProcedureCode
    modifiers: list[Modifier] = []
    units: int = Field(default=1, ge=1)
    diagnoses: list[DiagnosisCode] = []


class Encounter(Strict):
    id: str = Field(min_length=1)
    payer: str = Field(min_length=1)
    date_of_service: dt.date
    patient: str | None = None
    injections: list[Injection] = []
    diagnoses: list[DiagnosisCode] = []
    evaluation: Evaluation | None = None
    other_procedures: list[OtherProcedure] = []
    documentation: Documentation = Documentation()
    history: list[PriorSession] = []
    claim: list[ClaimLine] | None = None

    @field_validator("id", "patient", mode="before")
    @classmethod
    def _text(cls, value):
        return None if value is None else str(value)
