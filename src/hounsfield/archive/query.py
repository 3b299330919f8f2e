"""The one query model (DESIGN rule 5): DICOM matching parsed once, translated to SQL once.

C-FIND, QIDO-RS, the worklist and the web UI build a ``Query`` and call ``search``. Matching
follows PS3.4 C.2.2.2: single value, wildcard (``*`` ``?``), range (DA, TM, DT), list of
UIDs, universal (empty value) and sequence matching (a sequence key is returned, its items
are not matched). Attributes held in index columns are matched in SQL on those columns;
any other attribute is matched on the instances' stored DICOM JSON.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from sqlalchemy import (
    ColumnElement, Select, and_, exists, func, literal, or_, select, true, type_coerce,
)
from sqlalchemy import String as SAString

from hounsfield.errors import InvalidRequest
from hounsfield.index.schema import instances, patients, series, studies


class QueryLevel(enum.Enum):
    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    INSTANCE = "INSTANCE"


_LEVEL_ORDER = [QueryLevel.PATIENT, QueryLevel.STUDY, QueryLevel.SERIES, QueryLevel.INSTANCE]


@dataclass(frozen=True)
class Attr:
    """An attribute kept in a column: its tag, VR, level and column name."""

    tag: str
    keyword: str
    vr: str
    level: QueryLevel
    column: str
    search_column: str | None = None  # upper-cased form for case-insensitive PN matching


def _a(keyword: str, level: QueryLevel, column: str, search: str | None = None) -> Attr:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return Attr(f"{tag:08X}", keyword, dictionary_VR(tag), level, column, search)


P, ST, SE, IN = QueryLevel.PATIENT, QueryLevel.STUDY, QueryLevel.SERIES, QueryLevel.INSTANCE
COLUMN_ATTRS: tuple[Attr, ...] = (
    _a("PatientName", P, "patient_name", "patient_name_search"),
    _a("PatientID", P, "patient_id"),
    _a("IssuerOfPatientID", P, "issuer_of_patient_id"),
    _a("PatientBirthDate", P, "patient_birth_date"),
    _a("PatientSex", P, "patient_sex"),
    _a("NumberOfPatientRelatedStudies", P, "num_studies"),
    _a("NumberOfPatientRelatedSeries", P, "num_series"),
    _a("NumberOfPatientRelatedInstances", P, "num_instances"),
    _a("StudyInstanceUID", ST, "study_instance_uid"),
    _a("StudyDate", ST, "study_date"),
    _a("StudyTime", ST, "study_time"),
    _a("AccessionNumber", ST, "accession_number"),
    _a("StudyID", ST, "study_id"),
    _a("StudyDescription", ST, "study_description"),
    _a("ReferringPhysicianName", ST, "referring_physician_name",
       "referring_physician_name_search"),
    _a("InstitutionName", ST, "institution_name"),
    _a("TimezoneOffsetFromUTC", ST, "timezone_offset_from_utc"),
    _a("ModalitiesInStudy", ST, "modalities_in_study"),
    _a("SOPClassesInStudy", ST, "sop_classes_in_study"),
    _a("NumberOfStudyRelatedSeries", ST, "num_series"),
    _a("NumberOfStudyRelatedInstances", ST, "num_instances"),
    _a("SeriesInstanceUID", SE, "series_instance_uid"),
    _a("Modality", SE, "modality"),
    _a("SeriesNumber", SE, "series_number"),
    _a("SeriesDescription", SE, "series_description"),
    _a("SeriesDate", SE, "series_date"),
    _a("SeriesTime", SE, "series_time"),
    _a("BodyPartExamined", SE, "body_part_examined"),
    _a("StationName", SE, "station_name"),
    _a("PerformedProcedureStepStartDate", SE, "performed_procedure_step_start_date"),
    _a("PerformedProcedureStepStartTime", SE, "performed_procedure_step_start_time"),
    _a("NumberOfSeriesRelatedInstances", SE, "num_instances"),
    _a("SOPInstanceUID", IN, "sop_instance_uid"),
    _a("SOPClassUID", IN, "sop_class_uid"),
    _a("InstanceNumber", IN, "instance_number"),
    _a("Rows", IN, "rows"),
    _a("Columns", IN, "columns"),
    _a("BitsAllocated", IN, "bits_allocated"),
    _a("NumberOfFrames", IN, "number_of_frames"),
    _a("ContentDate", IN, "content_date"),
    _a("ContentTime", IN, "content_time"),
    _a("AvailableTransferSyntaxUID", IN, "transfer_syntax_uid"),
)
BY_TAG = {a.tag: a for a in COLUMN_ATTRS}
# Patient attributes are also columns of ``studies`` (as received with the study).
_PATIENT_ON_STUDY = {"patient_name", "patient_id", "issuer_of_patient_id", "patient_birth_date",
                     "patient_sex"}
_TABLES = {P: patients, ST: studies, SE: series, IN: instances}

# Return attributes of each level (PS3.18 Tables 10.6.3-3 to -5; PS3.4 C.6.1.1).
DEFAULT_RETURN: dict[QueryLevel, tuple[str, ...]] = {
    P: ("PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
        "NumberOfPatientRelatedStudies", "NumberOfPatientRelatedSeries",
        "NumberOfPatientRelatedInstances"),
    ST: ("StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy",
         "ReferringPhysicianName", "TimezoneOffsetFromUTC", "PatientName", "PatientID",
         "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyID", "StudyDescription",
         "InstitutionName", "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"),
    SE: ("Modality", "TimezoneOffsetFromUTC", "SeriesDescription", "SeriesInstanceUID",
         "SeriesNumber", "SeriesDate", "SeriesTime", "BodyPartExamined",
         "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
         "NumberOfSeriesRelatedInstances", "StudyInstanceUID"),
    IN: ("SOPClassUID", "SOPInstanceUID", "InstanceNumber", "Rows", "Columns",
         "BitsAllocated", "NumberOfFrames", "AvailableTransferSyntaxUID", "StudyInstanceUID",
         "SeriesInstanceUID"),
}

RANGE_VRS = {"DA", "TM", "DT"}
TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM",
            "UC", "UI", "UR", "UT"}


def resolve_tag(key: str) -> str:
    """A tag as 8 upper-case hex digits, from a keyword or hex tag; InvalidRequest if unknown."""
    text = key.strip()
    if len(text) == 8 and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.upper()
    tag = tag_for_keyword(text)
    if tag is None:
        raise InvalidRequest(f"Unknown attribute {key!r}: give a DICOM keyword or an "
                             "8-digit hex tag")
    return f"{tag:08X}"


def vr_of(tag: str) -> str:
    if tag in BY_TAG:
        return BY_TAG[tag].vr
    try:
        return dictionary_VR(int(tag, 16))
    except KeyError:
        return "UN"


@dataclass
class Constraint:
    tag: str
    vr: str
    value: str  # as given, already decoded to Unicode

    @property
    def universal(self) -> bool:
        return self.value == "" or self.value == "*"


@dataclass
class Query:
    """A search at one level: constraints, what to return, paging and options."""

    level: QueryLevel
    constraints: list[Constraint] = field(default_factory=list)
    return_keys: list[str] = field(default_factory=list)
    include_all: bool = False
    limit: int | None = None
    offset: int = 0
    fuzzy: bool = False
    case_insensitive_pn: bool = True
    order_by: list[tuple[str, bool]] = field(default_factory=list)  # (tag, descending)

    def add(self, key: str, value: str | None) -> "Query":
        """Add a matching key (keyword or hex tag); an empty value is universal matching."""
        if "." in key:
            raise InvalidRequest(f"Sequence matching on {key!r} is not supported")
        tag = resolve_tag(key)
        vr = vr_of(tag)
        text = "" if value is None else str(value)
        if vr in RANGE_VRS and "-" in text and text.count("-") > 1 and vr != "DT":
            raise InvalidRequest(f"Invalid range {text!r} for {key}")
        self.constraints.append(Constraint(tag, vr, text))
        return self

    def add_return(self, key: str) -> "Query":
        tag = resolve_tag(key)
        if tag not in self.return_keys:
            self.return_keys.append(tag)
        return self


# --- matching -------------------------------------------------------------------------------

def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _wildcard_to_like(text: str) -> str:
    out = []
    for ch in text:
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        else:
            out.append(_escape_like(ch))
    return "".join(out)


def _prefix(text: str) -> str | None:
    """The literal prefix of a pattern that has only one trailing '*' and no '?'."""
    if text.endswith("*") and "*" not in text[:-1] and "?" not in text and len(text) > 1:
        return text[:-1]
    return None


def _next_string(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _string_match(col: Any, value: str) -> ColumnElement[bool]:
    """Single-value or wildcard match of a string column (PS3.4 C.2.2.2.1, C.2.2.2.4)."""
    if "*" not in value and "?" not in value:
        return col == value
    prefix = _prefix(value)
    like = col.like(_wildcard_to_like(value), escape="\\")
    if prefix:
        # A range lets both databases use the column's index for prefix searches.
        return and_(col >= prefix, col < _next_string(prefix), like)
    return like


def _range_bounds(vr: str, value: str) -> tuple[str | None, str | None]:
    low, _, high = value.partition("-")
    low, high = low.strip(), high.strip()
    if vr == "TM":
        low, high = low.replace(":", ""), high.replace(":", "")
    if vr == "DA":
        low, high = low.replace(".", ""), high.replace(".", "")
        for part in (low, high):
            if part and (len(part) != 8 or not part.isdigit()):
                raise InvalidRequest(f"Invalid date {part!r} in range {value!r} "
                                     "(expected YYYYMMDD)")
    # An upper bound of lower precision covers the whole unit it names ("1200" up to 12:00:59).
    return (low or None), ((high + "~") if high and vr != "DA" else (high or None))


def _is_range(vr: str, value: str) -> bool:
    if vr != "DT":
        return "-" in value
    # DT values may carry a "-HHMM" offset; a range has exactly one "-" that is not one.
    if value.count("-") != 1:
        return value.count("-") > 1
    low, _, high = value.partition("-")
    return not (len(high) == 4 and high.isdigit() and len(low) >= 8)


def _date_match(col: Any, vr: str, value: str) -> ColumnElement[bool]:
    if _is_range(vr, value):
        low, high = _range_bounds(vr, value)
        conds = [col != ""]
        if low:
            conds.append(col >= low)
        if high:
            conds.append(col <= high)
        return and_(*conds)
    if vr == "DA":
        v = value.replace(".", "")
        if "*" not in v and "?" not in v and (len(v) != 8 or not v.isdigit()):
            raise InvalidRequest(f"Invalid date {value!r} (expected YYYYMMDD or a range)")
        return _string_match(col, v)
    if vr == "TM" and "*" not in value and "?" not in value:
        # A time matches all times within the unit it names (PS3.4 C.2.2.2.1: "10" ~ 10:xx).
        v = value.replace(":", "")
        return or_(col == v, and_(col >= v, col < v + "~"))
    return _string_match(col, value)


def _pn_match(col: Any, search_col: Any, value: str, *, case_insensitive: bool,
              fuzzy: bool) -> ColumnElement[bool]:
    if fuzzy:
        # Fuzzy (QIDO fuzzymatching=true): any name component starts with each given word.
        words = [w for w in value.replace("^", " ").replace("*", " ").split() if w]
        conds = []
        for w in words:
            pat = _escape_like(w.upper())
            conds.append(or_(search_col.like(pat + "%", escape="\\"),
                             search_col.like("%^" + pat + "%", escape="\\"),
                             search_col.like("% " + pat + "%", escape="\\")))
        return and_(*conds) if conds else true()
    if "=" in value:
        # Component groups given: match the whole stored value as written.
        return _string_match(col, value)
    if case_insensitive:
        return _string_match(search_col, value.upper())
    # Case-sensitive: the alphabetic group alone, or followed by other groups.
    return or_(_string_match(col, value),
               col.like(_wildcard_to_like(value) + "=%", escape="\\"))


def _multi_match(col: Any, value: str) -> ColumnElement[bool]:
    """Match of a backslash-joined multi-valued column: any listed value matches."""
    conds = []
    for v in value.split("\\"):
        if not v:
            continue
        conds.append(col.like("%" + _escape_like("\\") + _wildcard_to_like(v)
                              + _escape_like("\\") + "%", escape="\\"))
    return or_(*conds) if conds else true()


def _column_match(attr: Attr, col: Any, search_col: Any, c: Constraint, q: Query) -> ColumnElement[bool]:
    value = c.value
    if attr.column in ("modalities_in_study", "sop_classes_in_study"):
        return _multi_match(col, value)
    if attr.vr == "UI":
        uids = [u.strip() for u in value.split("\\") if u.strip()]
        if "*" in value or "?" in value:
            raise InvalidRequest(f"Wildcards are not allowed in UID attribute {attr.keyword}")
        return col.in_(uids) if len(uids) > 1 else col == uids[0]
    if attr.vr == "PN":
        return _pn_match(col, search_col, value, case_insensitive=q.case_insensitive_pn,
                         fuzzy=q.fuzzy)
    if attr.vr in RANGE_VRS:
        return _date_match(col, attr.vr, value)
    if attr.vr in ("IS", "US", "UL", "SS", "SL"):
        try:
            numbers = [int(v) for v in value.split("\\")]
        except ValueError:
            raise InvalidRequest(f"Invalid integer {value!r} for {attr.keyword}") from None
        return col.in_(numbers)
    if "\\" in value:
        return or_(*[_string_match(col, v) for v in value.split("\\")])
    return _string_match(col, value)


def _json_value(dialect: str, tag: str, vr: str) -> Any:
    path_col = instances.c.attributes
    if dialect == "postgresql":
        path = [tag, "Value", "0"] + (["Alphabetic"] if vr == "PN" else [])
        return type_coerce(func.jsonb_extract_path_text(path_col, *path), SAString)
    suffix = ".Alphabetic" if vr == "PN" else ""
    return type_coerce(func.json_extract(path_col, f'$."{tag}".Value[0]{suffix}'), SAString)


def _json_match(dialect: str, c: Constraint, q: Query) -> ColumnElement[bool]:
    col = _json_value(dialect, c.tag, c.vr)
    if c.vr == "PN":
        if q.case_insensitive_pn and not q.fuzzy:
            return _string_match(func.upper(col), c.value.upper())
        return _pn_match(col, func.upper(col), c.value, case_insensitive=q.case_insensitive_pn,
                         fuzzy=q.fuzzy)
    if c.vr in RANGE_VRS:
        return _date_match(col, c.vr, c.value)
    if c.vr == "UI":
        uids = [u for u in c.value.split("\\") if u]
        return col.in_(uids)
    if c.vr not in TEXT_VRS:
        # Numbers are stored as JSON numbers; compare their text form.
        return func.cast(col, SAString) == c.value
    if "\\" in c.value:
        return or_(*[_string_match(col, v) for v in c.value.split("\\")])
    return _string_match(col, c.value)


# --- building the statement ------------------------------------------------------------------

def _column_for(attr: Attr, level: QueryLevel) -> tuple[Any, Any] | None:
    """The (column, search column) holding ``attr`` in a query at ``level``; None if the
    attribute lives below the level."""
    if _LEVEL_ORDER.index(attr.level) > _LEVEL_ORDER.index(level):
        return None
    table = _TABLES[attr.level]
    if attr.level is P and level is not P:
        table = studies  # patient attributes as received with the study
        if attr.column not in _PATIENT_ON_STUDY:
            return None
    col = table.c[attr.column]
    search = table.c[attr.search_column] if attr.search_column else col
    return col, search


def build_select(q: Query, dialect: str, scope: Any = None) -> Select[Any]:
    """The SELECT for a query; ``scope`` (an access.Scope) limits it to visible studies."""
    level = q.level
    if level is P:
        stmt = select(patients)
    elif level is ST:
        stmt = select(studies)
    elif level is SE:
        stmt = select(series, studies.c.study_instance_uid).join(
            studies, studies.c.id == series.c.study_pk)
    else:
        stmt = select(instances, series.c.series_instance_uid, series.c.modality,
                      studies.c.study_instance_uid).join(
            series, series.c.id == instances.c.series_pk).join(
            studies, studies.c.id == series.c.study_pk)
    conds: list[ColumnElement[bool]] = []
    below: dict[QueryLevel, list[ColumnElement[bool]]] = {}
    for c in q.constraints:
        if c.universal:
            continue
        attr = BY_TAG.get(c.tag)
        if attr is not None:
            cols = _column_for(attr, level)
            if cols is not None:
                conds.append(_column_match(attr, cols[0], cols[1], c, q))
                continue
            if attr.level in (SE, IN) and level in (P, ST, SE):
                col = _TABLES[attr.level].c[attr.column]
                below.setdefault(attr.level, []).append(_column_match(attr, col, col, c, q))
                continue
            if attr.level is P:
                continue  # patient counters do not apply below the patient level
        below.setdefault(IN, []).append(_json_match(dialect, c, q))
    # Attributes of lower levels (or not in columns): the entity has a matching descendant.
    inner = [cond for lv in (ST, SE, IN) for cond in below.get(lv, [])]
    if inner and level is IN:
        conds.extend(inner)
    elif inner and level is SE:
        sub = select(literal(1)).select_from(instances).where(
            instances.c.series_pk == series.c.id, *inner)
        conds.append(exists(sub).correlate(series))
    elif inner and level is ST:
        sub = select(literal(1)).select_from(instances).join(
            series, series.c.id == instances.c.series_pk).where(
            series.c.study_pk == studies.c.id, *inner)
        conds.append(exists(sub).correlate(studies))
    elif inner:
        sub = select(literal(1)).select_from(instances).join(
            series, series.c.id == instances.c.series_pk).join(
            studies, studies.c.id == series.c.study_pk).where(
            studies.c.patient_pk == patients.c.id, *inner)
        conds.append(exists(sub).correlate(patients))
    if scope is not None:
        if level is P:
            conds.append(exists(select(literal(1)).select_from(studies).where(
                studies.c.patient_pk == patients.c.id, scope.condition())).correlate(patients))
        else:
            conds.append(scope.condition())
    if conds:
        stmt = stmt.where(and_(*conds))
    stmt = stmt.order_by(*_ordering(q))
    if q.limit is not None:
        stmt = stmt.limit(q.limit)
    if q.offset:
        stmt = stmt.offset(q.offset)
    return stmt


def _ordering(q: Query) -> list[Any]:
    table = _TABLES[q.level]
    out: list[Any] = []
    for tag, desc in q.order_by:
        attr = BY_TAG.get(tag)
        cols = _column_for(attr, q.level) if attr else None
        if cols is None:
            raise InvalidRequest(f"Cannot sort by {keyword_for_tag(int(tag, 16)) or tag} "
                                 f"at {q.level.value} level")
        out.append(cols[0].desc() if desc else cols[0].asc())
    if not out:
        if q.level is ST:
            out = [studies.c.study_date.desc(), studies.c.study_time.desc()]
        elif q.level is SE:
            out = [series.c.series_number.asc()]
        elif q.level is IN:
            out = [instances.c.instance_number.asc()]
        else:
            out = [patients.c.patient_name_search.asc()]
    out.append(table.c.id.asc() if q.level is not ST else table.c.id.desc())
    return out


# --- results ----------------------------------------------------------------------------------

def pn_json(value: str) -> dict[str, str]:
    groups = value.split("=")
    out = {}
    for name, part in zip(("Alphabetic", "Ideographic", "Phonetic"), groups):
        if part:
            out[name] = part
    return out


def element_json(tag: str, vr: str, value: Any) -> dict[str, Any]:
    if value is None or value == "":
        return {"vr": vr}
    if vr == "PN":
        return {"vr": vr, "Value": [pn_json(str(value))]}
    if vr in ("IS", "US", "UL", "SS", "SL", "DS", "FL", "FD"):
        return {"vr": vr, "Value": [int(value) if vr != "DS" else value]}
    if isinstance(value, str) and "\\" in value:
        parts = [v for v in value.split("\\") if v]
        return {"vr": vr, "Value": parts} if parts else {"vr": vr}
    return {"vr": vr, "Value": [value]}


def row_to_json(row: Any, level: QueryLevel) -> dict[str, Any]:
    """Column values of one result row as DICOM JSON."""
    m = row._mapping
    doc: dict[str, Any] = {}
    for attr in COLUMN_ATTRS:
        if _LEVEL_ORDER.index(attr.level) > _LEVEL_ORDER.index(level):
            continue
        if attr.level is P and level is not P and attr.column not in _PATIENT_ON_STUDY:
            continue
        if attr.level in (ST,) and level in (SE, IN) and attr.column != "study_instance_uid":
            continue
        if attr.level is P and level in (SE, IN):
            continue
        if attr.level is SE and level is IN and attr.column not in ("series_instance_uid",
                                                                   "modality"):
            continue
        if attr.column not in m:
            continue
        doc[attr.tag] = element_json(attr.tag, attr.vr, m[attr.column])
    if level is ST:
        doc["00080005"] = {"vr": "CS", "Value": ["ISO_IR 192"]}
    if level in (ST, SE, IN):
        doc["00080056"] = {"vr": "CS", "Value": ["ONLINE"]}  # InstanceAvailability
    return doc


def wanted_tags(q: Query) -> list[str]:
    tags = [f"{tag_for_keyword(k):08X}" for k in DEFAULT_RETURN[q.level]]
    for c in q.constraints:
        if c.tag not in tags:
            tags.append(c.tag)
    for t in q.return_keys:
        if t not in tags:
            tags.append(t)
    return tags


def query_from_identifier(identifier: Dataset, root: str) -> Query:
    """A C-FIND request identifier as a Query (PS3.4 C.4.1.1.3).

    ``root`` is "PATIENT" or "STUDY" (the information model). Every key in the identifier is
    a matching key if it has a value and a return key in any case.
    """
    level_text = str(identifier.get("QueryRetrieveLevel", "") or "").strip().upper()
    if level_text == "IMAGE":  # the Q/R information models' name of the instance level
        level_text = "INSTANCE"
    try:
        level = QueryLevel(level_text)
    except ValueError:
        raise InvalidRequest(f"Invalid QueryRetrieveLevel {level_text!r}") from None
    if root == "STUDY" and level is P:
        raise InvalidRequest("The Study Root model has no PATIENT level")
    q = Query(level=level)
    for elem in identifier:
        if elem.tag in (0x00080052, 0x00080005, 0x00080054) or elem.tag.group == 0x0000:
            continue
        tag = f"{int(elem.tag):08X}"
        q.return_keys.append(tag)
        if elem.VR == "SQ":
            continue  # sequence keys are returned, items are not matched
        value = elem.value
        if value is None or value == "":
            continue
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            text = "\\".join(str(v) for v in value)
        else:
            text = str(value)
        q.constraints.append(Constraint(tag, elem.VR if elem.VR in TEXT_VRS else vr_of(tag),
                                        text))
    return q


def identifier_from_result(result: dict[str, Any], identifier: Dataset) -> Dataset:
    """A C-FIND response identifier: the requested keys with the matched values."""
    doc: dict[str, Any] = {}
    for elem in identifier:
        if elem.tag.group == 0x0000 or elem.tag == 0x00080005:
            continue
        tag = f"{int(elem.tag):08X}"
        if elem.tag == 0x00080052:
            doc[tag] = {"vr": "CS", "Value": [str(elem.value)]}
        elif tag in result:
            doc[tag] = result[tag]
        else:
            doc[tag] = {"vr": elem.VR}
    doc["00080005"] = {"vr": "CS", "Value": ["ISO_IR 192"]}
    ds = Dataset.from_json(doc)
    return ds


__all__ = ["Query", "QueryLevel", "Constraint", "build_select", "row_to_json",
           "query_from_identifier", "identifier_from_result", "resolve_tag", "wanted_tags"]
