"""Send audit messages to a syslog receiver: RFC 5424 messages over UDP, TCP or TLS.

UDP carries one message per datagram (RFC 5426). TCP and TLS frame each message with
octet counting, ``MSG-LEN SP SYSLOG-MSG`` (RFC 6587 3.4.1, RFC 5425 4.3), on one kept-open
connection that is opened again once when it has failed. The message body is the audit
XML, UTF-8 with a byte order mark as RFC 5424 6.4 asks, under facility 10 (security and
authorization) and severity 5 (notice), MSGID ``IHE+RFC-3881`` as IHE ATNA sends it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import socket
import ssl
from typing import Any

__all__ = ["SyslogSender", "format_message", "frame_octet_counted", "parse_address"]

FACILITY_AUTHPRIV = 10
SEVERITY_NOTICE = 5
AUDIT_MSGID = "IHE+RFC-3881"
_BOM = b"\xef\xbb\xbf"
_MAX_UDP_PAYLOAD = 65507
_TRANSPORTS = ("udp", "tcp", "tls")


def _header_field(value: str, limit: int) -> str:
    """An RFC 5424 header field: printable US-ASCII, no spaces, or NILVALUE."""
    cleaned = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
    return cleaned or "-"


def format_message(message: str | bytes, *, hostname: str, app_name: str = "hounsfield",
                   procid: str | None = None, msgid: str = AUDIT_MSGID,
                   facility: int = FACILITY_AUTHPRIV, severity: int = SEVERITY_NOTICE,
                   when: dt.datetime | None = None) -> bytes:
    """One RFC 5424 message (6): ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG``."""
    if not 0 <= facility <= 23 or not 0 <= severity <= 7:
        raise ValueError("Syslog facility must be 0-23 and severity 0-7.")
    moment = when or dt.datetime.now(dt.timezone.utc)
    if moment.tzinfo is None:
        raise ValueError('Argument "when" must be timezone-aware.')
    timestamp = moment.astimezone(dt.timezone.utc).isoformat(timespec="microseconds")
    timestamp = timestamp.replace("+00:00", "Z")
    header = " ".join([
        f"<{facility * 8 + severity}>1", timestamp, _header_field(hostname, 255),
        _header_field(app_name, 48), _header_field(procid or str(os.getpid()), 128),
        _header_field(msgid, 32), "-"])
    body = message.encode("utf-8") if isinstance(message, str) else message
    return header.encode("ascii") + b" " + _BOM + body


def frame_octet_counted(message: bytes) -> bytes:
    """Octet-counting framing (RFC 6587 3.4.1): the length in decimal, a space, the bytes."""
    return str(len(message)).encode("ascii") + b" " + message


def parse_address(address: str, *, tls: bool = False) -> tuple[str, str, int]:
    """``(transport, host, port)`` from ``host:port``, ``[v6]:port`` or ``udp://``,
    ``tcp://``, ``tls://`` forms. Without a scheme: TLS when ``tls`` is set, else UDP."""
    transport = "tls" if tls else "udp"
    rest = address.strip()
    if "://" in rest:
        transport, rest = rest.split("://", 1)
        transport = transport.lower()
        if transport not in _TRANSPORTS:
            raise ValueError(f"Syslog address {address!r}: transport must be one of "
                             f"{', '.join(_TRANSPORTS)}")
        if tls and transport != "tls":
            raise ValueError(f"Syslog address {address!r} names {transport} but "
                             "audit.syslog_tls is on")
    host, sep, port_text = rest.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"Syslog address {address!r} must be host:port")
    return transport, host.strip("[]"), int(port_text)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.error: Exception | None = None

    def error_received(self, exc: Exception) -> None:
        self.error = exc


class SyslogSender:
    """Sends audit messages to one syslog receiver; ``await send(xml)`` per message.

    For TLS, ``ssl_context`` defaults to the system trust store with host name checking
    (RFC 5425 5.2); pass one with the receiver's CA or a client certificate otherwise.
    """

    def __init__(self, host: str, port: int, *, transport: str = "udp",
                 ssl_context: ssl.SSLContext | None = None, hostname: str | None = None,
                 app_name: str = "hounsfield", timeout: float = 10.0) -> None:
        if transport not in _TRANSPORTS:
            raise ValueError(f'Argument "transport" must be one of {_TRANSPORTS}')
        self.host, self.port, self.transport = host, port, transport
        self.hostname = hostname or socket.getfqdn() or socket.gethostname()
        self.app_name = app_name
        self.timeout = timeout
        self._ssl = ssl_context if transport != "tls" or ssl_context else \
            ssl.create_default_context()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._datagram: asyncio.DatagramTransport | None = None
        self._protocol: _Datagrams | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> "SyslogSender | None":
        """A sender for ``audit.syslog_address`` / ``audit.syslog_tls``; None when off."""
        address = settings["audit.syslog_address"]
        if not address:
            return None
        transport, host, port = parse_address(address, tls=settings["audit.syslog_tls"])
        return cls(host, port, transport=transport, **kwargs)

    async def send(self, message_xml: str | bytes, *, when: dt.datetime | None = None) -> None:
        """Send one audit message; raises ``OSError`` when the receiver cannot be reached."""
        payload = format_message(message_xml, hostname=self.hostname,
                                 app_name=self.app_name, when=when)
        async with self._lock:
            if self.transport == "udp":
                await self._send_udp(payload)
                return
            frame = frame_octet_counted(payload)
            try:
                await self._send_stream(frame)
            except (OSError, asyncio.IncompleteReadError):
                await self._close_stream()
                await self._send_stream(frame)  # one new connection, then give up

    async def _send_udp(self, payload: bytes) -> None:
        if len(payload) > _MAX_UDP_PAYLOAD:
            raise ValueError(f"Audit message of {len(payload)} bytes does not fit a UDP "
                             "datagram; use TCP or TLS")
        if self._datagram is None or self._datagram.is_closing():
            loop = asyncio.get_running_loop()
            self._datagram, self._protocol = await loop.create_datagram_endpoint(
                _Datagrams, remote_addr=(self.host, self.port))
        assert self._protocol is not None
        if self._protocol.error is not None:
            error, self._protocol.error = self._protocol.error, None
            raise error
        self._datagram.sendto(payload)

    async def _send_stream(self, frame: bytes) -> None:
        # A receiver that closed the connection is seen as end of file on our side;
        # writing there would lose the message, so connect again first.
        if self._reader is not None and self._reader.at_eof():
            await self._close_stream()
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.host, self.port, ssl=self._ssl if self.transport == "tls" else None,
                    server_hostname=self.host if self.transport == "tls" else None),
                self.timeout)
        writer = self._writer
        assert writer is not None
        writer.write(frame)
        await asyncio.wait_for(writer.drain(), self.timeout)

    async def _close_stream(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass

    async def close(self) -> None:
        """Close the connection or socket; a later ``send`` opens a new one."""
        async with self._lock:
            await self._close_stream()
            if self._datagram is not None:
                self._datagram.close()
                self._datagram = None

    async def __aenter__(self) -> "SyslogSender":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
