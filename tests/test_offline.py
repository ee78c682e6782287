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


# -- run time, every command as a real process: Python's socket audit events and, when strace can run, the
# -- process's own connect(2) calls (onnxruntime's telemetry resolves its host from native code, which no
# -- Python hook sees)

AUDIT_SHIM = r'''
import ipaddress, os, sys

_LOG = os.environ["LIFECYCLE_BOT_TEST_AUDIT_LOG"]
_LOCAL = {None, "", "localhost", "0.0.0.0", "::"}


def _loopback(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host in _LOCAL:
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _audit(event, args):
    if event == "socket.getaddrinfo":
        host = args[0]
    elif event == "socket.connect":
        address = args[1]
        if not isinstance(address, tuple):
            return  # AF_UNIX
        host = address[0]
    else:
        return
    if not _loopback(host):
        with open(_LOG, "a") as f:
            f.write(f"{os.getpid()} {event} {args[1] if event == 'socket.connect' else args[:2]!r}\n")
        raise OSError(f"blocked by the offline test: {event} {host!r}")


sys.addaudithook(_audit)
'''


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _strace_works() -> bool:
    import shutil

    if not shutil.which("strace"):
        return False
    return subprocess.run(["strace", "-f", "-o", os.devnull, "true"], capture_output=True).returncode == 0


def _outbound_connects(trace: Path) -> list[str]:
    """connect(2) calls to an IPv4/IPv6 address that is not loopback (DNS to a resolver included)."""
    import re

    bad = []
    for line in trace.read_text(errors="replace").splitlines():
        if " connect(" not in line:
            continue
        m = re.search(r'sin6?_addr=inet_(?:addr|pton)\((?:AF_INET6, )?"([^"]+)"', line)
        if m and m.group(1) not in ("127.0.0.1", "::1", "::ffff:127.0.0.1", "0.0.0.0"):
            bad.append(line.strip())
    return bad


def test_ask_index_and_serve_make_no_outbound_connection(kb_copy: Path, tmp_path: Path):
    import signal
    import time
    import urllib.request

    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(AUDIT_SHIM)
    log = tmp_path / "audit.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_", "ORT_", "ANONYMIZED"))}
    env.update(PYTHONPATH=os.pathsep.join([str(shim), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               LIFECYCLE_BOT_TEST_AUDIT_LOG=str(log))
    strace = _strace_works()
    cli = [str(Path(sys.executable).with_name("lifecycle-bot")), "--kb", str(kb_copy), "--data-dir", str(tmp_path / "data")]

    def command(name: str, *args: str) -> list[str]:
        traced = ["strace", "-f", "-qq", "-e", "trace=connect", "-o", str(tmp_path / f"{name}.trace")]
        return [*(traced if strace else []), *cli, *args]

    index = subprocess.run(command("index", "index"), env=env, capture_output=True, text=True, timeout=300)
    assert index.returncode == 0, index.stderr[-3000:]
    port = _free_port()
    serve = subprocess.Popen(command("serve", "serve", "--port", str(port)), env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except OSError:
                assert serve.poll() is None and time.time() < deadline, "serve did not come up"
                time.sleep(0.5)
        up = time.time()
        ask = subprocess.run(command("ask", "ask", "--json", "why is my pod stuck in Pending?"), env=env,
                             capture_output=True, text=True, timeout=300)
        assert ask.returncode == 0, ask.stderr[-3000:]
        assert json.loads(ask.stdout)["citations"][0]["anchor"] == "31-pod-stuck-in-pending"
        # onnxruntime's telemetry thread wakes ~10 s after the first session: keep the server up past that
        time.sleep(max(0.0, 20 - (time.time() - up)))
    finally:
        os.killpg(serve.pid, signal.SIGTERM)  # its own group: strace and the server it runs
        serve.wait(timeout=30)
    assert not log.exists(), log.read_text()
    if strace:
        for name in ("index", "ask", "serve"):
            assert _outbound_connects(tmp_path / f"{name}.trace") == [], name
