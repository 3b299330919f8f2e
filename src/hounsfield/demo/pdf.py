"""A minimal, valid PDF 1.4 writer for the demo report documents (one page of text in
Helvetica), so an Encapsulated PDF can be produced without a PDF library."""

from __future__ import annotations


def _pdf_text(text: str) -> str:
    """Escape a line for a PDF literal string; characters outside Latin-1 become '?'
    (the standard Helvetica font uses WinAnsiEncoding)."""
    latin = text.encode("latin-1", "replace").decode("latin-1")
    return latin.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def minimal_pdf(title: str, lines: list[str]) -> bytes:
    """Return the bytes of a one-page A4 PDF showing ``title`` and ``lines``."""
    ops = ["BT", "/F1 16 Tf", "56 780 Td", f"({_pdf_text(title)}) Tj", "/F1 11 Tf",
           "0 -28 Td", "14 TL"]
    for line in lines[:48]:
        ops.append(f"({_pdf_text(line)}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream
        + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref_at = len(out)
    # Each cross-reference entry is exactly 20 bytes (PDF 1.4, 3.4.3).
    out += f"xref\n0 {len(objects) + 1}\n".encode() + b"0000000000 65535 f \n"
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n"
            f"startxref\n{xref_at}\n%%EOF\n").encode()
    return bytes(out)
