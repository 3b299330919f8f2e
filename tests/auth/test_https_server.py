"""The server as users start it: `hounsfield serve` with HTTPS on an empty archive prints
the first administrator's password once; logging in over real TLS gives a Secure cookie;
responses carry HSTS; a DICOMweb client authenticates with HTTP Basic."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import socket
import ssl
import subprocess
import sys
import time

import httpx
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _certificate(tmp_path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                key.public_key()), critical=False)
            .add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


@pytest.fixture
def https_server(tmp_path):
    cert, key = _certificate(tmp_path)
    port = _free_port()
    env = dict(os.environ, HOUNSFIELD_DICOM_ENABLED="false", HOUNSFIELD_HTTP_HOST="127.0.0.1",
               HOUNSFIELD_HTTP_TLS_CERTIFICATE=cert, HOUNSFIELD_HTTP_TLS_PRIVATE_KEY=key)
    env.pop("HOUNSFIELD_AUTH_ENABLED", None)
    out = open(tmp_path / "out.txt", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "hounsfield.cli", "--data-dir",
                             str(tmp_path / "data"), "serve", "--http-port", str(port)],
                            env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/api/health", verify=ssl.create_default_context(cafile=cert),
                          timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("server did not start: " + (tmp_path / "out.txt").read_text())
                time.sleep(0.2)
        yield url, cert, (tmp_path / "out.txt")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        finally:
            out.close()


def test_first_serve_creates_admin_and_tls_session_is_secure(https_server):
    url, cert, output = https_server
    text = output.read_text()
    match = re.search(r"user name: admin\s+password:\s+(\S+)", text)
    assert match, text
    password = match.group(1)
    with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=cert)) as client:
        health = client.get("/api/health")
        assert health.headers["strict-transport-security"].startswith("max-age=")
        assert client.get("/dicom-web/studies").status_code == 401
        r = client.post("/api/auth/login", json={"username": "admin", "password": password})
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert client.get("/api/auth/me").json()["user"]["roles"] == ["admin"]
        csrf = r.json()["csrf_token"]
        token = client.post("/api/auth/tokens", json={"name": "dicomweb-client"},
                            headers={"X-CSRF-Token": csrf}).json()["token"]

    from dicomweb_client.api import DICOMwebClient

    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace our CA
    session.verify = cert
    session.auth = ("admin", token)  # HTTP Basic with user name and API token
    dicomweb = DICOMwebClient(url + "/dicom-web", session=session)
    assert dicomweb.search_for_studies() == []
    session.auth = ("admin", "wrong-password-123")
    refused = session.get(url + "/dicom-web/studies")
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    session.close()
    # The password is printed on the first start only.
    assert text.count("password:") == 1
