"""Audit messages over syslog to real local receivers: UDP, TCP and TLS."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import re
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hounsfield.auth import audit_message as am
from hounsfield.auth.syslog import SyslogSender, format_message, parse_address
from hounsfield.config import load_settings

FRAME = re.compile(rb"^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) - \xef\xbb\xbf(.*)$", re.S)
XML = am.user_authentication(am.AuditSource("HOUNSFIELD"),
                             am.ActiveParticipant("alice", True), login=True)


def parse_frame(data: bytes) -> dict[str, object]:
    match = FRAME.match(data)
    assert match, data[:80]
    pri, timestamp, host, app, procid, msgid, body = match.groups()
    return {"pri": int(pri), "timestamp": timestamp.decode(), "host": host.decode(),
            "app": app.decode(), "procid": procid.decode(), "msgid": msgid.decode(),
            "body": body.decode("utf-8")}


def check(frame: dict[str, object], body: str = XML) -> None:
    assert frame["pri"] == 85  # facility 10 (authpriv) * 8 + severity 5 (notice)
    assert frame["app"] == "hounsfield" and frame["msgid"] == "IHE+RFC-3881"
    assert frame["host"] == "pacs1.example.org"
    dt.datetime.fromisoformat(str(frame["timestamp"]).replace("Z", "+00:00"))
    assert frame["body"] == body


class StreamReceiver:
    """A syslog receiver that reads octet-counted frames (RFC 6587 3.4.1)."""

    def __init__(self, close_after: int | None = None) -> None:
        self.frames: asyncio.Queue[bytes] = asyncio.Queue()
        self.connections = 0
        self.close_after = close_after
        self.closed = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.connections += 1
        received = 0
        try:
            while True:
                length = await reader.readuntil(b" ")
                assert length[:-1].isdigit() and not length.startswith(b"0")
                await self.frames.put(await reader.readexactly(int(length[:-1])))
                received += 1
                if self.close_after is not None and received >= self.close_after:
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()
        await writer.wait_closed()
        self.closed.set()


async def _next(queue: asyncio.Queue[bytes]) -> bytes:
    return await asyncio.wait_for(queue.get(), 10)


async def test_udp():
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    class Receiver(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr) -> None:
            queue.put_nowait(data)

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Receiver, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    settings = load_settings(environ={}, audit__syslog_address=f"127.0.0.1:{port}")
    sender = SyslogSender.from_settings(settings, hostname="pacs1.example.org")
    assert sender is not None and sender.transport == "udp"
    try:
        await sender.send(XML)
        await sender.send("<AuditMessage>second é</AuditMessage>")
        check(parse_frame(await _next(queue)))
        check(parse_frame(await _next(queue)), "<AuditMessage>second é</AuditMessage>")
    finally:
        await sender.close()
        transport.close()


async def test_tcp_octet_counting_and_reconnect():
    receiver = StreamReceiver(close_after=2)
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = SyslogSender("127.0.0.1", port, transport="tcp", hostname="pacs1.example.org")
    try:
        long_xml = XML.replace("alice", "a" * 5000)
        await sender.send(XML)
        await sender.send(long_xml)
        check(parse_frame(await _next(receiver.frames)))
        check(parse_frame(await _next(receiver.frames)), long_xml)
        # The receiver dropped the connection: the next message goes on a new one.
        await asyncio.wait_for(receiver.closed.wait(), 10)
        for _ in range(100):
            if sender._reader is not None and sender._reader.at_eof():
                break
            await asyncio.sleep(0.01)
        await sender.send(XML)
        check(parse_frame(await _next(receiver.frames)))
        assert receiver.connections == 2
    finally:
        await sender.close()
        server.close()
        await server.wait_closed()


def _certificate(tmp_path) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


async def test_tls(tmp_path):
    cert, key = _certificate(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    receiver = StreamReceiver()
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    settings = load_settings(environ={}, audit__syslog_address=f"127.0.0.1:{port}",
                             audit__syslog_tls=True)
    client_context = ssl.create_default_context(cafile=cert)
    sender = SyslogSender.from_settings(settings, ssl_context=client_context,
                                        hostname="pacs1.example.org")
    assert sender is not None and sender.transport == "tls"
    try:
        await sender.send(XML)
        check(parse_frame(await _next(receiver.frames)))
    finally:
        await sender.close()
    # A receiver whose certificate we do not trust gets nothing.
    untrusting = SyslogSender("127.0.0.1", port, transport="tls", hostname="h",
                              ssl_context=ssl.create_default_context())
    with pytest.raises((ssl.SSLError, OSError)):
        await untrusting.send(XML)
    await untrusting.close()
    server.close()
    await server.wait_closed()
    assert receiver.frames.empty()


def test_addresses_and_format():
    assert parse_address("audit.example.org:514") == ("udp", "audit.example.org", 514)
    assert parse_address("audit.example.org:6514", tls=True) == ("tls", "audit.example.org",
                                                                 6514)
    assert parse_address("tcp://[::1]:601") == ("tcp", "::1", 601)
    for bad in ("nohost", "host:0", "host:x", "ftp://h:1"):
        with pytest.raises(ValueError):
            parse_address(bad)
    with pytest.raises(ValueError):
        parse_address("udp://h:514", tls=True)
    assert SyslogSender.from_settings(load_settings(environ={})) is None
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=dt.timezone.utc)
    data = format_message("<x/>", hostname="my host", procid="42", when=when)
    assert data == b"<85>1 2026-01-02T03:04:05.006000Z myhost hounsfield 42 IHE+RFC-3881 - " \
                   b"\xef\xbb\xbf<x/>"
