"""``python -m pao_executors.sandbox [--port N] [--host H]``: every sandbox on one port."""

from __future__ import annotations

import argparse

from pao_executors.sandbox.app import SandboxSettings, create_app


def main() -> None:
    settings = SandboxSettings()
    parser = argparse.ArgumentParser(prog="python -m pao_executors.sandbox")
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    import uvicorn

    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level="info",
        ws="none",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
