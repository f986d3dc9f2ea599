"""Headless Chromium driven over the DevTools protocol, for tests of the portal.

Debian's ``chromium`` (``apt-get install chromium``); no browser download, no npm.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import websockets
from pao_devtools.ports import free_port

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1100,1400",
]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._next = 0
        self.errors: list[str] = []
        self.navigations: list[str] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        await self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(await self._ws.recv())
            if message.get("method") == "Runtime.exceptionThrown":
                details = message["params"]["exceptionDetails"]
                self.errors.append(details.get("exception", {}).get("description", str(details)))
            if message.get("method") == "Page.frameNavigated":
                self.navigations.append(message["params"]["frame"].get("url", ""))
            if message.get("id") == ident:
                result: dict[str, Any] = message.get("result", {})
                return result

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url="about:blank")
        await self.call("Page.navigate", url=url)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True)
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout_s: float = 30.0) -> Any:
        """Poll ``expression`` until it is truthy; return its value."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.2)
        text = await self.evaluate("document.body.innerText")
        raise TimeoutError(
            f"never true: {expression}; errors: {self.errors}; navigations: {self.navigations};"
            f" page: {text!r}"
        )

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


def _pages(port: int) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json") as answer:
        return [t for t in json.load(answer) if t["type"] == "page"]


@contextlib.asynccontextmanager
async def browser_page() -> AsyncIterator[Page]:
    binary = chromium()
    assert binary is not None, "chromium is not installed"
    port = free_port()
    profile = tempfile.mkdtemp(prefix="pao-chromium-")
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, killed in finally
        [binary, *FLAGS, f"--user-data-dir={profile}", f"--remote-debugging-port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        tabs: list[dict[str, Any]] = []
        deadline = time.monotonic() + 60
        while not tabs:
            assert time.monotonic() < deadline, "chromium did not open its debugging port"
            with contextlib.suppress(OSError):
                tabs = await asyncio.to_thread(_pages, port)
            await asyncio.sleep(0.2)
        async with websockets.connect(tabs[0]["webSocketDebuggerUrl"], max_size=None) as ws:
            page = Page(ws)
            await page.call("Runtime.enable")
            await page.call("Page.enable")
            yield page
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(profile, ignore_errors=True)
