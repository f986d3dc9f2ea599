"""A lean HTTP/1.1 load client for the benchmarks: keep-alive connections framed by h11.

The benchmark client shares the machine with the platform it measures, so every
millisecond of CPU it spends per request is taken from the platform. httpx spent
about 1.4 ms per POST here (its pool bookkeeping, anyio streams); this client, a
few hundred microseconds. It is for benchmarks only: no redirects, no TLS, no
proxies, one request at a time per connection.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import h11


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    http: h11.Connection


@dataclass
class Answer:
    status_code: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class LoadClient:
    """Up to ``connections`` keep-alive connections to ``base_url``, reused in turn."""

    def __init__(self, base_url: str, headers: dict[str, str], connections: int = 64) -> None:
        url = urlsplit(base_url)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 80
        self._headers = [("host", f"{self._host}:{self._port}"), *headers.items()]
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[_Connection] = []

    async def post_json(self, path: str, payload: Any) -> Answer:
        return await self._request("POST", path, json.dumps(payload).encode())

    async def get(self, path: str) -> Answer:
        return await self._request("GET", path, None)

    async def _request(self, method: str, path: str, body: bytes | None) -> Answer:
        async with self._slots:
            reused = bool(self._idle)
            connection = self._idle.pop() if reused else await self._open()
            try:
                answer = await self._exchange(connection, method, path, body)
            except (ConnectionError, h11.RemoteProtocolError):
                connection.writer.close()
                if not reused:
                    raise
                # The server closed an idle connection (keep-alive timeout): once more.
                connection = await self._open()
                answer = await self._exchange(connection, method, path, body)
            except BaseException:
                connection.writer.close()
                raise
            if not connection.writer.is_closing():
                self._idle.append(connection)
            return answer

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self._host, self._port)
        return _Connection(reader, writer, h11.Connection(h11.CLIENT))

    async def _exchange(
        self, connection: _Connection, method: str, path: str, body: bytes | None
    ) -> Answer:
        http = connection.http
        headers = list(self._headers)
        if body is not None:
            headers += [("content-type", "application/json"), ("content-length", str(len(body)))]
        out = http.send(h11.Request(method=method, target=path, headers=headers))
        if body is not None:
            out += http.send(h11.Data(data=body))
        out += http.send(h11.EndOfMessage())
        connection.writer.write(out)
        status, chunks = 0, []
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                data = await connection.reader.read(65536)
                if not data:
                    raise ConnectionError("connection closed by the server")
                http.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
        if http.our_state is h11.DONE and http.their_state is h11.DONE:
            http.start_next_cycle()
        else:  # the server asked to close
            connection.writer.close()
        return Answer(status, b"".join(chunks))

    async def aclose(self) -> None:
        for connection in self._idle:
            connection.writer.close()
        self._idle.clear()
