"""DICOM audit messages parsed back and checked against the PS3.15 A.5.1 schema."""

from __future__ import annotations

import base64
import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest

from hounsfield.auth import audit_message as am

WHEN = dt.datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=dt.timezone.utc)
SOURCE = am.AuditSource("HOUNSFIELD@pacs1", "General Hospital")
USER = am.ActiveParticipant("alice", True, user_name="Alice Example",
                            network_access_point="192.0.2.10")
SERVER = am.ActiveParticipant("HOUNSFIELD", False, alternative_user_id="1234",
                              network_access_point="pacs1.example.org")
PEER = am.ActiveParticipant("MODALITY1", False, network_access_point="192.0.2.20")
PATIENT = am.patient_object("PID-1", "Doe^Jane")
STUDY = am.study_object("1.2.3.4", {"1.2.840.10008.5.1.4.1.1.2": 120},
                        accession_numbers=["ACC-9"])

# The A.5.1 schema, element by element: its attributes (required ones marked "!"), and
# the order and multiplicity of its children as a regular expression over their names.
CODED = {"attributes": {"csd-code!", "codeSystemName!", "originalText!", "displayName"},
         "children": r""}
SCHEMA = {
    "AuditMessage": {"attributes": set(), "children":
                     r"EventIdentification,(ActiveParticipant,)+AuditSourceIdentification,"
                     r"(ParticipantObjectIdentification,)*"},
    "EventIdentification": {
        "attributes": {"EventActionCode", "EventDateTime!", "EventOutcomeIndicator!"},
        "children": r"EventID,(EventTypeCode,)*(EventOutcomeDescription,)?(PurposeOfUse,)*"},
    "EventID": CODED, "EventTypeCode": CODED, "RoleIDCode": CODED,
    "AuditSourceTypeCode": CODED, "ParticipantObjectIDTypeCode": CODED, "MediaType": CODED,
    "EventOutcomeDescription": {"attributes": set(), "children": r""},
    "ActiveParticipant": {
        "attributes": {"UserID!", "AlternativeUserID", "UserName", "UserIsRequestor!",
                       "NetworkAccessPointID", "NetworkAccessPointTypeCode"},
        "children": r"(RoleIDCode,)*(MediaIdentifier,)?"},
    "MediaIdentifier": {"attributes": set(), "children": r"MediaType,"},
    "AuditSourceIdentification": {"attributes": {"AuditEnterpriseSiteID", "AuditSourceID!"},
                                  "children": r"(AuditSourceTypeCode,)*"},
    "ParticipantObjectIdentification": {
        "attributes": {"ParticipantObjectID!", "ParticipantObjectTypeCode",
                       "ParticipantObjectTypeCodeRole", "ParticipantObjectDataLifeCycle",
                       "ParticipantObjectSensitivity"},
        "children": r"ParticipantObjectIDTypeCode,(ParticipantObjectName,|"
                    r"ParticipantObjectQuery,)?(ParticipantObjectDetail,)*"
                    r"(ParticipantObjectDescription,)*(SOPClass,)*(Accession,)*(MPPS,)*"
                    r"(ParticipantObjectContainsStudy,)?(Encrypted,)?(Anonymized,)?"},
    "ParticipantObjectName": {"attributes": set(), "children": r""},
    "ParticipantObjectQuery": {"attributes": set(), "children": r""},
    "ParticipantObjectDescription": {"attributes": set(), "children": r""},
    "ParticipantObjectDetail": {"attributes": {"type!", "value!"}, "children": r""},
    "SOPClass": {"attributes": {"UID!", "NumberOfInstances"}, "children": r"(Instance,)*"},
    "Accession": {"attributes": {"Number!"}, "children": r""},
    "ParticipantObjectContainsStudy": {"attributes": set(), "children": r"(StudyIDs,)+"},
    "StudyIDs": {"attributes": {"UID!"}, "children": r""},
    "Encrypted": {"attributes": set(), "children": r""},
    "Anonymized": {"attributes": set(), "children": r""},
}


