"""The benchmark (bench/run.py) still runs against the current code: a tiny smoke run of it.

It measures nothing worth keeping; it catches the benchmark drifting from the service's API
(which once left it unable to start) and a list plan that scans a whole table.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support import PG_URL

REPO = Path(__file__).resolve().parent.parent


def test_benchmark_smoke_run(tmp_path: Path) -> None:
    command = [sys.executable, str(REPO / "bench" / "run.py"), "--smoke", "--generator", "python", "--out", str(tmp_path)]
    if PG_URL:
        command += ["--postgres-url", PG_URL]
    else:
        command.append("--sqlite-only")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    report = json.loads((tmp_path / "results" / "latest.json").read_text())
    assert report["mode"] == "smoke"
    expected = {"sqlite", "postgres"} if PG_URL else {"sqlite"}
    assert set(report["databases"]) == expected
    for name, result in report["databases"].items():
        assert "error" not in result, (name, result)
        for endpoint in ("healthz", "create"):
            run = result["throughput"][endpoint]
            assert run["requests"] > 0 and run["errors"] == 0, (name, endpoint, run)
        assert result["throughput"]["create"]["rows_created_incl_warmup"] >= result["throughput"]["create"]["requests"]
        assert len(result["list"]) >= 12
        for row in result["list"]:
            assert row["p50_ms"] > 0 and row["plan"]["full_scans"] == [], (name, row["scenario"], row["plan"])
        assert result["memory_kib_after_run"]["VmRSS"] > 0


def test_create_cost_ladder_smoke_run(tmp_path: Path) -> None:
    """bench/create_cost.py (where a create's CPU goes) still runs: each rung answers without error."""
    command = [
        sys.executable, str(REPO / "bench" / "create_cost.py"), "--duration", "0.5", "--warmup", "0.2", "--rounds", "1",
        "--generator", "python", "--out", str(tmp_path),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "create_cost.json").read_text())
    rungs = [row["rung"] for row in report["rungs"]]
    # The script also checks that the direct rung's session reads back as it was answered.
    assert rungs == ["healthz", "plain", "authenticated", "validated", "transaction", "create", "direct"]
    for row in report["rungs"]:
        assert row["rps"] > 0 and row["cpu_ms"] > 0, row


def test_provisioning_benchmark_smoke_run_and_its_transaction_budget(tmp_path: Path) -> None:
    """bench/provisioning.py runs, and one `POST /embed/api/code` (the request and the whole
    provisioning it runs, the simulator's own work excluded) begins at most 8 transactions: a
    count, so the same on every run."""
    command = [sys.executable, str(REPO / "bench" / "provisioning.py"), "--signups", "1", "--out", str(tmp_path)]
    command += ["--postgres-url", PG_URL] if PG_URL else ["--sqlite-only"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "results" / "provisioning.json").read_text())
    assert set(report) == ({"sqlite", "postgres"} if PG_URL else {"sqlite"})
    for name, result in report.items():
        (transactions,) = result["transactions_per_code_request"]
        assert 3 <= transactions <= 8, (name, result)
        # Three Graph round trips at least (exchange, then debug_token beside the reads, then the subscription).
        assert result["round_trips_until_completed"] >= 3, (name, result)


def test_inbound_benchmark_smoke_run(tmp_path: Path) -> None:
    """bench/inbound.py (Meta's webhooks into Roost) runs every kind of POST against a real
    `roost serve`; the script itself checks each answer and the rows left (one relay row per
    forwarded entry, one change per distinct account_update, the latest violation applied)."""
    command = [sys.executable, str(REPO / "bench" / "inbound.py"), "--smoke", "--out", str(tmp_path)]
    command += ["--postgres-url", PG_URL] if PG_URL else ["--sqlite-only"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "results" / "inbound.json").read_text())
    assert report["mode"] == "smoke" and set(report["databases"]) == ({"sqlite", "postgres"} if PG_URL else {"sqlite"})
    for name, result in report["databases"].items():
        assert list(result["kinds"]) == ["unknown_waba", "connected_waba", "coexistence_forwarded", "coexistence_delivered", "account_update",
                                         "account_update_duplicate"], name
        for kind, run in result["kinds"].items():
            assert run["requests"] == report["requests"] and run["posts_per_second"] > 0 and run["p99_ms"] >= run["p50_ms"] > 0, (name, kind, run)
        for kind in ("coexistence_forwarded", "coexistence_delivered"):
            assert result["kinds"][kind]["relay_rows_added"] == report["requests"], (name, kind)
        assert result["kinds"]["coexistence_delivered"]["relay_rows_delivered"] == report["warmup"] + report["requests"], name
        assert result["stored_account_updates"] == report["warmup"] + report["requests"], name
