"""The README's first command works on a machine that never installed the dev extra.

``./scripts/test`` builds ``.venv-runtime`` anew with the runtime dependencies only (``HUB_VENV=.venv-runtime
./scripts/bootstrap``, no ``[dev]``). These tests start the hub from it exactly as a new user's ``./scripts/dev``
does and use it as they would, so a module the hub imports at run time that only the dev extra provides (as
``httpx`` once was, through ``stripe.HTTPXClient``) fails the suite instead of the user's first command.
Run alone, the module builds that environment (or brings it up to date) itself.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_VENV = ROOT / ".venv-runtime"

# Every module of every package the hub ships, imported in the runtime-only environment.
_IMPORT_ALL = r"""
import importlib, pkgutil, sys
from pathlib import Path
root = Path(sys.argv[1])
failed = []
count = 0
for init in sorted(root.glob("*/__init__.py")):
    package = init.parent.name
    if package in {"tests", "scripts", "docs", "docker"}:
        continue
    for mod in [package] + [m.name for m in pkgutil.walk_packages([str(init.parent)], prefix=package + ".")]:
        count += 1
        try:
            importlib.import_module(mod)
        except Exception as exc:
            failed.append(f"{mod}: {type(exc).__name__}: {exc}")
print(f"imported {count} modules")
for line in failed:
    print("FAILED", line)
sys.exit(1 if failed else 0)
"""


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a new user's shell: no HUB_ settings, and no test virtualenv on PATH."""
    dev_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != dev_bin)
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def runtime_venv() -> Path:
    # ./scripts/test builds it anew; run alone (or after a dependency changed) this brings it up to date, so a
    # dependency added to pyproject.toml since it was built is never reported missing.
    subprocess.run(
        [str(ROOT / "scripts" / "bootstrap")],
        env=_clean_env(HUB_VENV=str(RUNTIME_VENV)),
        cwd=ROOT,
        check=True,
        timeout=900,
    )
    return RUNTIME_VENV


def test_the_runtime_environment_has_no_dev_extra(runtime_venv: Path) -> None:
    # If it had, the tests below would prove nothing about a new user's machine.
    out = subprocess.run(
        [str(runtime_venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    for dev_only in ("pytest", "mypy", "ruff", "hypothesis", "playwright", "schemathesis"):
        assert f"{dev_only}==" not in out, f"{dev_only} is installed in the runtime-only environment"


def test_every_module_imports_with_runtime_dependencies_only(runtime_venv: Path) -> None:
    proc = subprocess.run(
        [str(runtime_venv / "bin" / "python"), "-c", _IMPORT_ALL, str(ROOT)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_clean_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert int(re.search(r"imported (\d+) modules", proc.stdout).group(1)) > 50  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def fresh_hub(runtime_venv: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``./scripts/dev --port P`` from the runtime-only environment, on its embedded defaults."""
    port = free_port()
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "dev"), "--port", str(port)],
        cwd=ROOT,
        env=_clean_env(HUB_VENV=str(runtime_venv)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"./scripts/dev exited with {proc.returncode}:\n{proc.stdout.read() if proc.stdout else ''}"
                )
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "./scripts/dev did not answer /healthz within 240 s"
            time.sleep(0.2)
        yield base, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def _assets(html: str) -> list[str]:
    return [u for u in re.findall(r'(?:src|href)="(/[^"]+\.(?:js|css))"', html)]


def test_scripts_dev_serves_the_api_and_the_pages_from_a_fresh_environment(
    fresh_hub: tuple[str, subprocess.Popen[str]],
) -> None:
    base, proc = fresh_hub
    with httpx.Client(base_url=base, timeout=10) as client:
        r = client.post(
            "/api/v1/auth/register",
            json={"email": "first@example.com", "password": "a long first password", "nickname": "First"},
        )
        assert r.status_code == 201, r.text
        token = r.json()["access_token"]
        r = client.post(
            "/api/v1/streams", json={"title": "My first stream"}, headers={"authorization": f"Bearer {token}"}
        )
        assert r.status_code == 201, r.text
        stream_id = r.json()["id"]
        assert client.get("/readyz").status_code == 200
        for page in ("/", "/studio", f"/watch/{stream_id}"):
            r = client.get(page)
            assert r.status_code == 200, (page, r.status_code)
            assert "text/html" in r.headers["content-type"]
            assets = _assets(r.text)
            assert assets, f"{page} references no script or stylesheet"
            for asset in assets:
                assert client.get(asset).status_code == 200, (page, asset)
    # It stops cleanly on SIGTERM, and nothing in its log is a crash.
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    # uvicorn re-raises the signal after a graceful shutdown, so the exit status is "killed by SIGTERM".
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert "Application shutdown complete" in out, out
    assert "Traceback" not in out, out
    assert f"http://127.0.0.1:{base.rsplit(':', 1)[1]}/" in out
