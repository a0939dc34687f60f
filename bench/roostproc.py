"""Roost as the benchmark runs it: the real `roost` command in subprocesses."""

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def roost_command() -> str:
    """The `roost` script of the interpreter running the benchmark (.venv/bin/roost)."""
    beside = Path(sys.executable).parent / "roost"
    if beside.exists():
        return str(beside)
    found = shutil.which("roost")
    if not found:
        raise SystemExit("cannot find the `roost` command: run with the project's .venv/bin/python")
    return found


def roost_env(database_url: str, secret_key: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("ROOST_")}
    env.update(
        ROOST_DATABASE_URL=database_url,
        ROOST_SECRET_KEY=secret_key,
        ROOST_RATE_LIMIT_PER_MINUTE="0",  # the benchmark measures the server, not the limiter
    )
    return env


def roost_cli(args: list[str], env: dict[str, str], cwd: Path) -> Any:
    """Run `roost ARGS` (e.g. orgs create NAME --json) and return its JSON output."""
    done = subprocess.run([roost_command(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"roost {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout[done.stdout.index("{") :])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: get SIGTERM if the benchmark dies, so no server outlives it."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class RoostServer:
    """`roost serve --port N [ARGS]` in a subprocess; its log goes to a file."""

    def __init__(self, env: dict[str, str], cwd: Path, log_path: Path, args: tuple[str, ...] = ()) -> None:
        self.env, self.cwd, self.log_path, self.args = env, cwd, log_path, args
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> "RoostServer":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [roost_command(), "serve", "--port", str(self.port), *self.args],
            env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"roost serve exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"roost serve was not ready within {timeout} s; see {self.log_path}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def memory(self) -> dict[str, int]:
        """VmRSS (now) and VmHWM (peak) of the server process, in KiB, from /proc/<pid>/status."""
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
        return values

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def postgres_cpu_seconds() -> dict[int, float]:
    """CPU seconds of every process named postgres (the local server's backends)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found[int(entry.name)] = process_cpu_seconds(int(entry.name))
            except OSError:
                continue
    return found


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU used during a measured run: by the server, by PostgreSQL's processes, by the whole machine."""

    def __init__(self, server_pid: int, postgres: bool) -> None:
        self.server_pid, self.postgres = server_pid, postgres

    def __enter__(self) -> "CpuMeter":
        self.started = time.monotonic()
        self.server0 = process_cpu_seconds(self.server_pid)
        self.pg0 = postgres_cpu_seconds() if self.postgres else {}
        self.machine0 = machine_cpu()
        self.children0 = os.times()
        return self

    def __exit__(self, *exc: Any) -> None:
        elapsed = time.monotonic() - self.started
        server_seconds = process_cpu_seconds(self.server_pid) - self.server0
        self.result = {"server_cpu_seconds": round(server_seconds, 2), "server_cpu_percent": round(100 * server_seconds / elapsed, 1)}
        children = os.times()
        used = (children.children_user + children.children_system) - (self.children0.children_user + self.children0.children_system)
        self.result["generator_cpu_percent"] = round(100 * used / elapsed, 1)
        if self.postgres:
            after = postgres_cpu_seconds()
            used_pg = sum(after[pid] - self.pg0.get(pid, 0.0) for pid in after)
            self.result["postgres_cpu_percent"] = round(100 * used_pg / elapsed, 1)
        busy0, total0 = self.machine0
        busy1, total1 = machine_cpu()
        # In % of one core, like the others: 200 % = both cores of a 2-core machine busy.
        machine = 100 * (os.cpu_count() or 1) * (busy1 - busy0) / max(1, total1 - total0)
        self.result["machine_cpu_percent"] = round(machine, 1)
        known = sum(self.result[name] for name in ("server_cpu_percent", "generator_cpu_percent", "postgres_cpu_percent") if name in self.result)
        self.result["other_cpu_percent"] = round(max(0.0, machine - known), 1)


class QuietWaiter:
    """Before a measurement, waits until the machine is idle (less than `limit_percent` of one core
    busy over a second), so that another program's load does not skew it. Waits at most
    `patience` s each time and `budget` s in all; returns the last reading."""

    def __init__(self, budget: float, limit_percent: float = 15.0) -> None:
        self.budget, self.limit = budget, limit_percent
        self.waited = 0.0

    def __call__(self, patience: float) -> float:
        started = time.monotonic()
        deadline = started + max(0.0, min(patience, self.budget - self.waited))
        while True:
            busy0, total0 = machine_cpu()
            time.sleep(0.5)
            busy1, total1 = machine_cpu()
            used = 100 * (os.cpu_count() or 1) * (busy1 - busy0) / max(1, total1 - total0)
            if used < self.limit or time.monotonic() >= deadline:
                self.waited += time.monotonic() - started
                return round(used, 1)
