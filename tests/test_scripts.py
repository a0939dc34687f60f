"""scripts/start and scripts/roost as a new user runs them from a fresh checkout: the commands they
print work as printed, in a shell, without the virtual environment activated."""

import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.processes import roost_env
from tests.support import free_port

CHECKOUT = Path(__file__).resolve().parents[1]


def start(*args: str, env: dict[str, str], cwd: Path) -> str:
    """./scripts/start with `args` until it serves; stop it and return what it printed."""
    port = free_port()
    output = cwd / "start.out"
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

    first = start("--name", "Acme Cloud", env=env, cwd=CHECKOUT)
    assert "(Acme Cloud)" in first and "sk_admin_test_" in first
    assert "set-branding" not in first  # named already

    again = start(env=env, cwd=CHECKOUT)
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