def validate(element: ET.Element) -> None:
    rule = SCHEMA.get(element.tag)
    assert rule is not None, f"element {element.tag} is not in the schema"
    allowed = {a.rstrip("!") for a in rule["attributes"]}
    required = {a.rstrip("!") for a in rule["attributes"] if a.endswith("!")}
    assert set(element.attrib) <= allowed, (element.tag, set(element.attrib) - allowed)
    assert required <= set(element.attrib), (element.tag, required - set(element.attrib))
    names = "".join(child.tag + "," for child in element)
    assert re.fullmatch(rule["children"], names), (element.tag, names)
    for child in element:
        validate(child)
    if element.tag == "EventIdentification":
        assert element.get("EventActionCode", "E") in "CRUDE"
        assert element.get("EventOutcomeIndicator") in ("0", "4", "8", "12")
        dt.datetime.fromisoformat(element.get("EventDateTime"))
    if element.tag in ("Encrypted", "Anonymized"):
        assert element.text in ("true", "false")
    if "UserIsRequestor" in element.attrib:
        assert element.get("UserIsRequestor") in ("true", "false")


def parse(xml: str) -> ET.Element:
    root = ET.fromstring(xml)
    validate(root)
    return root


def event_id(root: ET.Element) -> tuple[str, str]:
    event = root.find("EventIdentification")
    return event.find("EventID").get("csd-code"), event.get("EventActionCode")


def objects(root: ET.Element) -> dict[str, ET.Element]:
    return {o.find("ParticipantObjectIDTypeCode").get("csd-code"): o
            for o in root.findall("ParticipantObjectIdentification")}


def check_patient_and_study(root: ET.Element) -> None:
    found = objects(root)
    patient, study = found["2"], found["110180"]
    assert (patient.get("ParticipantObjectTypeCode"),
            patient.get("ParticipantObjectTypeCodeRole")) == ("1", "1")
    assert patient.get("ParticipantObjectID") == "PID-1"
    assert patient.find("ParticipantObjectName").text == "Doe^Jane"
    assert patient.find("ParticipantObjectIDTypeCode").get("codeSystemName") == "RFC-3881"
    assert (study.get("ParticipantObjectTypeCode"),
            study.get("ParticipantObjectTypeCodeRole")) == ("2", "3")
    assert study.get("ParticipantObjectID") == "1.2.3.4"
    sop_class = study.find("SOPClass")
    assert sop_class.get("UID") == "1.2.840.10008.5.1.4.1.1.2"
    assert sop_class.get("NumberOfInstances") == "120"
    assert study.find("Accession").get("Number") == "ACC-9"


def roles(root: ET.Element) -> dict[str, set[str]]:
    return {p.get("UserID"): {r.get("csd-code") for r in p.findall("RoleIDCode")}
            for p in root.findall("ActiveParticipant")}


def test_user_authentication_login_and_logout():
    root = parse(am.user_authentication(SOURCE, USER, login=True, node=SERVER, when=WHEN))
    assert event_id(root) == ("110114", "E")
    event = root.find("EventIdentification")
    assert event.find("EventTypeCode").get("csd-code") == "110122"
    assert event.get("EventDateTime") == "2026-03-04T05:06:07.890+00:00"
    user = root.find("ActiveParticipant")
    assert user.get("UserID") == "alice" and user.get("UserIsRequestor") == "true"
    assert user.get("NetworkAccessPointTypeCode") == "2"  # IP address
    assert root.findall("ActiveParticipant")[1].get("NetworkAccessPointTypeCode") == "1"
    source = root.find("AuditSourceIdentification")
    assert source.get("AuditSourceID") == "HOUNSFIELD@pacs1"
    assert source.get("AuditEnterpriseSiteID") == "General Hospital"
    failed = parse(am.user_authentication(SOURCE, USER, login=True,
                                          outcome=am.OUTCOME_MINOR_FAILURE,
                                          outcome_description="bad password"))
    assert failed.find("EventIdentification").get("EventOutcomeIndicator") == "4"
    assert failed.find("EventIdentification/EventOutcomeDescription").text == "bad password"
    logout = parse(am.user_authentication(SOURCE, USER, login=False))
    assert logout.find("EventIdentification/EventTypeCode").get("csd-code") == "110123"


def test_application_activity():
    root = parse(am.application_activity(SOURCE, SERVER, started=True, launcher=USER))
    assert event_id(root) == ("110100", "E")
    assert root.find("EventIdentification/EventTypeCode").get("csd-code") == "110120"
    assert roles(root) == {"HOUNSFIELD": {"110150"}, "alice": {"110151"}}
    stop = parse(am.application_activity(SOURCE, SERVER, started=False))
    assert stop.find("EventIdentification/EventTypeCode").get("csd-code") == "110121"


