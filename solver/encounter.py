"""The encounter input contract (contract v1): pydantic models, strict, unknown keys rejected.

Every number, list and text is bounded by what a real claim can carry (the ASC X12 837P professional claim:
12 diagnoses, 50 service lines, 4 modifiers and 4 diagnosis pointers a line) or by what the measure can be
(a percent, a pain scale), so that no value can overflow the solver's 32-bit integers or its memory."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from solver.dates import InputDate

PROCEDURE_CODE = re.compile(r"^(\d{4}[0-9A-Z]|[A-Z]\d{4})$")
ICD10CM_CODE = re.compile(r"^[A-Z][0-9A-Z][0-9A-Z](\.[0-9A-Z]{1,4})?$")  # U07.1, and QA0 (April 2026) with a letter second
MODIFIER = re.compile(r"^[0-9A-Z]{2}$")

MAX_DIAGNOSES = 12  # 837P 2300 HI: a principal and 11 other diagnosis codes
MAX_LINES = 50  # 837P 2400 loop: at most 50 service lines a claim
MAX_MODIFIERS = 4  # 837P SV101-3..6: four procedure modifiers a line
MAX_POINTERS = 4  # 837P SV107: four diagnosis code pointers a line
MAX_UNITS = 999  # far above any MUE of the services billed here (20552/20553: 1 a day; 96372: 4; CMS MUE 2024-04-01)
MAX_WEEKS = 5200  # a hundred years
MAX_INJECTIONS = 50  # muscles injected in one session
MAX_HISTORY = 500  # earlier sessions
MAX_NAMES = 50  # muscles of one earlier session, therapies tried
MAX_TRIGGER_POINTS = 99  # in one muscle
MAX_TEXT = 200  # characters of a free-text value (muscle, substance, dose, site, therapy, scale)
MAX_ID = 100  # characters of an id, a patient or a payer id

UNITS_DOC = (f"Units of service, 1 to {MAX_UNITS}: the Medically Unlikely Edits of the services an encounter like this "
             "bills are 1 to 10 units a day (20552/20553: 1, CMS MUE table effective 2024-04-01), so three digits hold "
             "any claim a payer would pay.")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _as_code_text(value, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"must be a {what} as text, not {type(value).__name__}")
    return str(value).strip().upper()


def _shown(value: str) -> str:
    return repr(value if len(value) <= 24 else value[:24] + "...")


def _procedure_code(value) -> str:
    value = _as_code_text(value, "CPT/HCPCS code")
    if not PROCEDURE_CODE.match(value):
        raise ValueError(f"{_shown(value)} is not a CPT/HCPCS code (five characters, e.g. \"20552\" or \"J3301\")")
    return value


def _icd10cm_code(value) -> str:
    value = _as_code_text(value, "ICD-10-CM code")
    if len(value) > 3 and "." not in value:
        value = value[:3] + "." + value[3:]
    if not ICD10CM_CODE.match(value):
        raise ValueError(f"{_shown(value)} is not an ICD-10-CM code (letter, two characters, optional dot and up to four more, e.g. M79.12)")
    return value


def _modifier(value) -> str:
    value = _as_code_text(value, "modifier")
    if not MODIFIER.match(value):
        raise ValueError(f"{_shown(value)} is not a CPT/HCPCS modifier (two characters, e.g. \"59\" or \"XS\")")
    return value


ProcedureCode = Annotated[str, BeforeValidator(_procedure_code), Field(description="A CPT or HCPCS code, five characters.")]
DiagnosisCode = Annotated[str, BeforeValidator(_icd10cm_code), Field(description="An ICD-10-CM code, e.g. M79.12.")]
Modifier = Annotated[str, BeforeValidator(_modifier), Field(description="A CPT/HCPCS modifier, two characters.")]
Text = Annotated[str, Field(max_length=MAX_TEXT)]


def _finite(low: float, high: float, doc: str):
    return Field(default=None, ge=low, le=high, allow_inf_nan=False, description=doc)


class Injection(Strict):
    muscle: Text | None = Field(default=None, description=f"The muscle injected, as documented (at most {MAX_TEXT} characters).")
    side: Literal["left", "right", "midline"] | None = None
    trigger_points: int = Field(default=1, ge=1, le=MAX_TRIGGER_POINTS,
                                description=f"Trigger points injected in this muscle, 1 to {MAX_TRIGGER_POINTS}.")
    substance: Text | None = Field(default=None, description=f"The injectate, as documented (at most {MAX_TEXT} characters).")
    dose: Text | None = Field(default=None, description=f"The dose, as documented (at most {MAX_TEXT} characters).")
    guidance: Literal["none", "ultrasound", "fluoroscopy", "ct", "mri"] = "none"


class Evaluation(Strict):
    code: ProcedureCode
    separately_identifiable: bool = False
    new_patient: bool = False


class OtherProcedure(Strict):
    code: ProcedureCode
    units: int = Field(default=1, ge=1, le=MAX_UNITS, description=UNITS_DOC)
    site: Text | None = Field(default=None, description=f"Where it was done (at most {MAX_TEXT} characters).")
    distinct: bool = False


class ConservativeTherapy(Strict):
    tried: list[Text] = Field(default=[], max_length=MAX_NAMES,
                              description=f"Therapies tried, at most {MAX_NAMES}, each at most {MAX_TEXT} characters.")
    weeks: int | None = Field(default=None, ge=0, le=MAX_WEEKS, description=f"Weeks of conservative therapy, 0 to {MAX_WEEKS}.")
    failed: bool = False
    ongoing: bool = False


class PainScores(Strict):
    scale: Text | None = Field(default=None, description=f"The pain scale (NRS 0-10, VAS 0-100), at most {MAX_TEXT} characters.")
    before: float | None = _finite(0, 100, "Pain before the injection, 0 to 100 (a VAS in mm; an NRS is 0 to 10), finite.")
    after: float | None = _finite(0, 100, "Pain after the injection, 0 to 100 (a VAS in mm; an NRS is 0 to 10), finite.")


class PriorRelief(Strict):
    percent: float | None = _finite(0, 100, "Relief after the prior injection, a percent from 0 to 100, finite.")
    weeks: float | None = _finite(0, MAX_WEEKS, f"Weeks the prior relief lasted, 0 to {MAX_WEEKS}, finite.")
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
    date: InputDate
    code: ProcedureCode
    muscles: list[Text] | None = Field(default=None, max_length=MAX_NAMES,
                                       description=f"The muscles injected that day, at most {MAX_NAMES}.")


class ClaimLine(Strict):
    code: ProcedureCode
    modifiers: list[Modifier] = Field(default=[], max_length=MAX_MODIFIERS,
                                      description=f"At most {MAX_MODIFIERS} modifiers, as on an 837P service line.")
    units: int = Field(default=1, ge=1, le=MAX_UNITS, description=UNITS_DOC)
    diagnoses: list[DiagnosisCode] = Field(default=[], max_length=MAX_POINTERS,
                                           description=f"At most {MAX_POINTERS} diagnoses, the pointers of an 837P service line.")


class Encounter(Strict):
    id: str = Field(min_length=1, max_length=MAX_ID, description=f"The encounter's id, as written (at most {MAX_ID} characters).")
    payer: str = Field(min_length=1, max_length=MAX_ID, description="A payer id (see `payerkb policy list`).")
    date_of_service: InputDate
    patient: str | None = Field(default=None, max_length=MAX_ID, description=f"The patient's id, as written (at most {MAX_ID} characters).")
    injections: list[Injection] = Field(default=[], max_length=MAX_INJECTIONS,
                                        description=f"One entry a muscle injected, at most {MAX_INJECTIONS}.")
    diagnoses: list[DiagnosisCode] = Field(default=[], max_length=MAX_DIAGNOSES,
                                           description=f"Documented diagnoses, most important first; at most {MAX_DIAGNOSES}, as on an 837P claim.")
    evaluation: Evaluation | None = None
    other_procedures: list[OtherProcedure] = Field(default=[], max_length=MAX_LINES,
                                                   description=f"Other procedures of the day, at most {MAX_LINES} (the lines of an 837P claim).")
    documentation: Documentation = Documentation()
    history: list[PriorSession] = Field(default=[], max_length=MAX_HISTORY, description=f"Earlier TPI sessions, at most {MAX_HISTORY}.")
    claim: list[ClaimLine] | None = Field(default=None, max_length=MAX_LINES,
                                          description=f"The claim about to be sent: at most {MAX_LINES} lines, as on an 837P claim.")
    procedure_note: bool = Field(default=True, description=(
        "false: the input is a claim without its procedure note (an X12 837P claim, a FHIR Claim with no "
        "supportingInfo). payerkb then checks what the claim shows (codes, modifiers, units, NCCI, MUE, "
        "diagnoses, frequency from the history) and names every check that needs the note instead of making it."))

    @field_validator("id", "patient", mode="before")
    @classmethod
    def _text(cls, value):
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool) or not isinstance(value, int):  # 12.50 would not read back as written
            raise ValueError(f"must be text or a whole number, not {type(value).__name__}; quote it")
        return str(value)


# --- what the engines take: an Encounter (a TypeError saying what to give, for anything else) -------
_DICT_HINT = ("give an Encounter (solver.encounter.Encounter.model_validate(d) validates a mapping, raising a "
              "ValidationError naming each bad field), or use solver.api.{api} for mappings (a bad record is then an "
              "error result naming its field)")


def one_encounter(enc, where: str) -> None:
    """A TypeError saying what to give, for an argument of `where` (e.g. "Engine.check") that is not an
    Encounter (a dict has no .payer)."""
    if not isinstance(enc, Encounter):
        raise TypeError(f"{where} takes an Encounter, not a {type(enc).__name__}; " + _DICT_HINT.format(api="check"))


def encounter_list(encounters, where: str) -> list[Encounter]:
    """The encounters of a check_many-like method as a list, each an Encounter (else a TypeError naming it)."""
    if isinstance(encounters, (Encounter, Mapping, str, bytes)):  # one encounter: iterating it would check its keys
        raise TypeError(f"{where} takes a list of Encounters, not one {type(encounters).__name__}; use check() for one")
    try:
        out = list(encounters)
    except TypeError:
        raise TypeError(f"{where} takes a list of Encounters, not a {type(encounters).__name__}") from None
    for n, enc in enumerate(out, start=1):
        if not isinstance(enc, Encounter):
            raise TypeError(f"{where}: item {n} of the list is a {type(enc).__name__}, not an Encounter; "
                            + _DICT_HINT.format(api="check_many"))
    return out
