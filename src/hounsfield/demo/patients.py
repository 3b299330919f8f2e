"""Synthetic patients and studies, including names in the character sets of PS3.5 Annexes
H, I and J, so that every part of the product meets non-ASCII data from the start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydicom import Dataset
from pydicom.uid import UID

from hounsfield.demo.common import demo_uid


@dataclass(frozen=True)
class Patient:
    """A patient as the Patient module (PS3.3 C.7.1.1) records them.

    ``specific_character_set`` is the value of (0008,0005) used for every object of this
    patient: "" for the default repertoire, one term ("ISO_IR 100") or several
    ("\\ISO 2022 IR 87" means ASCII plus JIS X 0208 with code extensions, PS3.3 C.12.1.1.2).
    ``other`` holds extra Patient module attributes by keyword.
    """

    name: str
    patient_id: str
    birth_date: str
    sex: str
    specific_character_set: str = ""
    issuer_of_patient_id: str = "HOUNSFIELD"
    other: dict[str, Any] = field(default_factory=dict, hash=False)

    def character_set_value(self) -> str | list[str]:
        """Return the (0008,0005) value as pydicom expects it (a list when multi-valued)."""
        terms = self.specific_character_set.split("\\")
        return terms if len(terms) > 1 else terms[0]


@dataclass(frozen=True)
class Study:
    """A study as the General Study module (PS3.3 C.7.2.1) records it."""

    study_instance_uid: str
    study_date: str
    study_time: str = "080000"
    accession_number: str = ""
    study_id: str = "1"
    referring_physician_name: str = ""
    institution_name: str = ""
    study_description: str = ""

    @classmethod
    def create(cls, patient: Patient, study_date: str, study_description: str, *,
               seed: int = 0, number: int = 1, study_time: str = "080000",
               referring_physician_name: str = "", institution_name: str = "") -> Study:
        """Return a study of ``patient`` whose UID and accession number derive from the
        patient, the seed and ``number`` (so the same inputs give the same study)."""
        uid = demo_uid("study", seed, patient.patient_id, number)
        accession = f"A{int(uid.rsplit('.', 1)[1]) % 10**9:09d}"
        return cls(study_instance_uid=uid, study_date=study_date, study_time=study_time,
                   accession_number=accession, study_id=str(number),
                   referring_physician_name=referring_physician_name,
                   institution_name=institution_name, study_description=study_description)


def apply_patient_study(ds: Dataset, patient: Patient, study: Study) -> None:
    """Fill SOP Common's character set, the Patient and the General Study modules.

    Specific Character Set comes first so pydicom encodes later text with it.
    """
    if patient.specific_character_set:
        ds.SpecificCharacterSet = patient.character_set_value()
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.IssuerOfPatientID = patient.issuer_of_patient_id
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    for keyword, value in patient.other.items():
        setattr(ds, keyword, value)
    ds.StudyInstanceUID = UID(study.study_instance_uid)
    ds.StudyDate = study.study_date
    ds.StudyTime = study.study_time
    ds.AccessionNumber = study.accession_number
    ds.StudyID = study.study_id
    ds.ReferringPhysicianName = study.referring_physician_name
    ds.StudyDescription = study.study_description
    age = patient_age(patient.birth_date, study.study_date)
    if age:
        ds.PatientAge = age


def patient_age(birth_date: str, on: str) -> str:
    """Return the AS value (e.g. "047Y") of the age on date ``on``; "" if unknown."""
    if len(birth_date) != 8 or len(on) != 8:
        return ""
    years = int(on[:4]) - int(birth_date[:4]) - (1 if on[4:] < birth_date[4:] else 0)
    return f"{max(years, 0):03d}Y"


def demo_patients(seed: int = 0) -> list[Patient]:
    """Return the demo patients, each with a name in a different character set.

    The Japanese and Korean names are the examples of PS3.5 Annex H and I; the Chinese
    one uses GB18030 (Annex J). ``seed`` only changes the patient IDs' suffix so several
    demo sets can coexist in one archive.
    """
    suffix = f"{seed:02d}" if seed else ""
    return [
        Patient("Doe^Jane", f"HF1001{suffix}", "19580314", "F",
                other={"PatientWeight": 68.0, "PatientSize": 1.65}),
        Patient("Müller^Jürgen", f"HF1002{suffix}", "19710902", "M", "ISO_IR 100",
                other={"PatientComments": "Überweisung aus der Ambulanz"}),
        Patient("Yamada^Tarou=山田^太郎=やまだ^たろう", f"HF1003{suffix}", "19650121", "M",
                "\\ISO 2022 IR 87"),
        Patient("Hong^Gildong=洪^吉洞=홍^길동", f"HF1004{suffix}", "19800517", "M",
                "\\ISO 2022 IR 149"),
        Patient("Wang^XiaoDong=王^小东", f"HF1005{suffix}", "19921130", "M", "GB18030"),
        Patient("Παπαδοπούλου^Ελένη", f"HF1006{suffix}", "19490708", "F", "ISO_IR 192"),
        Patient("Smith^John^Andrew^Dr.^Jr.", f"HF1007{suffix}", "20010223", "M"),
        Patient("O'Brien^Siobhán", f"HF1008{suffix}", "19870411", "F", "ISO_IR 192"),
    ]
