"""Offline by construction: index + ask in a fresh process attempt no non-loopback connection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

GUARD = r'''
import ipaddress, json, socket, sys
attempts = []
def _check(address):
    host = address[0] if isinstance(address, tuple) else None
    if host is None:
        return  # AF_UNIX
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = host in ("localhost",)
    if not ok:
        attempts.append(str(address))
        raise OSError(f"blocked non-loopback connection to {address!r}")
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
def connect(self, address):
    _check(address); return _connect(self, address)
def connect_ex(self, address):
    _check(address); return _connect_ex(self, address)
socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
_gai = socket.getaddrinfo
def getaddrinfo(host, *a, **k):
    if host not in (None, "localhost", "127.0.0.1", "::1", "0.0.0.0"):
        attempts.append(f"dns:{host}")
        raise socket.gaierror(f"blocked DNS lookup of {host}")
    return _gai(host, *a, **k)
socket.getaddrinfo = getaddrinfo
import lifecycle_bot, os
from lifecycle_bot.launch import main
rc = 0
for args in (["index"], ["ask", "--json", "why is my pod stuck in Pending?"]):
    try:
        main(["--kb", sys.argv[1], "--data-dir", sys.argv[2], *args], standalone_mode=False)
    except SystemExit as e:
        rc = rc or (e.code or 0)
print("ENV", json.dumps({k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "ANONYMIZED_TELEMETRY", "GRADIO_ANALYTICS_ENABLED")}))
print("ATTEMPTS", json.dumps(attempts))
sys.exit(rc)
'''


def test_no_outbound_connection_during_index_and_ask(kb_copy: Path, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "ANONYMIZED", "GRADIO"))}
    env["HF_HUB_OFFLINE"] = "0"  # a user's shell saying otherwise must not matter
    proc = subprocess.run([sys.executable, "-c", GUARD, str(kb_copy), str(tmp_path / "data")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = {ln.split(" ", 1)[0]: ln.split(" ", 1)[1] for ln in proc.stdout.splitlines() if ln.startswith(("ENV ", "ATTEMPTS "))}
    assert json.loads(lines["ATTEMPTS"]) == []
    assert json.loads(lines["ENV"]) == {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
                                        "GRADIO_ANALYTICS_ENABLED": "False"}
    answer = json.loads(proc.stdout[proc.stdout.index("{"): proc.stdout.index("\nENV ")])
    assert answer["citations"][0]["anchor"] == "31-pod-stuck-in-pending"
