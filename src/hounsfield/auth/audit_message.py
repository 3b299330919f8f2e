"""DICOM audit messages (PS3.15 A.5): the RFC 3881-derived XML that audit repositories read.

Each builder returns the XML text of one ``AuditMessage`` with, in the schema's order,
EventIdentification, ActiveParticipant (one or more), AuditSourceIdentification and
ParticipantObjectIdentification (zero or more). Coded values carry the ``csd-code``,
``codeSystemName`` and ``originalText`` attributes of the schema's CodedValueType
(PS3.15 A.5.1). The event codes are those of PS3.15 A.5.3 (DCM, CID 400 - 403).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

__all__ = [
    "ActiveParticipant", "AuditSource", "Code", "ParticipantObject", "OUTCOME_SUCCESS",
    "OUTCOME_MINOR_FAILURE", "OUTCOME_SERIOUS_FAILURE", "OUTCOME_MAJOR_FAILURE",
    "application_activity", "audit_message", "begin_transferring_instances",
    "export", "import_instances", "instances_accessed", "instances_transferred",
    "patient_object", "query", "security_alert", "study_deleted", "study_object",
    "user_authentication",
]

# EventOutcomeIndicator (PS3.15 A.5.1, RFC 3881 5.1.4)
OUTCOME_SUCCESS = 0
OUTCOME_MINOR_FAILURE = 4
OUTCOME_SERIOUS_FAILURE = 8
OUTCOME_MAJOR_FAILURE = 12
_OUTCOMES = {OUTCOME_SUCCESS, OUTCOME_MINOR_FAILURE, OUTCOME_SERIOUS_FAILURE,
             OUTCOME_MAJOR_FAILURE}
_ACTIONS = {"C", "R", "U", "D", "E"}  # create, read, update, delete, execute


@dataclass(frozen=True)
class Code:
    """A coded value: code, coding scheme and meaning (CodedValueType)."""

    code: str
    scheme: str
    meaning: str

    def attributes(self) -> dict[str, str]:
        return {"csd-code": self.code, "codeSystemName": self.scheme,
                "originalText": self.meaning}


def _dcm(code: str, meaning: str) -> Code:
    return Code(code, "DCM", meaning)


# Audit Event ID (CID 400) and Event Type Codes (CID 401 - 403) used here.
APPLICATION_ACTIVITY = _dcm("110100", "Application Activity")
APPLICATION_START = _dcm("110120", "Application Start")
APPLICATION_STOP = _dcm("110121", "Application Stop")
BEGIN_TRANSFERRING = _dcm("110102", "Begin Transferring DICOM Instances")
INSTANCES_ACCESSED = _dcm("110103", "DICOM Instances Accessed")
INSTANCES_TRANSFERRED = _dcm("110104", "DICOM Instances Transferred")
STUDY_DELETED = _dcm("110105", "DICOM Study Deleted")
EXPORT = _dcm("110106", "Export")
IMPORT = _dcm("110107", "Import")
QUERY = _dcm("110112", "Query")
SECURITY_ALERT = _dcm("110113", "Security Alert")
USER_AUTHENTICATION = _dcm("110114", "User Authentication")
LOGIN = _dcm("110122", "Login")
LOGOUT = _dcm("110123", "Logout")
# Security Alert event types (CID 403)
NODE_AUTHENTICATION = _dcm("110126", "Node Authentication")
EMERGENCY_OVERRIDE_STARTED = _dcm("110127", "Emergency Override Started")
NETWORK_CONFIGURATION = _dcm("110128", "Network Configuration")
SECURITY_CONFIGURATION = _dcm("110129", "Security Configuration")
SOFTWARE_CONFIGURATION = _dcm("110131", "Software Configuration")
USE_OF_RESTRICTED_FUNCTION = _dcm("110132", "Use of a restricted function")
AUDIT_RECORDING_STOPPED = _dcm("110133", "Audit Recording Stopped")
AUDIT_RECORDING_STARTED = _dcm("110134", "Audit Recording Started")
OBJECT_SECURITY_ATTRIBUTES_CHANGED = _dcm("110135", "Object Security Attributes Changed")
SECURITY_ROLES_CHANGED = _dcm("110136", "Security Roles Changed")
USER_SECURITY_ATTRIBUTES_CHANGED = _dcm("110137", "User security Attributes Changed")
# Active participant roles (CID 402)
APPLICATION = _dcm("110150", "Application")
APPLICATION_LAUNCHER = _dcm("110151", "Application Launcher")
DESTINATION_ROLE = _dcm("110152", "Destination Role ID")
SOURCE_ROLE = _dcm("110153", "Source Role ID")
DESTINATION_MEDIA = _dcm("110154", "Destination Media")
SOURCE_MEDIA = _dcm("110155", "Source Media")
# Participant object ID types (RFC 3881 and CID 404)
PATIENT_NUMBER = Code("2", "RFC-3881", "Patient Number")
STUDY_INSTANCE_UID = _dcm("110180", "Study Instance UID")
SOP_CLASS_UID = _dcm("110181", "SOP Class UID")
NODE_ID = _dcm("110182", "Node ID")
USER_IDENTIFIER = Code("11", "RFC-3881", "User Identifier")
URI = Code("12", "RFC-3881", "URI")
# Audit source type (RFC 3881 5.4.3)
APPLICATION_SERVER_PROCESS = Code("4", "RFC-3881", "Application Server Process")


@dataclass(frozen=True)
class ActiveParticipant:
    """A user or process taking part (ActiveParticipant). ``network_access_point`` is an
    IP address (type code 2) or a host name (type code 1)."""

    user_id: str
    is_requestor: bool
    user_name: str | None = None
    alternative_user_id: str | None = None
    network_access_point: str | None = None
    roles: tuple[Code, ...] = ()
    media: Code | None = None


@dataclass(frozen=True)
class AuditSource:
    """The system that detected the event (AuditSourceIdentification)."""

    source_id: str
    enterprise_site_id: str | None = None
    type_code: Code = APPLICATION_SERVER_PROCESS


@dataclass(frozen=True)
class ParticipantObject:
    """A patient, study, query or other object the event concerns."""

    object_id: str
    type_code: int
    role: int | None
    id_type: Code
    name: str | None = None
    query: bytes | None = None
    details: tuple[tuple[str, bytes], ...] = ()
    descriptions: tuple[str, ...] = ()
    sop_classes: tuple[tuple[str, int], ...] = ()  # (SOP Class UID, number of instances)
    accessions: tuple[str, ...] = ()
    contains_studies: tuple[str, ...] = ()
    anonymized: bool | None = None
    encrypted: bool | None = None
    lifecycle: int | None = None


def patient_object(patient_id: str, patient_name: str | None = None) -> ParticipantObject:
    """The patient: type 1 (person), role 1 (patient), ID type 2 (patient number)."""
    return ParticipantObject(patient_id, 1, 1, PATIENT_NUMBER, name=patient_name)


def study_object(study_instance_uid: str,
                 sop_classes: Mapping[str, int] | Iterable[tuple[str, int]] = (),
                 *, accession_numbers: Iterable[str] = (), anonymized: bool | None = None,
                 description: str | None = None) -> ParticipantObject:
    """A study: type 2 (system object), role 3 (report), ID type 110180 (Study Instance
    UID), with the SOP classes and instance counts it concerns."""
    items = sop_classes.items() if isinstance(sop_classes, Mapping) else sop_classes
    return ParticipantObject(
        study_instance_uid, 2, 3, STUDY_INSTANCE_UID,
        descriptions=(description,) if description else (),
        sop_classes=tuple((str(uid), int(n)) for uid, n in items),
        accessions=tuple(a for a in accession_numbers if a), anonymized=anonymized)


def _event_datetime(when: dt.datetime | None) -> str:
    moment = when or dt.datetime.now(dt.timezone.utc)
    if moment.tzinfo is None:
        raise ValueError('Argument "when" must be timezone-aware.')
    return moment.isoformat(timespec="milliseconds")


def _network_type(address: str) -> str:
    try:
        ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return "1"  # machine name
    return "2"  # IP address


def _bool(value: bool) -> str:
    return "true" if value else "false"


def audit_message(event_id: Code, action: str, outcome: int,
                  participants: Sequence[ActiveParticipant], source: AuditSource,
                  objects: Sequence[ParticipantObject] = (), *,
                  event_types: Sequence[Code] = (), outcome_description: str | None = None,
                  when: dt.datetime | None = None) -> str:
    """The XML text of one AuditMessage (PS3.15 A.5.1)."""
    if action not in _ACTIONS:
        raise ValueError(f'Argument "action" must be one of {sorted(_ACTIONS)}, not {action!r}')
    if outcome not in _OUTCOMES:
        raise ValueError(f'Argument "outcome" must be one of {sorted(_OUTCOMES)}, '
                         f'not {outcome!r}')
    if not participants:
        raise ValueError('Argument "participants" must not be empty.')
    root = ET.Element("AuditMessage")
    event = ET.SubElement(root, "EventIdentification", {
        "EventActionCode": action, "EventDateTime": _event_datetime(when),
        "EventOutcomeIndicator": str(outcome)})
    ET.SubElement(event, "EventID", event_id.attributes())
    for event_type in event_types:
        ET.SubElement(event, "EventTypeCode", event_type.attributes())
    if outcome_description:
        ET.SubElement(event, "EventOutcomeDescription").text = outcome_description
    for participant in participants:
        attributes = {"UserID": participant.user_id}
        if participant.alternative_user_id:
            attributes["AlternativeUserID"] = participant.alternative_user_id
        if participant.user_name:
            attributes["UserName"] = participant.user_name
        attributes["UserIsRequestor"] = _bool(participant.is_requestor)
        if participant.network_access_point:
            attributes["NetworkAccessPointID"] = participant.network_access_point
            attributes["NetworkAccessPointTypeCode"] = _network_type(
                participant.network_access_point)
        element = ET.SubElement(root, "ActiveParticipant", attributes)
        for role in participant.roles:
            ET.SubElement(element, "RoleIDCode", role.attributes())
        if participant.media is not None:
            media = ET.SubElement(element, "MediaIdentifier")
            ET.SubElement(media, "MediaType", participant.media.attributes())
    source_attributes = {"AuditSourceID": source.source_id}
    if source.enterprise_site_id:
        source_attributes["AuditEnterpriseSiteID"] = source.enterprise_site_id
    source_element = ET.SubElement(root, "AuditSourceIdentification", source_attributes)
    ET.SubElement(source_element, "AuditSourceTypeCode", source.type_code.attributes())
    for obj in objects:
        _participant_object(root, obj)
    return ET.tostring(root, encoding="unicode", xml_declaration=False)


def _participant_object(root: ET.Element, obj: ParticipantObject) -> None:
    attributes = {"ParticipantObjectID": obj.object_id,
                  "ParticipantObjectTypeCode": str(obj.type_code)}
    if obj.role is not None:
        attributes["ParticipantObjectTypeCodeRole"] = str(obj.role)
    if obj.lifecycle is not None:
        attributes["ParticipantObjectDataLifeCycle"] = str(obj.lifecycle)
    element = ET.SubElement(root, "ParticipantObjectIdentification", attributes)
    ET.SubElement(element, "ParticipantObjectIDTypeCode", obj.id_type.attributes())
    if obj.name is not None:
        ET.SubElement(element, "ParticipantObjectName").text = obj.name
    elif obj.query is not None:
        ET.SubElement(element, "ParticipantObjectQuery").text = \
            base64.b64encode(obj.query).decode("ascii")
    for kind, value in obj.details:
        ET.SubElement(element, "ParticipantObjectDetail",
                      {"type": kind, "value": base64.b64encode(value).decode("ascii")})
    for description in obj.descriptions:
        ET.SubElement(element, "ParticipantObjectDescription").text = description
    for uid, count in obj.sop_classes:
        ET.SubElement(element, "SOPClass", {"UID": uid, "NumberOfInstances": str(count)})
    for accession in obj.accessions:
        ET.SubElement(element, "Accession", {"Number": accession})
    if obj.contains_studies:
        contains = ET.SubElement(element, "ParticipantObjectContainsStudy")
        for study in obj.contains_studies:
            ET.SubElement(contains, "StudyIDs", {"UID": study})
    if obj.encrypted is not None:
        ET.SubElement(element, "Encrypted").text = _bool(obj.encrypted)
    if obj.anonymized is not None:
        ET.SubElement(element, "Anonymized").text = _bool(obj.anonymized)


def _objects(patient: ParticipantObject | None,
             studies: Iterable[ParticipantObject]) -> list[ParticipantObject]:
    objects = list(studies)
    if patient is not None:
        objects.append(patient)
    return objects


# --- builders, one per event of PS3.15 A.5.3 ------------------------------------------

def application_activity(source: AuditSource, application: ActiveParticipant, *,
                         started: bool, launcher: ActiveParticipant | None = None,
                         outcome: int = OUTCOME_SUCCESS, when: dt.datetime | None = None
                         ) -> str:
    """Application Activity (A.5.3.1): the application started or stopped."""
    participants = [ActiveParticipant(**{**application.__dict__, "roles": (APPLICATION,)})]
    if launcher is not None:
        participants.append(ActiveParticipant(
            **{**launcher.__dict__, "roles": (APPLICATION_LAUNCHER,)}))
    return audit_message(APPLICATION_ACTIVITY, "E", outcome, participants, source,
                         event_types=(APPLICATION_START if started else APPLICATION_STOP,),
                         when=when)


def user_authentication(source: AuditSource, user: ActiveParticipant, *, login: bool,
                        outcome: int = OUTCOME_SUCCESS, node: ActiveParticipant | None = None,
                        outcome_description: str | None = None,
                        when: dt.datetime | None = None) -> str:
    """User Authentication (A.5.3.11): a login (or failed login) or a logout."""
    participants = [user] + ([node] if node is not None else [])
    return audit_message(USER_AUTHENTICATION, "E", outcome, participants, source,
                         event_types=(LOGIN if login else LOGOUT,),
                         outcome_description=outcome_description, when=when)


def query(source: AuditSource, requestor: ActiveParticipant, responder: ActiveParticipant,
          *, sop_class_uid: str, query_bytes: bytes, transfer_syntax_uid: str | None = None,
          patient: ParticipantObject | None = None, outcome: int = OUTCOME_SUCCESS,
          when: dt.datetime | None = None) -> str:
    """Query (A.5.3.9): ``query_bytes`` is the encoded identifier (C-FIND) or the query
    string (QIDO-RS); the object is the SOP class queried, role 24 (query)."""
    details = (("TransferSyntax", transfer_syntax_uid.encode("ascii")),) \
        if transfer_syntax_uid else ()
    obj = ParticipantObject(sop_class_uid, 2, 24, SOP_CLASS_UID, query=query_bytes,
                            details=details)
    return audit_message(
        QUERY, "E", outcome,
        [_with_role(requestor, SOURCE_ROLE), _with_role(responder, DESTINATION_ROLE)],
        source, _objects(patient, [obj]), when=when)


def instances_accessed(source: AuditSource, user: ActiveParticipant, *, action: str,
                       patient: ParticipantObject, studies: Iterable[ParticipantObject],
                       outcome: int = OUTCOME_SUCCESS, when: dt.datetime | None = None
                       ) -> str:
    """DICOM Instances Accessed (A.5.3.3): viewed (R), created (C), changed (U) or
    deleted (D) without a transfer."""
    return audit_message(INSTANCES_ACCESSED, action, outcome, [user], source,
                         _objects(patient, studies), when=when)


def begin_transferring_instances(source: AuditSource, sender: ActiveParticipant,
                                 receiver: ActiveParticipant, *,
                                 patient: ParticipantObject,
                                 studies: Iterable[ParticipantObject],
                                 requestor: ActiveParticipant | None = None,
                                 outcome: int = OUTCOME_SUCCESS,
                                 when: dt.datetime | None = None) -> str:
    """Begin Transferring DICOM Instances (A.5.3.2)."""
    participants = [_with_role(sender, SOURCE_ROLE), _with_role(receiver, DESTINATION_ROLE)]
    if requestor is not None:
        participants.append(requestor)
    return audit_message(BEGIN_TRANSFERRING, "E", outcome, participants, source,
                         _objects(patient, studies), when=when)


def instances_transferred(source: AuditSource, sender: ActiveParticipant,
                          receiver: ActiveParticipant, *, action: str,
                          patient: ParticipantObject, studies: Iterable[ParticipantObject],
                          requestor: ActiveParticipant | None = None,
                          outcome: int = OUTCOME_SUCCESS, when: dt.datetime | None = None
                          ) -> str:
    """DICOM Instances Transferred (A.5.3.4): C for a first store, U for a store of
    instances already held, R for a retrieve."""
    if action not in ("C", "R", "U"):
        raise ValueError('Argument "action" must be C, R or U for Instances Transferred.')
    participants = [_with_role(sender, SOURCE_ROLE), _with_role(receiver, DESTINATION_ROLE)]
    if requestor is not None:
        participants.append(requestor)
    return audit_message(INSTANCES_TRANSFERRED, action, outcome, participants, source,
                         _objects(patient, studies), when=when)


def study_deleted(source: AuditSource, user: ActiveParticipant, *,
                  patient: ParticipantObject, studies: Iterable[ParticipantObject],
                  outcome: int = OUTCOME_SUCCESS, when: dt.datetime | None = None) -> str:
    """DICOM Study Deleted (A.5.3.5). Deleting some instances of a study is reported
    with ``instances_accessed(action="D")``."""
    return audit_message(STUDY_DELETED, "D", outcome, [user], source,
                         _objects(patient, studies), when=when)


def export(source: AuditSource, user: ActiveParticipant, destination: ActiveParticipant, *,
           patient: ParticipantObject, studies: Iterable[ParticipantObject],
           outcome: int = OUTCOME_SUCCESS, when: dt.datetime | None = None) -> str:
    """Export (A.5.3.6): data leaves the system's control (zip download, share link,
    media). ``destination`` is the media or the remote party."""
    return audit_message(
        EXPORT, "R", outcome,
        [_with_role(user, SOURCE_ROLE), _with_role(destination, DESTINATION_MEDIA)],
        source, _objects(patient, studies), when=when)


def import_instances(source: AuditSource, user: ActiveParticipant, origin: ActiveParticipant,
                     *, patient: ParticipantObject, studies: Iterable[ParticipantObject],
                     outcome: int = OUTCOME_SUCCESS, when: dt.datetime | None = None) -> str:
    """Import (A.5.3.7): data enters from outside (upload, ``hounsfield import``)."""
    return audit_message(
        IMPORT, "C", outcome,
        [_with_role(user, DESTINATION_ROLE), _with_role(origin, SOURCE_MEDIA)],
        source, _objects(patient, studies), when=when)


def security_alert(source: AuditSource, reporter: ActiveParticipant, *, alert: Code,
                   objects: Iterable[ParticipantObject] = (), outcome: int = OUTCOME_SUCCESS,
                   description: str | None = None, when: dt.datetime | None = None) -> str:
    """Security Alert (A.5.3.10): e.g. node authentication failure, a changed setting,
    use of a restricted function, a forged token. ``objects`` name what was affected
    (a user: type 1 role 11, a URI: type 2 role 13)."""
    return audit_message(SECURITY_ALERT, "E", outcome, [reporter], source, list(objects),
                         event_types=(alert,), outcome_description=description, when=when)


def _with_role(participant: ActiveParticipant, role: Code) -> ActiveParticipant:
    if role in participant.roles:
        return participant
    return ActiveParticipant(**{**participant.__dict__, "roles": participant.roles + (role,)})
