#!/usr/bin/env bash
# One command: Roost in test mode on :8000 and the example platform on :8001, side by side.
# Open http://127.0.0.1:8001, sign in, and connect WhatsApp (the simulator plays Meta).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DATA=$ROOT/examples/platform/.data
mkdir -p "$DATA"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e . -e clients/python

export ROOST_DATABASE_URL="sqlite:///$DATA/roost.db"
export ROOST_WEBHOOK_ALLOW_PRIVATE=1          # the platform's webhook URL is on loopback
KEY_FILE=$DATA/admin_key
if [ ! -s "$KEY_FILE" ]; then
  .venv/bin/roost init --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["admin_key"])' > "$KEY_FILE"
fi

.venv/bin/roost serve --port 8000 &
ROOST_PID=$!
trap 'kill $ROOST_PID 2>/dev/null' EXIT
for _ in $(seq 1 50); do
  curl -fsS http://127.0.0.1:8000/healthz >/dev/null 2>&1 && break
  sleep 0.2
done

export ROOST_URL=http://127.0.0.1:8000 PLATFORM_URL=http://127.0.0.1:8001
ROOST_KEY=$(cat "$KEY_FILE") .venv/bin/python -m uvicorn --factory examples.platform.app:app_from_environment \
  --host 127.0.0.1 --port 8001
