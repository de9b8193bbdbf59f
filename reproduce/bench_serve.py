"""Benchmark: `img2music serve` under load: 4 clients send 20 pictures in all to one server (the shipped model).

The server runs as its own process (`python -m img2music_tf serve`, WAV on), started with an empty feature
cache. Each client sends its 5 pictures at once, as the page does when 5 are dropped on it, then follows them
until each is made: a picture's latency runs from its POST to the poll that sees it done, so it holds its
wait in the queue. The server makes one picture at a time, so most pictures wait; the figures show that each
is answered at once (202, with its place in the queue) and made in turn, none dropped or timed out. Peak memory
is the server process's peak resident set (VmHWM in /proc), model and all.

Pictures: 20 Emotion6 photos (every 99th of the archive's 1980) or, without the archive, 20 built-in drawn
pictures (`data.builtin.draw_image`).

    python reproduce/bench_serve.py [--clients 4] [--pictures 20]

Writes results/bench_serve.json and .md.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from img2music_tf.cli import Parser, run_reporting

REPO = Path(__file__).resolve().parents[1]
EMOTION6 = Path(os.environ.get("IMG2MUSIC_EMOTION6_SOURCE",
                               REPO.parent / "shared" / "data" / "emotion6" / "Emotion6-320px.zip"))
POLL_S = 0.25
TIMEOUT_S = 1800.0  # a picture's longest wait before the benchmark calls it lost


def pictures(n: int) -> tuple[list[tuple[str, bytes]], str]:
    """n (name, JPEG or PNG bytes) and where they come from."""
    if EMOTION6.is_file():
        with zipfile.ZipFile(EMOTION6) as archive:
            names = sorted(name for name in archive.namelist() if name.endswith(".jpg"))
            step = max(len(names) // n, 1)
            chosen = names[::step][:n]
            named = [("-".join(Path(name).parts[-2:]), archive.read(name)) for name in chosen]  # anger-201.jpg
            return named, f"Emotion6 ({EMOTION6.name})"
    from img2music_tf.data.builtin import draw_image

    drawn = []
    for index in range(n):
        data = io.BytesIO()
        draw_image(index).save(data, "PNG")
        drawn.append((f"drawn-{index:03d}.png", data.getvalue()))
    return drawn, "built-in drawn pictures"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mb(pid: int) -> dict:
    """The process's peak and current resident set, in MB (Linux /proc)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[name].split()[0]) / 1024 for key, name in (("peak", "VmHWM"), ("now", "VmRSS"))}


def client(base: str, batch: list[tuple[str, bytes]], records: list, lock: threading.Lock) -> None:
    """Send `batch` at once, then follow every picture until it is made or fails; one record per picture."""
    import httpx2

    with httpx2.Client(base_url=base, timeout=60) as http:
        sent = []
        for name, data in batch:
            started = time.perf_counter()
            response = http.post("/api/pieces", files={"picture": (name, data)}, data={"seed": "0"})
            answer = response.json()
            sent.append({"name": name, "started": started, "status": response.status_code,
                         "answered_s": time.perf_counter() - started, "position": answer.get("position"),
                         "url": answer.get("url"), "error": answer.get("error")})
        for record in sent:
            while record["url"] and time.perf_counter() - record["started"] < TIMEOUT_S:
                status = http.get(record["url"]).json()
                if status["state"] in ("done", "failed"):
                    record.update(state=status["state"], latency_s=time.perf_counter() - record["started"],
                                  making_s=status["seconds_running"], error=status["error"],
                                  notes=(status.get("piece") or {}).get("n_notes"))
                    break
                time.sleep(POLL_S)
            with lock:
                records.append(record)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]  # nearest rank


