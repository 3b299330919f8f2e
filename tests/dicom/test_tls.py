"""DICOM over TLS (PS3.15 B.9, BCP 195) with throwaway certificates, against our SCU,
pynetdicom and DCMTK echoscu."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from hounsfield.dicom import Association, DicomServer, verification_context
from hounsfield.dicom.tls import client_ssl_context, server_ssl_context

from dicom_peers import DCMTK, dicom_settings, run_tool


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(folder: Path, name: str, ca: tuple | None) -> tuple:  # type: ignore[type-arg]
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    issuer_key, issuer_name = (key, _name(name)) if ca is None else (ca[0], ca[1].subject)
    builder = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1)))
    if ca is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    (folder / f"{name}.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    folder = tmp_path / "pki"
    folder.mkdir()
    ca = _issue(folder, "ca", None)
    _issue(folder, "server", ca)
    _issue(folder, "client", ca)
    return folder


@pytest.fixture
async def tls_server(tmp_path, archive, pki):  # type: ignore[no-untyped-def]
    settings = dicom_settings(
        tmp_path, dicom__tls_enabled=True, dicom__tls_port=0,
        dicom__tls_certificate=str(pki / "server.pem"),
        dicom__tls_private_key=str(pki / "server.key"),
        dicom__tls_ca_certificates=str(pki / "ca.pem"), dicom__tls_verify_client=True)
    srv = DicomServer(settings, archive)
    await srv.start()
    yield srv
    await srv.stop()


async def test_our_scu_over_tls_with_client_certificate(tls_server: DicomServer, pki) -> None:  # type: ignore[no-untyped-def]
    context = client_ssl_context(str(pki / "ca.pem"), str(pki / "client.pem"),
                                 str(pki / "client.key"))
    async with Association.connect("127.0.0.1", tls_server.tls_port, "HOUNSFIELD", "TLSSCU",
                                   [verification_context()], ssl=context) as assoc:
        assert await assoc.echo() == 0
        assert assoc.dul is not None
        assert assoc.dul.writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")


async def test_tls_server_refuses_clients_without_certificate(tls_server: DicomServer,
                                                               pki) -> None:  # type: ignore[no-untyped-def]
    context = client_ssl_context(str(pki / "ca.pem"))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        async with Association.connect("127.0.0.1", tls_server.tls_port, "HOUNSFIELD", "ANON",
                                       [verification_context()], ssl=context,
                                       timeout=5) as assoc:
            await assoc.echo()
    # the plain port keeps serving
    async with Association.connect("127.0.0.1", tls_server.port, "HOUNSFIELD", "PLAIN",
                                   [verification_context()]) as assoc:
        assert await assoc.echo() == 0


def test_server_context_follows_bcp195(tls_server: DicomServer) -> None:
    context = server_ssl_context(tls_server.settings)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_REQUIRED
    ciphers = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert ciphers and all("GCM" in c or "CHACHA20" in c for c in ciphers)
    assert all(c.startswith(("ECDHE", "DHE")) for c in ciphers)


def _pynetdicom_tls_echo(port: int, pki: Path) -> int:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki / "ca.pem"))
    context.load_cert_chain(str(pki / "client.pem"), str(pki / "client.key"))
    context.check_hostname = False
    ae = AE(ae_title="PYTLS")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="HOUNSFIELD", tls_args=(context, None))
    assert assoc.is_established
    status = assoc.send_c_echo().Status
    assoc.release()
    return status  # type: ignore[no-any-return]


async def test_pynetdicom_echo_over_tls(tls_server: DicomServer, pki) -> None:  # type: ignore[no-untyped-def]
    assert await asyncio.to_thread(_pynetdicom_tls_echo, tls_server.tls_port, pki) == 0


@pytest.mark.skipif(not DCMTK, reason="DCMTK tools (storescu) not on PATH")
async def test_dcmtk_echoscu_over_tls(tls_server: DicomServer, pki) -> None:  # type: ignore[no-untyped-def]
    code, help_text = await run_tool("echoscu", "--help")
    if "+tls" not in help_text:
        pytest.skip("this DCMTK is built without OpenSSL")
    code, out = await run_tool("echoscu", "-aec", "HOUNSFIELD", "+tls", str(pki / "client.key"),
                               str(pki / "client.pem"), "+cf", str(pki / "ca.pem"),
                               "127.0.0.1", str(tls_server.tls_port))
    assert code == 0, out
