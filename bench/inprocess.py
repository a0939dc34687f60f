"""CPU time per create and per list page through Roost's ASGI app in this one process (SQLite, no
HTTP server, no load generator): a steadier comparison of two versions of the code than
bench/run.py on a busy machine, especially when both run side by side.

    PYTHONPATH=/path/to/other/checkout/src .venv/bin/python bench/inprocess.py [--creates 300] [--lists 100]

After a warm-up (30 creates, 5 pages) it makes `--creates` creates with the seed body, then reads
`--lists` pages of `?limit=100&status=pending` (100 sessions each once there are enough), and
prints one JSON line: CPU milliseconds (time.process_time) per create and per page."""

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import SESSIONS_PATH, seed_body  # noqa: E402

from roost.app import create_app  # noqa: E402
from roost.config import Settings  # noqa: E402
from roost.kit.crypto import new_key_text  # noqa: E402
from roost.organizations import service as org_service  # noqa: E402
from roost.runtime import build_runtime  # noqa: E402


async def measure(creates: int, lists: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            _env_file=None, database_url=f"sqlite:///{folder}/roost.db", secret_key=new_key_text(),
            log_level="error", rate_limit_per_minute=0,
        )  # fmt: skip
        runtime = build_runtime(settings)
        app = create_app(runtime, run_worker=False)
        async with app.router.lifespan_context(app):
            async with runtime.sessions() as db, db.begin():
                organization = await org_service.create_organization(db, runtime.keyring, "Bench in process")
                await db.flush()
                _, key = await org_service.create_admin_key(db, organization.id, livemode=False)
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            body = json.dumps(seed_body())
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://roost") as client:

                async def create() -> None:
                    response = await client.post(SESSIONS_PATH, content=body, headers=headers)
                    assert response.status_code == 201, response.text

                async def page() -> None:
                    response = await client.get(SESSIONS_PATH, params={"limit": "100", "status": "pending"}, headers=headers)
                    assert response.status_code == 200, response.text

                for _ in range(30):
                    await create()
                for _ in range(5):
                    await page()
                started = time.process_time()
                for _ in range(creates):
                    await create()
                middle = time.process_time()
                for _ in range(lists):
                    await page()
                ended = time.process_time()
        await runtime.engine.dispose()
    return {"create_cpu_ms": round((middle - started) * 1000 / creates, 3), "list_cpu_ms": round((ended - middle) * 1000 / lists, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creates", type=int, default=300)
    parser.add_argument("--lists", type=int, default=100)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.creates, args.lists))))


if __name__ == "__main__":
    main()
