"""Load generation at a fixed concurrency: wrk (preferred), or a small asyncio client.

Both keep N keep-alive connections busy for a fixed time, each sending its next request as soon
as the previous answer arrived (closed loop), and report requests/s and latency percentiles.

Run as a script, this is the Python generator (one process, asyncio, uvloop when present):
    python bench/load.py --url URL --connections 16 --duration 10 [--method POST --body-file F] [--header 'K: V']
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

WRK_LUA = r"""
wrk.method = "%(method)s"
wrk.body = %(body)s
%(headers)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%%d,"duration_us":%%d,"errors":{"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d},' ..
    '"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,"mean_us":%%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]" if text else "nil"


def ensure_wrk(install: bool = True) -> str | None:
    """The wrk binary; installs Debian's package when missing and we are root. None if unavailable."""
    found = shutil.which("wrk")
    if found or not install:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    print("  · wrk is missing: apt-get install -y wrk", flush=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "timeout": 600}
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, **quiet).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, **quiet)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], env=env, **quiet)
    return shutil.which("wrk")


def wrk_version(binary: str) -> str:
    done = subprocess.run([binary, "--version"], capture_output=True, text=True)
    return (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0].strip()


def run_wrk(
    binary: str, url: str, connections: int, duration: float, method: str = "GET",
    body: str = "", headers: dict[str, str] | None = None, threads: int = 1,
) -> dict[str, Any]:
    header_lines = "\n".join(f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in (headers or {}).items())
    script = WRK_LUA % {"method": method, "body": _lua_string(body), "headers": header_lines}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        done = subprocess.run(
            [binary, f"-t{threads}", f"-c{connections}", f"-d{int(round(duration))}s", "--timeout", "10s", "-s", handle.name, url],
            capture_output=True, text=True, timeout=duration + 120,
        )
    finally:
        os.unlink(handle.name)
    line = next((l for l in done.stdout.splitlines() if l.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-1000:]} {done.stderr[-1000:]}")
    raw = json.loads(line[len("BENCH_JSON "):])
    seconds = raw["duration_us"] / 1e6
    failed = sum(raw["errors"].values())
    return {
        "requests": raw["requests"],
        "seconds": round(seconds, 2),
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000, "mean_ms": round(raw["mean_us"] / 1000, 3),
        "errors": failed, "error_detail": raw["errors"],  # "status" = answers that were not 2xx/3xx
    }


def run_python(
    url: str, connections: int, duration: float, method: str = "GET", body: str = "", headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The fallback generator, in a subprocess of its own (so its CPU is counted like wrk's)."""
    with tempfile.NamedTemporaryFile("w", suffix=".body", delete=False) as handle:
        handle.write(body)
    args = [sys.executable, str(Path(__file__)), "--url", url, "--connections", str(connections),
            "--duration", str(duration), "--method", method, "--body-file", handle.name]
    for name, value in (headers or {}).items():
        args += ["--header", f"{name}: {value}"]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=duration + 120)
    finally:
        os.unlink(handle.name)
    if done.returncode != 0:
        raise RuntimeError(f"python load generator failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


# -- the Python generator itself ---------------------------------------------------------


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def read_http_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One HTTP/1.1 request or answer from a keep-alive connection: its head and its body (by
    Content-Length; the benchmarks' peers never chunk)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)


async def _connection(host: str, port: int, request: bytes, stop_at: float, latencies: list[float], errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head, _ = await read_http_message(reader)
            latencies.append(time.perf_counter() - started)
            if not 200 <= int(head[9:12]) < 400:
                errors.append(int(head[9:12]))
    finally:
        writer.close()


async def _generate(url: str, connections: int, duration: float, method: str, body: bytes, headers: list[str]) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 80
    lines = [f"{method} {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1", f"Host: {host}:{port}", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(*(_connection(host, port, request, stop_at, latencies, errors) for _ in range(connections)))
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    ms = lambda value: round(value * 1000, 3)  # noqa: E731
    return {
        "requests": len(latencies), "seconds": round(seconds, 2), "rps": round(len(latencies) / seconds, 1),
        "p50_ms": ms(_percentile(ordered, 0.50)), "p90_ms": ms(_percentile(ordered, 0.90)),
        "p99_ms": ms(_percentile(ordered, 0.99)), "max_ms": ms(ordered[-1] if ordered else 0),
        "mean_ms": ms(sum(ordered) / len(ordered) if ordered else 0),
        "errors": len(errors), "error_detail": {"status": len(errors)},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body-file")
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    body = Path(args.body_file).read_bytes() if args.body_file else b""
    try:
        from uvloop import run
    except ImportError:
        run = asyncio.run
    result = run(_generate(args.url, args.connections, args.duration, args.method, body, args.header))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
