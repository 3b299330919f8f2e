"""The Native DICOM Model (PS3.19 A.1) as XML, from the DICOM JSON model (PS3.18 F.2).

QIDO-RS results and WADO-RS metadata are offered as
``multipart/related; type="application/dicom+xml"`` too (PS3.18 8.7.3.2): one
NativeDicomModel document per part, made from the same JSON the JSON answers use.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

from pydicom.datadict import keyword_for_tag

XML_MEDIA_TYPE = "application/dicom+xml"
# PS3.19 A.1.5: the components of a person name group, in PS3.5 6.2 order.
_NAME_PARTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")


def native_dicom_model(doc: dict[str, Any]) -> bytes:
    """One data set in DICOM JSON as a NativeDicomModel XML document."""
    root = ET.Element("NativeDicomModel", xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM")
    _attributes(root, doc)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _attributes(parent: ET.Element, doc: dict[str, Any]) -> None:
    for tag in sorted(doc):
        element = doc[tag]
        vr = element.get("vr", "UN")
        attrs = {"tag": tag, "vr": vr}
        try:
            keyword = keyword_for_tag(int(tag, 16))
        except ValueError:
            keyword = ""
        if keyword:
            attrs["keyword"] = keyword
        node = ET.SubElement(parent, "DicomAttribute", attrs)
        if "BulkDataURI" in element:
            ET.SubElement(node, "BulkData", uri=str(element["BulkDataURI"]))
        elif "InlineBinary" in element:
            ET.SubElement(node, "InlineBinary").text = str(element["InlineBinary"])
        for number, value in enumerate(element.get("Value", []), start=1):
            if vr == "SQ":
                item = ET.SubElement(node, "Item", number=str(number))
                _attributes(item, value or {})
            elif vr == "PN":
                _person_name(node, number, value or {})
            else:
                child = ET.SubElement(node, "Value", number=str(number))
                if value is not None:
                    child.text = str(value)


def _person_name(node: ET.Element, number: int, value: dict[str, str]) -> None:
    name = ET.SubElement(node, "PersonName", number=str(number))
    for group in ("Alphabetic", "Ideographic", "Phonetic"):
        text = value.get(group)
        if not text:
            continue
        group_node = ET.SubElement(name, group)
        for part, component in zip(_NAME_PARTS, text.split("^")):
            if component:
                ET.SubElement(group_node, part).text = component


def wants_xml(ranges: list[Any], what: str) -> bool:
    """Whether the best acceptable representation is the XML one; NotAcceptable when the
    request accepts neither JSON nor XML."""
    from hounsfield.errors import NotAcceptable

    for media in ranges:
        if media.matches("application/dicom+json") or media.matches("application/json"):
            return False
        if media.type == "multipart/related" and media.part_type == XML_MEDIA_TYPE:
            return True
    raise NotAcceptable(f"{what} is offered as application/dicom+json or multipart/related; "
                        f'type="{XML_MEDIA_TYPE}"; the request accepts neither')


def xml_multipart(docs: list[dict[str, Any]], boundary: str) -> bytes:
    """Each data set as one NativeDicomModel part of a multipart/related body."""
    from hounsfield.dicomweb import multipart

    pieces = []
    for index, doc in enumerate(docs):
        body = native_dicom_model(doc)
        pieces.append(multipart.part_head(boundary, XML_MEDIA_TYPE, length=len(body),
                                          first=index == 0))
        pieces.append(body)
    pieces.append(multipart.closing(boundary))
    return b"".join(pieces)
