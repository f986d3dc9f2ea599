"""``free_port`` never hands out a port twice: the kernel may offer a just-released one
again, and two services of one test platform then got the same port (the catalog and
the gateway did, in CI: the gateway's readiness check was answered by the catalog)."""

from __future__ import annotations

import socket
from types import TracebackType

import pytest
from pao_devtools import ports


class OfferedPorts:
    """Stands in for ``socket.socket``: each socket "binds" to the next offered port."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports

    def __call__(self) -> OfferedPorts:
        return self

    def __enter__(self) -> OfferedPorts:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def bind(self, address: tuple[str, int]) -> None:
        assert address == ("127.0.0.1", 0)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.ports.pop(0))


def test_a_port_offered_again_is_not_handed_out_again(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "_handed_out", set())
    monkeypatch.setattr(socket, "socket", OfferedPorts([41000, 41000, 41000, 41001]))
    assert ports.free_port() == 41000
    assert ports.free_port() == 41001


def test_handed_out_ports_are_free_and_distinct() -> None:
    handed = [ports.free_port() for _ in range(50)]
    assert len(set(handed)) == len(handed)
    for port in handed:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
