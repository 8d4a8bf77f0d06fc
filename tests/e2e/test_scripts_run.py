"""The README's first command, `./scripts/run`, as a newcomer runs it: it sets up a home on
SQLite with the demo trust, prints a pupil's chronology and a SENDCo token, and serves the
API and the web interface, where that token reads the pupil. (A change that broke it, the
trust-wide user the script makes, once went unnoticed.)"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_scripts_run_serves_the_demo_trust_to_the_token_it_prints(tmp_path: Path) -> None:
    port = _free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHRONICLE_")}
    environ |= {"CHRONICLE_HOME": str(tmp_path / "home"), "CHRONICLE_PORT": str(port)}
    log = tmp_path / "run.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "run")],
            cwd=REPO,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        token = pupil = None
        while time.monotonic() < deadline and process.poll() is None:
            text = log.read_text()
            found = re.search(r"SENDCo token:\s+(\S+)", text)
            said = re.search(r"/pupils/([0-9a-f-]{36})/chronology", text)
            if found and said:
                token, pupil = found.group(1), said.group(1)
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/docs", timeout=2).is_success:
                        break
                except httpx.HTTPError:
                    pass
            time.sleep(0.5)
        assert process.poll() is None, log.read_text()[-3000:]
        assert token and pupil, log.read_text()[-3000:]
        text = log.read_text()
        assert "One pupil's chronology" in text and "Traceback" not in text, text[-3000:]
        answer = httpx.get(
            f"http://127.0.0.1:{port}/pupils/{pupil}/chronology",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["entries"], answer.text
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10, follow_redirects=True).is_success
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
