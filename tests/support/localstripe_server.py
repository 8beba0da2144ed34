"""``localstripe`` (a Stripe API emulator: PaymentIntents, signed webhooks; no Checkout) on 127.0.0.1.

Its CLI binds every interface and pickles its state to /tmp, so it is started from Python, bound to loopback,
with persistence switched off."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

from tests.support.servers import free_port

_BOOT = """
import sys
from aiohttp import web
from localstripe import resources, server
resources.store.dump_to_disk = lambda *a, **k: None
web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


@contextlib.contextmanager
def localstripe() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _BOOT, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        if proc.poll() is not None:
            raise RuntimeError("localstripe exited at start-up")
        time.sleep(0.05)
    else:
        proc.kill()
        raise RuntimeError("localstripe did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
