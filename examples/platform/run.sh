#!/usr/bin/env bash
# One command: Roost in test mode and the example platform, side by side, on 127.0.0.1:8000 and
# :8001, or on free ports when those are taken (e.g. by the Roost of ./scripts/start): it says which.
# Open the platform's address it prints, sign in, and connect WhatsApp (the simulator plays Meta).
#   ROOST_PORT=8100 PLATFORM_PORT=8101 ./examples/platform/run.sh    other preferred ports
#   EXAMPLE_DATA=/tmp/example ./examples/platform/run.sh             keep its data elsewhere
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DATA=${EXAMPLE_DATA:-$ROOT/examples/platform/.data}
mkdir -p "$DATA"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
# Editable installs follow the code: install again only when a pyproject.toml changed.
if [ ! -x .venv/bin/roost ] || [ pyproject.toml -nt .venv/bin/roost ] || [ clients/python/pyproject.toml -nt .venv/bin/roost ] \
   || ! .venv/bin/python -c 'import roost_client' 2>/dev/null; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e . -e clients/python
fi

# The port wanted if nothing listens on it, else a free one (after saying so).
port_for() {
  .venv/bin/python - "$1" "$2" <<'PY'
import socket, sys
wanted, what = int(sys.argv[1]), sys.argv[2]
for port in (wanted, 0):
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            print(f"Port {wanted} is in use (another Roost, such as the one ./scripts/start runs?): "
                  f"{what} takes another one.", file=sys.stderr)
            continue
        print(probe.getsockname()[1])
        break
PY
}
ROOST_PORT=$(port_for "${ROOST_PORT:-8000}" "this example's Roost")
PLATFORM_PORT=$(port_for "${PLATFORM_PORT:-8001}" "the example platform")
if [ "$PLATFORM_PORT" = "$ROOST_PORT" ]; then PLATFORM_PORT=$(port_for 0 "the example platform"); fi

export ROOST_DATABASE_URL="sqlite:///$DATA/roost.db"
export ROOST_WEBHOOK_ALLOW_PRIVATE=1          # the platform's webhook URL is on loopback
KEY_FILE=$DATA/admin_key
if [ ! -s "$KEY_FILE" ]; then
  .venv/bin/roost init --name "Example platform" --json \
    | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["admin_key"])' > "$KEY_FILE"
fi

.venv/bin/roost serve --port "$ROOST_PORT" &
ROOST_PID=$!
trap 'kill $ROOST_PID 2>/dev/null' EXIT
for _ in $(seq 1 100); do
  kill -0 "$ROOST_PID" 2>/dev/null || { echo "Roost did not start (see above)." >&2; exit 1; }
  curl -fsS "http://127.0.0.1:$ROOST_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done

export ROOST_URL=http://127.0.0.1:$ROOST_PORT PLATFORM_URL=http://127.0.0.1:$PLATFORM_PORT
echo "Roost: $ROOST_URL   The example platform: open $PLATFORM_URL"
ROOST_KEY=$(cat "$KEY_FILE") .venv/bin/python -m uvicorn --factory examples.platform.app:app_from_environment \
  --host 127.0.0.1 --port "$PLATFORM_PORT"
