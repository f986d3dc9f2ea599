"""A TLS / SASL front door for the bundled broker, which (Tansu 0.6) terminates neither.

``KafkaFrontDoor`` listens on a port of its own, optionally with TLS (and optionally
requiring a client certificate: mTLS), and forwards the Kafka bytes to the plaintext
broker, whose advertised address must be the front door's (``BundledBroker(...,
advertised_port=...)``), so the coordinator and partition-leader connections the client
opens after bootstrap come through it too.

With ``sasl`` set it also authenticates, speaking the broker side of the Kafka protocol's
SASL exchange (SaslHandshake v0/v1, SaslAuthenticate v0/v1) for PLAIN (user name and
password checked) and OAUTHBEARER (the bearer token checked by a callback): every request
before a successful authentication other than ApiVersions closes the connection, as
Apache Kafka does. Only then does it pipe bytes. SCRAM is not spoken here.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

API_VERSIONS = 18
SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36
UNSUPPORTED_SASL_MECHANISM = 33
ILLEGAL_SASL_STATE = 34
SASL_AUTHENTICATION_FAILED = 58


@dataclass
class SaslAccounts:
    """What the front door accepts: PLAIN users and their passwords, OAUTHBEARER tokens."""

    plain: dict[str, str] = field(default_factory=dict)
    bearer_valid: Callable[[str], bool] | None = None
    # Principals authenticated so far, in order ("User:alice", "Bearer:<token>").
    authenticated: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    # The SASL extensions each OAUTHBEARER client sent with its token.
    extensions: list[dict[str, str]] = field(default_factory=list)

    @property
    def mechanisms(self) -> list[str]:
        return (["PLAIN"] if self.plain else []) + (["OAUTHBEARER"] if self.bearer_valid else [])


class KafkaFrontDoor:
    def __init__(
        self,
        upstream_port: int,
        port: int,
        *,
        tls: ssl.SSLContext | None = None,
        sasl: SaslAccounts | None = None,
    ) -> None:
        self.upstream_port = upstream_port
        self.port = port
        self.tls = tls
        self.sasl = sasl
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, ssl=self.tls, ssl_handshake_timeout=5
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            self._tasks.discard(task)
            return
        try:
            if self.sasl is None or await self._authenticate(reader, writer, up_reader, up_writer):
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            for w in (writer, up_writer):
                with contextlib.suppress(Exception):
                    w.close()
            self._tasks.discard(task)

    async def _authenticate(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> bool:
        """The broker side of the SASL exchange; True once the client authenticated."""
        assert self.sasl is not None
        mechanism: str | None = None
        while True:
            frame = await _read_frame(reader)
            api_key, api_version, correlation_id = struct.unpack(">hhi", frame[:8])
            (client_id_len,) = struct.unpack(">h", frame[8:10])
            body = frame[10 + max(client_id_len, 0) :]
            if api_key == API_VERSIONS:  # the broker answers what it speaks
                up_writer.write(struct.pack(">i", len(frame)) + frame)
                await up_writer.drain()
                answer = await _read_frame(up_reader)
                writer.write(struct.pack(">i", len(answer)) + answer)
                await writer.drain()
            elif api_key == SASL_HANDSHAKE:
                (length,) = struct.unpack(">h", body[:2])
                asked = body[2 : 2 + length].decode()
                enabled = self.sasl.mechanisms
                error = 0 if asked in enabled else UNSUPPORTED_SASL_MECHANISM
                mechanism = asked if error == 0 else None
                payload = struct.pack(">hi", error, len(enabled)) + b"".join(
                    _string(m) for m in enabled
                )
                await _respond(writer, correlation_id, payload)
                if error:
                    return False
            elif api_key == SASL_AUTHENTICATE and mechanism is not None:
                (length,) = struct.unpack(">i", body[:4])
                principal, reason = self._check(mechanism, body[4 : 4 + length])
                error = 0 if principal else SASL_AUTHENTICATION_FAILED
                payload = struct.pack(">h", error) + (
                    _string(reason) if reason else struct.pack(">h", -1)
                )
                payload += struct.pack(">i", 0)  # no server bytes
                if api_version >= 1:
                    payload += struct.pack(">q", 0)  # session lifetime: no re-authentication
                await _respond(writer, correlation_id, payload)
                if principal is None:
                    self.sasl.refused.append(reason)
                    return False
                self.sasl.authenticated.append(principal)
                return True
            else:  # anything else before authenticating: Apache Kafka closes the connection
                self.sasl.refused.append(f"api {api_key} before authentication")
                return False

    def _check(self, mechanism: str, auth: bytes) -> tuple[str | None, str]:
        assert self.sasl is not None
        if mechanism == "PLAIN":
            parts = auth.split(b"\x00")
            if len(parts) != 3:
                return None, "malformed PLAIN message"
            user, password = parts[1].decode(), parts[2].decode()
            if self.sasl.plain.get(user) != password:
                return None, f"Authentication failed: invalid credentials for user {user}"
            return f"User:{user}", ""
        # OAUTHBEARER (RFC 7628): GS2 header, then \x01-separated key=value pairs.
        fields = dict(kv.split("=", 1) for kv in auth.decode().split("\x01")[1:] if "=" in kv)
        scheme, _, token = fields.get("auth", "").partition(" ")
        if scheme != "Bearer" or not token:
            return None, "no bearer token"
        assert self.sasl.bearer_valid is not None
        if not self.sasl.bearer_valid(token):
            return None, "invalid bearer token"
        self.sasl.extensions.append({k: v for k, v in fields.items() if k != "auth"})
        return f"Bearer:{token}", ""


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack(">i", await reader.readexactly(4))
    return await reader.readexactly(size)


async def _respond(writer: asyncio.StreamWriter, correlation_id: int, payload: bytes) -> None:
    frame = struct.pack(">i", correlation_id) + payload
    writer.write(struct.pack(">i", len(frame)) + frame)
    await writer.drain()


def _string(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">h", len(data)) + data


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()
