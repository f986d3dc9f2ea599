"""``python -m pao_sandbox [--port N] [--host H] [--smtp-port N]``: every sandbox
on one port, and the SMTP catcher of the notifications sandbox on its own (default: the
HTTP port + 1, so 8100 beside 8099 and two sandboxes never share one; 0: none)."""

from __future__ import annotations

import argparse

from pao_sandbox.app import SandboxSettings, create_app
from pao_sandbox.notify import NotifySandbox


def main() -> None:
    settings = SandboxSettings()
    parser = argparse.ArgumentParser(prog="python -m pao_sandbox")
    parser.add_argument("--port", type=int, default=settings.port)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=settings.smtp_port)
    args = parser.parse_args()
    smtp_port = args.port + 1 if args.smtp_port is None else args.smtp_port
    import uvicorn

    app = create_app(settings)
    notify: NotifySandbox = app.state.systems["notify"]
    if smtp_port:
        notify.start_smtp(args.host, smtp_port)
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level="info",
            ws="none",
            access_log=False,
            lifespan="off",
        )
    finally:
        notify.stop_smtp()


if __name__ == "__main__":
    main()
