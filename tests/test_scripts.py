"""scripts/start and scripts/roost as a new user runs them from a fresh checkout: the commands they
print work as printed, in a shell, without the virtual environment activated."""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.processes import roost_env
from tests.support import free_port

CHECKOUT = Path(__file__).resolve().parents[1]


def start(*args: str, env: dict[str, str], cwd: Path, output: Path) -> str:
    """./scripts/start with `args` until it serves; stop it and return what it printed (kept in `output`)."""
    port = free_port()
    with open(output, "w") as out:
        process = subprocess.Popen(
            ["./scripts/start", *args, "--port", str(port)], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, f"scripts/start exited {process.returncode}:\n{output.read_text()}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"scripts/start did not serve within 90 s:\n{output.read_text()}")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    printed = output.read_text()
    assert f'"listen": "127.0.0.1:{port}"' in printed  # --port went to `roost serve`
    return printed


def hinted(output: str, marker: str) -> str:
    line = next(line for line in output.splitlines() if marker in line)
    return line.split(" with: ", 1)[1]


def shell(command: str, env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(["bash", "-c", command], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_the_commands_scripts_start_prints_work_as_printed(tmp_path):
    # The checkout's root, as the README says; the database goes elsewhere, and no .venv/bin on PATH.
    env = roost_env(ROOST_DATABASE_URL=f"sqlite:///{tmp_path / 'roost.db'}")
    env["PATH"] = ":".join(part for part in env["PATH"].split(":") if not part.startswith(str(CHECKOUT)))

    first = start("--name", "Acme Cloud", env=env, cwd=CHECKOUT, output=tmp_path / "start.out")
    assert "(Acme Cloud)" in first and "sk_admin_test_" in first
    assert "set-branding" not in first  # named already

    again = shell("./scripts/roost init", env, CHECKOUT)  # what the next ./scripts/start prints first
    assert "Already initialised" in again and "sk_admin_test_" not in again
    command = hinted(again, "keys create")
    assert command.startswith("./scripts/roost keys create --org org_")
    assert "Created test admin key" in shell(command, env, CHECKOUT)
    assert "Acme Cloud" in shell("./scripts/roost orgs list", env, CHECKOUT)


def test_scripts_roost_runs_from_anywhere_and_names_itself_in_its_hints(tmp_path):
    env = roost_env(ROOST_DATABASE_URL=f"sqlite:///{tmp_path / 'roost.db'}")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    wrapper = str(CHECKOUT / "scripts" / "roost")
    created = shell(f"{wrapper} init", env, elsewhere)
    rename = hinted(created, "set-branding")
    assert rename.startswith(f"{wrapper} orgs set-branding org_")
    assert '"name": "Your platform"' in shell(rename, env, elsewhere)


def test_the_example_platform_takes_free_ports_when_its_own_are_taken(tmp_path):
    """examples/platform/run.sh beside another server on its ports (say ./scripts/start's Roost)
    says so and runs on others, the platform talking to its own Roost."""
    taken = []
    for _ in range(2):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken.append(listener)
    roost_port, platform_port = (listener.getsockname()[1] for listener in taken)
    env = roost_env(ROOST_PORT=str(roost_port), PLATFORM_PORT=str(platform_port), EXAMPLE_DATA=str(tmp_path / "data"))
    output = tmp_path / "run.out"
    with open(output, "w") as out:
        process = subprocess.Popen(["examples/platform/run.sh"], env=env, cwd=CHECKOUT, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        platform_url = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and platform_url is None:
            assert process.poll() is None, f"run.sh exited {process.returncode}:\n{output.read_text()}"
            opened = re.search(r"open (http://127\.0\.0\.1:\d+)", output.read_text())
            platform_url = opened.group(1) if opened else time.sleep(0.1)
        assert platform_url, output.read_text()
        printed = output.read_text()
        assert f"Port {roost_port} is in use" in printed and f"Port {platform_port} is in use" in printed
        assert f":{roost_port}" not in printed.split("Roost: ")[1].split()[0]
        with httpx.Client(base_url=platform_url, timeout=10) as browser:
            while time.monotonic() < deadline:
                assert process.poll() is None, f"run.sh exited {process.returncode}:\n{output.read_text()}"
                try:
                    signed_in = browser.post("/signin", data={"name": "Ana"}, follow_redirects=True)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            assert signed_in.status_code == 200 and "Hello, Ana" in signed_in.text, output.read_text()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        for listener in taken:
            listener.close()
