"""A real `recsys serve` (uvicorn on 127.0.0.1): acknowledged events survive kill -9."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

TOKEN = "durability-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(index_dir, events_db, port, workers=1):
    env = {**os.environ, "RECSYS_API_TOKEN": TOKEN}
    process = subprocess.Popen([sys.executable, "-m", "recsys", "serve", str(index_dir), "--port", str(port),
                                "--events-db", str(events_db), "--workers", str(workers)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stderr.read().decode()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    kill_9(process)
    raise AssertionError("server did not become ready in 60 s")


def kill_9(process) -> None:
    """SIGKILL the server and its workers (its whole process group), as a crash would."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


HEADERS = {"Authorization": f"Bearer {TOKEN}"}
NEW = {"title": "Ostrander Maritime Museum adds a lighthouse gallery",
       "body": "The Ostrander Maritime Museum opened a lighthouse gallery after its reopening.", "section": "culture"}


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 is POSIX")
def test_acknowledged_writes_survive_kill_9_with_two_workers(sample_index, tmp_path):
    index_dir = sample_index.save(tmp_path / "news")
    events_db, port = tmp_path / "events.sqlite3", free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(index_dir, events_db, port, workers=2)
    try:
        before = httpx.get(f"{base}/v1/articles/a-010").json()["article"]["views"]
        acknowledged = 0
        for batch in range(10):
            events = [{"id": f"b{batch}-{i}", "article_id": "a-010", "type": "view"} for i in range(20)]
            reply = httpx.post(f"{base}/v1/events", json={"events": events}, headers=HEADERS, timeout=10).json()
            acknowledged += reply["accepted"]
        assert acknowledged == 200
        assert httpx.put(f"{base}/v1/articles/n-1", json=NEW, headers=HEADERS).json()["created"] is True
        assert httpx.delete(f"{base}/v1/articles/a-012-u", headers=HEADERS).json()["deleted"] is True
        for _ in range(20):  # new connections: both workers answer, and both must know the writes
            with httpx.Client() as fresh:
                assert fresh.get(f"{base}/v1/articles/a-010").json()["article"]["views"] == before + 200
                assert fresh.get(f"{base}/v1/articles/n-1").status_code == 200
                assert fresh.get(f"{base}/v1/articles/a-012-u").status_code == 404
    finally:
        kill_9(server)
    server = start(index_dir, events_db, port)
    try:
        assert httpx.get(f"{base}/v1/articles/a-010").json()["article"]["views"] == before + 200
        assert httpx.get(f"{base}/v1/articles/n-1").json()["article"]["title"] == NEW["title"]
        assert httpx.get(f"{base}/v1/articles/a-012-u").status_code == 404
        retry = [{"id": "b0-0", "article_id": "a-010", "type": "view"}]
        reply = httpx.post(f"{base}/v1/events", json={"events": retry}, headers=HEADERS)
        assert reply.json() == {"ok": True, "accepted": 0, "duplicates": 1}
    finally:
        kill_9(server)
