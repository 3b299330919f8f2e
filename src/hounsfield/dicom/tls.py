"""TLS contexts for DICOM (PS3.15 B.9 BCP 195 profile: TLS 1.2 or later, strong AEAD
ciphers, no compression, no renegotiation)."""

from __future__ import annotations

import ssl

from hounsfield.config import Settings

# RFC 9325 (BCP 195) recommended cipher suites for TLS 1.2; TLS 1.3 suites are always on.
BCP195_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                  "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384")


def _harden(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(BCP195_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    return context


def server_ssl_context(settings: Settings) -> ssl.SSLContext:
    """The server side, from ``dicom.tls_*`` settings."""
    certificate = settings["dicom.tls_certificate"]
    key = settings["dicom.tls_private_key"]
    if not certificate or not key:
        raise ValueError("DICOM TLS needs settings 'dicom.tls_certificate' and "
                         "'dicom.tls_private_key'")
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    context.load_cert_chain(certificate, key)
    if settings["dicom.tls_verify_client"]:
        ca = settings["dicom.tls_ca_certificates"]
        if not ca:
            raise ValueError("Setting 'dicom.tls_verify_client' needs "
                             "'dicom.tls_ca_certificates'")
        context.load_verify_locations(ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_ssl_context(ca_certificates: str | None = None, certificate: str | None = None,
                       private_key: str | None = None, *,
                       check_hostname: bool = False) -> ssl.SSLContext:
    """The client side: verifies the server against ``ca_certificates`` (or the system
    store) and presents ``certificate`` when given. DICOM nodes are often addressed by IP,
    so the host name is not checked unless asked."""
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    if ca_certificates:
        context.load_verify_locations(ca_certificates)
    else:
        context.load_default_certs()
    if certificate:
        context.load_cert_chain(certificate, private_key)
    return context


def client_ssl_context_from_settings(settings: Settings) -> ssl.SSLContext:
    """For associations we open to remote nodes marked ``tls = true``."""
    return client_ssl_context(settings["dicom.tls_ca_certificates"] or None,
                              settings["dicom.tls_certificate"] or None,
                              settings["dicom.tls_private_key"] or None)