def measure(n_clients: int, n_pictures: int) -> dict:
    chosen, source = pictures(n_pictures)
    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "IMG2MUSIC_HOME": home, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
        started = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-m", "img2music_tf", "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_up(base, server)
            start_up = time.perf_counter() - started
            records, lock = [], threading.Lock()
            load_before = os.getloadavg()[0]
            began = time.perf_counter()
            threads = [threading.Thread(target=client, args=(base, chosen[i::n_clients], records, lock))
                       for i in range(n_clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - began
            memory = peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(60)
    done = [r for r in records if r.get("state") == "done"]
    latencies = [r["latency_s"] for r in done]
    return {
        "source": source, "clients": n_clients, "pictures": len(chosen), "start_up_s": start_up, "wall_s": wall,
        "answered": sum(r["status"] == 202 for r in records), "done": len(done),
        "failed": [{k: r.get(k) for k in ("name", "status", "state", "error")} for r in records if r not in done],
        "latency_s": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "max": max(latencies)},
        "answer_s": {"p50": percentile([r["answered_s"] for r in records], 50),
                     "p95": percentile([r["answered_s"] for r in records], 95)},
        "making_s": {"median": statistics.median(r["making_s"] for r in done)},
        "largest_position": max(r["position"] or 0 for r in records),
        "notes": {"min": min(r["notes"] for r in done), "median": statistics.median(r["notes"] for r in done)},
        "server_memory_mb": memory, "load": {"before": load_before, "after": os.getloadavg()[0]},
    }


def wait_until_up(base: str, server: subprocess.Popen, timeout_s: float = 300) -> None:
    import httpx2

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server stopped:\n{server.stdout.read()[-3000:]}")
        try:
            if httpx2.get(f"{base}/api/model", timeout=5).status_code == 200:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.5)
    sys.exit(f"the server did not answer in {timeout_s} s")


def render(result: dict) -> str:
    latency, answer = result["latency_s"], result["answer_s"]
    memory = result["server_memory_mb"]
    return "\n".join([
        "# `img2music serve` under load",
        "",
        f"{result['device']}, {result['backend']}; commit `{result['commit']}`; the shipped model, WAV on. "
        f"{result['clients']} clients sent {result['pictures']} pictures in all ({result['source']}), each client "
        "its share at once, to one server process that makes one picture at a time. 1-minute load average "
        f"{result['load']['before']:.1f} before, {result['load']['after']:.1f} after (2 cores: above 2, other work "
        "slowed every figure). Command: `make bench-serve` "
        f"(`python reproduce/bench_serve.py --clients {result['clients']} --pictures {result['pictures']}`).",
        "",
        "| figure | value |",
        "|---|---|",
        f"| pictures answered (202, with a place in the queue) | {result['answered']} of {result['pictures']} |",
        f"| pieces made | {result['done']} of {result['pictures']} (failed or lost: {len(result['failed'])}) |",
        f"| answer to a POST, p50 / p95 | {answer['p50'] * 1000:.0f} / {answer['p95'] * 1000:.0f} ms |",
        f"| latency, POST to piece made (queue wait included), p50 / p95 / max | {latency['p50']:.1f} / "
        f"{latency['p95']:.1f} / {latency['max']:.1f} s |",
        f"| making one piece (its time at the worker), median | {result['making_s']['median']:.2f} s |",
        f"| largest place in the queue a picture was given | {result['largest_position']} |",
        f"| all {result['pictures']} pictures, first POST to last piece | {result['wall_s']:.1f} s |",
        f"| server start-up (imports, model load) to its first answer | {result['start_up_s']:.1f} s |",
        f"| server peak memory (VmHWM) / at the end (VmRSS) | {memory['peak']:.0f} / {memory['now']:.0f} MB |",
        f"| notes per piece, min / median | {result['notes']['min']} / {result['notes']['median']:g} |",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=4, help="client threads (default: 4)")
    parser.add_argument("--pictures", type=int, default=20, help="pictures in all (default: 20)")
    parser.add_argument("--out", type=Path, default=REPO / "results")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.pictures < args.clients:
        parser.error("--clients must be at least 1 and --pictures at least --clients")

    from img2music_tf.environment import environment
    from img2music_tf.files import write_json, write_text

    env = environment()
    result = {"commit": env["commit"], "device": env["device"], "backend": f"{env['backend']} {env['backend_version']}",
              **measure(args.clients, args.pictures)}
    write_json(args.out / "bench_serve.json", result)
    write_text(args.out / "bench_serve.md", render(result))
    print(render(result))
    return 0 if result["done"] == result["pictures"] else 1


if __name__ == "__main__":
    sys.exit(run_reporting(main))