def test_query_carries_the_query_itself():
    identifier = b"\x08\x00\x52\x00\x06\x00\x00\x00STUDY "
    root = parse(am.query(SOURCE, USER, SERVER, sop_class_uid="1.2.840.10008.5.1.4.1.2.2.1",
                          query_bytes=identifier, transfer_syntax_uid="1.2.840.10008.1.2.1"))
    assert event_id(root) == ("110112", "E")
    obj = objects(root)["110181"]
    assert obj.get("ParticipantObjectTypeCodeRole") == "24"
    assert base64.b64decode(obj.find("ParticipantObjectQuery").text) == identifier
    detail = obj.find("ParticipantObjectDetail")
    assert detail.get("type") == "TransferSyntax"
    assert base64.b64decode(detail.get("value")) == b"1.2.840.10008.1.2.1"
    assert roles(root) == {"alice": {"110153"}, "HOUNSFIELD": {"110152"}}


@pytest.mark.parametrize("action", ["R", "C", "U", "D"])
def test_instances_accessed(action):
    root = parse(am.instances_accessed(SOURCE, USER, action=action, patient=PATIENT,
                                       studies=[STUDY]))
    assert event_id(root) == ("110103", action)
    check_patient_and_study(root)


def test_transfers_begin_and_end():
    begin = parse(am.begin_transferring_instances(SOURCE, SERVER, PEER, patient=PATIENT,
                                                  studies=[STUDY], requestor=USER))
    assert event_id(begin) == ("110102", "E")
    assert roles(begin) == {"HOUNSFIELD": {"110153"}, "MODALITY1": {"110152"},
                            "alice": set()}
    check_patient_and_study(begin)
    done = parse(am.instances_transferred(SOURCE, PEER, SERVER, action="C", patient=PATIENT,
                                          studies=[STUDY]))
    assert event_id(done) == ("110104", "C")
    check_patient_and_study(done)
    with pytest.raises(ValueError):
        am.instances_transferred(SOURCE, PEER, SERVER, action="D", patient=PATIENT,
                                 studies=[STUDY])


def test_study_deleted():
    root = parse(am.study_deleted(SOURCE, USER, patient=PATIENT, studies=[STUDY]))
    assert event_id(root) == ("110105", "D")
    check_patient_and_study(root)


def test_export_and_import():
    media = am.ActiveParticipant("share-link-42", False, network_access_point="198.51.100.7")
    anonymized = am.study_object("1.2.3.4", [("1.2.840.10008.5.1.4.1.1.2", 120)],
                                 accession_numbers=["ACC-9"], anonymized=True)
    root = parse(am.export(SOURCE, USER, media, patient=PATIENT, studies=[anonymized]))
    assert event_id(root) == ("110106", "R")
    assert roles(root) == {"alice": {"110153"}, "share-link-42": {"110154"}}
    check_patient_and_study(root)
    assert objects(root)["110180"].find("Anonymized").text == "true"
    imported = parse(am.import_instances(SOURCE, USER, am.ActiveParticipant("upload", False),
                                         patient=PATIENT, studies=[STUDY]))
    assert event_id(imported) == ("110107", "C")
    assert roles(imported) == {"alice": {"110152"}, "upload": {"110155"}}


def test_security_alert():
    target = am.ParticipantObject("/api/settings", 2, 13, am.URI)
    root = parse(am.security_alert(SOURCE, USER, alert=am.SECURITY_CONFIGURATION,
                                   objects=[target], outcome=am.OUTCOME_SUCCESS,
                                   description="dicom.allow_store changed"))
    assert event_id(root) == ("110113", "E")
    assert root.find("EventIdentification/EventTypeCode").get("csd-code") == "110129"
    assert objects(root)["12"].get("ParticipantObjectID") == "/api/settings"


def test_markup_in_values_is_escaped():
    evil = am.patient_object("PID-1", '<script>alert("x")</script>&')
    root = parse(am.instances_accessed(SOURCE, USER, action="R", patient=evil, studies=[]))
    assert objects(root)["2"].find("ParticipantObjectName").text == \
        '<script>alert("x")</script>&'


def test_bad_arguments():
    with pytest.raises(ValueError):
        am.audit_message(am.QUERY, "X", 0, [USER], SOURCE)
    with pytest.raises(ValueError):
        am.audit_message(am.QUERY, "E", 3, [USER], SOURCE)
    with pytest.raises(ValueError):
        am.audit_message(am.QUERY, "E", 0, [], SOURCE)
    with pytest.raises(ValueError):
        am.audit_message(am.QUERY, "E", 0, [USER], SOURCE, when=dt.datetime(2026, 1, 1))
