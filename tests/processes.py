"""Running the real `roost` command in child processes: one-shot commands and `roost serve` /
`roost worker` as long-running processes (for the CLI, JSON-log and multi-process tests)."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from roost.db.engine import async_url
from tests.support import drop_postgres_database, free_port, own_database_url

ROOST = Path(sys.executable).with_name("roost")
COMMAND = [str(ROOST)] if ROOST.exists() else [sys.executable, "-m", "roost.cli"]


def database_for(backend: str, directory: Path) -> str:
    """The database URL child processes share: a SQLite file, or a private PostgreSQL database
    (drop it with `release_database`)."""
    return own_database_url(backend) or f"sqlite:///{directory / 'roost.db'}"


def release_database(url: str) -> None:
    if url.startswith("postgresql"):
        drop_postgres_database(url)


def execute_sql(url: str, statement: str, **params: Any) -> list[Any]:
    """One statement on its own short-lived connection (from the test, beside the processes)."""

    async def main() -> list[Any]:
        engine = create_async_engine(async_url(url), poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                result = await connection.execute(text(statement), params)
                return list(result.fetchall()) if result.returns_rows else []
        finally:
            await engine.dispose()

    return asyncio.run(main())


def roost_env(**settings: str) -> dict[str, str]:
    """The parent's environment without any ROOST_* variable, plus the given settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("ROOST_")}
    env.update(settings)
    return env


def run_roost(
    *args: str, env: dict[str, str], cwd: Path, check: bool = True, input: str | None = None
) -> subprocess.CompletedProcess:
    result = subprocess.run([*COMMAND, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, input=input)
    if check and result.returncode != 0:
        raise AssertionError(f"roost {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def run_roost_json(*args: str, env: dict[str, str], cwd: Path, input: str | None = None) -> Any:
    return json.loads(run_roost(*args, env=env, cwd=cwd, input=input).stdout)


class RoostProcess:
    """A `roost serve` or `roost worker` child process; its stderr goes to a file read after stop()."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, name: str) -> None:
        self.stderr_path = cwd / f"{name}.stderr"
        self.stdout_path = cwd / f"{name}.stdout"
        with open(self.stdout_path, "w") as stdout, open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen([*COMMAND, *args], env=env, cwd=cwd, stdout=stdout, stderr=stderr)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_for_log(self, event: str, timeout: float = 30) -> None:
        """Wait until the process has logged `event` (a JSON log line's "event")."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if f'"event": "{event}"' in self.stderr():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"roost exited {self.process.returncode}:\n{self.stderr()}")
            time.sleep(0.05)
        raise AssertionError(f"no {event} within {timeout} s:\n{self.stderr()}")


class RoostServer(RoostProcess):
    """`roost serve` on a free loopback port, started and ready (GET /healthz answers)."""

    def __init__(
        self, env: dict[str, str], cwd: Path, name: str = "serve", extra_args: tuple[str, ...] = (), wait: bool = True
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        super().__init__(["serve", "--port", str(self.port), *extra_args], env, cwd, name)
        if wait:
            self.wait_until_ready()

    def wait_until_ready(self, timeout: float = 30) -> None:
        """Pass wait=False to start several processes at once, then wait for each."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"roost serve exited {self.process.returncode}:\n{self.stderr()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"roost serve did not answer within {timeout} s:\n{self.stderr()}")

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)
