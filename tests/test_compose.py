"""docker-compose.yml: every file it mounts or builds from exists, and its services' settings match
the exporter (flags, port, /metrics), the Prometheus scrape config and the Grafana provisioning."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from exporter.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
EXPORTER_PORT = 9879
PROMETHEUS_PORT = 9090


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def service(name: str) -> dict[str, Any]:
    svc: dict[str, Any] = compose()["services"][name]
    return svc


def command(name: str) -> list[str]:
    cmd = service(name).get("command", [])
    return cmd.split() if isinstance(cmd, str) else list(cmd)


def flag(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
        if arg == name and i + 1 < len(args):
            return args[i + 1]
    return None


def bind_mounts(name: str) -> list[tuple[Path, str]]:
    """(host path, container path) of a service's bind mounts (named volumes left out)."""
    out = []
    for volume in service(name).get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") != "bind":
                continue
            source, target = volume["source"], volume["target"]
        else:
            source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            out.append(((COMPOSE_FILE.parent / source).resolve(), target))
    return out


def host_path(name: str, container_path: str) -> Path:
    """The host file a container path of a service maps to through its bind mounts."""
    target = PurePosixPath(container_path)
    for host, mount in bind_mounts(name):
        mount_path = PurePosixPath(mount)
        if target == mount_path or mount_path in target.parents:
            return host / target.relative_to(mount_path)
    raise AssertionError(f"{name}: {container_path} is not mounted from the host")


def published(name: str) -> set[tuple[int, int]]:
    out = set()
    for port in service(name).get("ports", []):
        m = re.fullmatch(r"(?:[\d.]+:)?(\d+):(\d+)(?:/tcp)?", str(port))
        assert m, port
        out.add((int(m.group(1)), int(m.group(2))))
    return out


def test_services() -> None:
    assert set(compose()["services"]) == {"exporter", "prometheus", "grafana"}


@pytest.mark.parametrize("name", ["exporter", "prometheus", "grafana"])
def test_every_mounted_host_path_exists(name: str) -> None:
    for host, _ in bind_mounts(name):
        assert host.exists(), f"{name} mounts {host}, which does not exist"
        assert ROOT in (host, *host.parents), f"{name} mounts {host} from outside the repository"


def test_exporter_builds_from_the_repository_dockerfile() -> None:
    build = service("exporter")["build"]
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    dockerfile = context / build.get("dockerfile", "Dockerfile")
    assert context == ROOT
    assert dockerfile.is_file(), f"{dockerfile} does not exist"
    text = dockerfile.read_text()
    # The compose command is the exporter's arguments: the entrypoint must be the exporter.
    assert re.search(r'^ENTRYPOINT \["tencent-live-exporter"\]', text, re.M), "ENTRYPOINT"
    assert re.search(rf"^EXPOSE {EXPORTER_PORT}\b", text, re.M)


def test_exporter_runs_the_demo_on_its_documented_port() -> None:
    args = command("exporter")
    assert "--demo" in args
    assert flag(args, "--web.listen-address") == f":{EXPORTER_PORT}"
    # Every flag is one the exporter accepts.
    parsed = build_parser().parse_args(args)
    assert parsed.demo is True
    assert parsed.listen_address == f":{EXPORTER_PORT}"
    assert (EXPORTER_PORT, EXPORTER_PORT) in published("exporter")
    assert "--web.listen-address" in (ROOT / "README.md").read_text()


def test_prometheus_scrapes_the_exporter_and_loads_the_rules() -> None:
    svc = service("prometheus")
    assert re.fullmatch(r"prom/prometheus:v[\d.]+", svc["image"]), "pin an official image"
    args = command("prometheus")
    config_path = host_path("prometheus", flag(args, "--config.file") or "")
    assert config_path == ROOT / "prometheus" / "prometheus.yml"
    config = yaml.safe_load(config_path.read_text())
    for rule_file in config["rule_files"]:
        assert (config_path.parent / rule_file).is_file(), rule_file
    assert "alerts.yml" in config["rule_files"]
    [job] = config["scrape_configs"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert job.get("scheme", "http") == "http"
    [static] = job["static_configs"]
    assert static["targets"] == [f"exporter:{EXPORTER_PORT}"]
    # ExporterDown watches this job.
    alerts = (ROOT / "prometheus" / "alerts.yml").read_text()
    assert f'up{{job="{job["job_name"]}"}}' in alerts
    assert flag(args, "--web.listen-address") in (None, f":{PROMETHEUS_PORT}")
    assert (PROMETHEUS_PORT, PROMETHEUS_PORT) in published("prometheus")


def test_grafana_is_provisioned() -> None:
    svc = service("grafana")
    assert re.fullmatch(r"grafana/grafana(-oss)?:[\d.]+", svc["image"]), "pin an official image"
    provisioning = host_path("grafana", "/etc/grafana/provisioning")
    assert provisioning == ROOT / "grafana" / "provisioning"
    for sub in ("datasources", "dashboards", "alerting"):
        assert any((provisioning / sub).glob("*.yml")), sub
    providers = yaml.safe_load((provisioning / "dashboards" / "dashboards.yml").read_text())
    for provider in providers["providers"]:
        dashboards = host_path("grafana", provider["options"]["path"])
        assert dashboards == ROOT / "grafana" / "dashboards"
        assert len(list(dashboards.glob("*.json"))) == 3
    home = svc.get("environment", {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        assert host_path("grafana", home).is_file()
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    [ds] = datasources["datasources"]
    assert ds["type"] == "prometheus"
    assert ds["url"] == f"http://prometheus:{PROMETHEUS_PORT}"
    assert (3000, 3000) in published("grafana")


def test_readme_endpoints_match() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "`/metrics`" in readme
    assert f":{EXPORTER_PORT}" in readme
