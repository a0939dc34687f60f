# Roost's container image: `roost serve` by default; the same image runs `roost worker` and,
# once per release before the new processes start, `roost migrate` (see docs/deploying.md).

# -- build: the package and its dependencies, into a virtual environment copied whole below --
FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/roost
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/roost/bin/pip install .

# -- run: no compiler, no pip cache, not root ------------------------------------------------
FROM python:3.11-slim-bookworm
RUN groupadd --system --gid 10001 roost \
 && useradd --system --uid 10001 --gid roost --home-dir /home/roost --create-home --shell /usr/sbin/nologin roost
COPY --from=build /opt/roost /opt/roost
ENV PATH=/opt/roost/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ROOST_MIGRATE_ON_START=0
USER 10001:10001
WORKDIR /home/roost
EXPOSE 8000
# Liveness only (no database): readiness is /readyz, for the balancer. `roost worker` serves no
# HTTP: run it with the health check off (compose.yaml does).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["roost"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000", "--no-worker"]
