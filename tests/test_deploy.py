"""Deployment files: Kubernetes manifests, Dockerfile, systemd unit.

No cluster, Docker engine or systemd is needed: manifests are validated offline against the
Kubernetes JSON schemas shipped by the `kubernetes-validate` package, kustomizations are resolved
here (and compared with `kubectl kustomize` where kubectl is installed), the Prometheus Operator
CRDs are checked structurally, and every flag, port and path the files use is checked against
the exporter itself.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import __version__
from exporter.cli import build_parser
from tests.e2e import ExporterProcess, wait_for

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"
BASE = K8S / "base"
SHARDED = K8S / "overlays" / "sharded"
RULES = ROOT / "prometheus" / "alerts.yml"
GENERATOR = ROOT / "scripts" / "gen-prometheusrule"
UNIT = ROOT / "deploy" / "systemd" / "tencent-live-exporter.service"
ENV_EXAMPLE = ROOT / "deploy" / "systemd" / "tencent-live-exporter.env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

PORT = 9879
PORT_NAME = "metrics"
CONFIG_DIR = "/etc/tencent-live-exporter"
CONFIG_FILE = f"{CONFIG_DIR}/config.yaml"
APP_LABEL = {"app.kubernetes.io/name": "tencent-live-exporter"}
SECRET_NAME = "tencent-live-exporter-credentials"
# Kinds validated against the Kubernetes schemas; the other two are Prometheus Operator CRDs.
CORE_KINDS = {"ConfigMap", "Deployment", "NetworkPolicy", "Secret", "Service", "StatefulSet"}
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
# The oldest Kubernetes release these manifests are meant for, and the newest with schemas.
K8S_VERSIONS = ("1.27.0", "latest")
WORKLOADS = {"Deployment", "StatefulSet"}

Resource = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Helpers


def load_docs(path: Path) -> list[Resource]:
    """Every non-empty document of a (multi-document) YAML file."""
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    for d in docs:
        assert isinstance(d, dict), f"{path}: a document is not a mapping"
    return docs


def exporter_flags() -> set[str]:
    """Every option string the exporter's command line accepts (what --help lists)."""
    return {opt for action in build_parser()._actions for opt in action.option_strings}


def flags_of(args: Iterable[str]) -> list[str]:
    return [a.split("=", 1)[0] for a in args if a.startswith("--")]


def flag_value(args: list[str], flag: str) -> str | None:
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def assert_flags_exist(flags: Iterable[str], where: str) -> None:
    known = exporter_flags()
    missing = sorted({f for f in flags if f not in known})
    assert not missing, (
        f"{where} passes flag(s) that tencent-live-exporter does not accept "
        f"(not in `tencent-live-exporter --help`): {', '.join(missing)}"
    )


def merge(base: Any, patch: Any) -> Any:
    """A strategic-merge patch as far as these manifests use it: maps merge, the rest replaces."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(patch)


def key(resource: Resource) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


KUSTOMIZATION_KEYS = {"apiVersion", "kind", "namespace", "resources", "patches", "images"}


def kustomize(directory: Path) -> list[Resource]:
    """Resolve a kustomization by hand: resources (files and bases), patches, namespace, images.

    Fails on any kustomize feature the resolver does not implement, so that a new one gets
    implemented here rather than silently ignored.
    """
    k = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unsupported = set(k) - KUSTOMIZATION_KEYS
    assert not unsupported, (
        f"{directory}: kustomization keys not resolved by the test: {unsupported}"
    )
    assert k["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert k["kind"] == "Kustomization"
    resources: list[Resource] = []
    for entry in k.get("resources", []):
        path = (directory / entry).resolve()
        assert path.exists(), f"{directory}/kustomization.yaml: resource {entry} does not exist"
        resources.extend(kustomize(path) if path.is_dir() else load_docs(path))
    for patch in k.get("patches", []):
        assert set(patch) == {"path"}, f"{directory}: only file patches are resolved: {patch}"
        for doc in load_docs(directory / patch["path"]):
            matches = [r for r in resources if key(r) == key(doc)]
            assert len(matches) == 1, f"{directory}: patch {patch['path']} matches {len(matches)}"
            target = matches[0]
            if doc.get("$patch") == "delete":
                resources.remove(target)
            else:
                resources[resources.index(target)] = merge(target, doc)
    for r in resources:
        if "namespace" in k:
            r.setdefault("metadata", {})["namespace"] = k["namespace"]
        for image in k.get("images", []):
            for c in containers(r):
                name, _, tag = c["image"].partition(":")
                if name == image["name"]:
                    c["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    return resources


def containers(resource: Resource) -> list[dict[str, Any]]:
    if resource["kind"] not in WORKLOADS:
        return []
    spec = resource["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def only(resources: list[Resource], kind: str) -> Resource:
    found = [r for r in resources if r["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def exporter_container(workload: Resource) -> dict[str, Any]:
    (c,) = workload["spec"]["template"]["spec"]["containers"]
    return c


def kustomization(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return data


def patch_files() -> set[Path]:
    out: set[Path] = set()
    for k in K8S.rglob("kustomization.yaml"):
        out |= {
            (k.parent / p["path"]).resolve() for p in kustomization(k.parent).get("patches", [])
        }
    return out


def manifest_files() -> list[Path]:
    """Every manifest under deploy/kubernetes, except kustomizations and patches."""
    patches = patch_files()
    files = sorted(
        p
        for p in K8S.rglob("*")
        if p.suffix in (".yaml", ".yml")
        and p.name != "kustomization.yaml"
        and p.resolve() not in patches
    )
    assert files
    return files


@pytest.fixture(scope="module")
def base() -> list[Resource]:
    return kustomize(BASE)


@pytest.fixture(scope="module")
def sharded() -> list[Resource]:
    return kustomize(SHARDED)


def validate_core(resource: Resource, where: str) -> None:
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("the `kubernetes-validate` package is missing: it belongs to the test extra")

    for version in K8S_VERSIONS:
        v = kubernetes_validate.latest_version() if version == "latest" else version
        try:
            kubernetes_validate.validate(resource, v, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(
                f"{where}: {resource['kind']} invalid for Kubernetes {v}: {path}: {exc.message}"
            )


# ---------------------------------------------------------------------------------------------
# Kubernetes: schemas


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(K8S)))
def test_manifest_file_is_valid(path: Path) -> None:
    for doc in load_docs(path):
        assert doc.get("apiVersion") and doc.get("kind") and doc.get("metadata", {}).get("name")
        kind = doc["kind"]
        assert kind in CORE_KINDS | CRD_KINDS, f"{path}: unexpected kind {kind}"
        if kind in CORE_KINDS:
            validate_core(doc, str(path.relative_to(ROOT)))


@pytest.mark.parametrize("directory", [BASE, SHARDED], ids=["base", "sharded"])
def test_kustomized_output_is_valid(directory: Path) -> None:
    resources = kustomize(directory)
    keys = [key(r) for r in resources]
    assert len(keys) == len(set(keys)), f"duplicate resources: {keys}"
    for r in resources:
        assert r["metadata"].get("namespace") == "monitoring"
        if r["kind"] in CORE_KINDS:
            validate_core(r, f"kustomize {directory.relative_to(ROOT)}")
        else:
            assert r["kind"] in CRD_KINDS


@pytest.mark.parametrize("directory", [BASE, SHARDED], ids=["base", "sharded"])
def test_hand_resolution_matches_kubectl_kustomize(directory: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: the kustomizations are resolved by this test only")
    res = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    theirs = sorted(
        (d for d in yaml.safe_load_all(res.stdout) if d), key=lambda r: json.dumps(key(r))
    )
    ours = sorted(kustomize(directory), key=lambda r: json.dumps(key(r)))
    assert [key(r) for r in ours] == [key(r) for r in theirs]
    assert ours == theirs


# ---------------------------------------------------------------------------------------------
# Kubernetes: kustomize structure


def test_kustomize_structure() -> None:
    for k in K8S.rglob("kustomization.yaml"):
        for entry in kustomization(k.parent).get("resources", []):
            assert (k.parent / entry).exists(), f"{k}: missing resource {entry}"
        for p in kustomization(k.parent).get("patches", []):
            assert (k.parent / p["path"]).is_file(), f"{k}: missing patch {p['path']}"
    listed = {(BASE / r).resolve() for r in kustomization(BASE)["resources"]}
    for path in BASE.glob("*.yaml"):
        if path.name in ("kustomization.yaml", "secret.example.yaml"):
            continue
        assert path.resolve() in listed, f"{path.name} is not listed in base/kustomization.yaml"
    assert "../../base" in kustomization(SHARDED)["resources"]


def test_secret_is_an_example_only(base: list[Resource], sharded: list[Resource]) -> None:
    assert "secret.example.yaml" not in kustomization(BASE)["resources"]
    assert not [r for r in base + sharded if r["kind"] == "Secret"]
    (secret,) = load_docs(BASE / "secret.example.yaml")
    assert secret["metadata"]["name"] == SECRET_NAME
    assert set(secret["stringData"]) == {"TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"}
    text = (BASE / "secret.example.yaml").read_text()
    assert "not listed in kustomization.yaml" in text and "kubectl" in text
    for workload in (only(base, "Deployment"), only(sharded, "StatefulSet")):
        refs = [e["secretRef"]["name"] for e in exporter_container(workload)["envFrom"]]
        assert refs == [SECRET_NAME]


def test_image_tag_is_the_package_version(base: list[Resource], sharded: list[Resource]) -> None:
    for resources in (base, sharded):
        for r in resources:
            for c in containers(r):
                assert c["image"].endswith(f":{__version__}"), c["image"]


# ---------------------------------------------------------------------------------------------
# Kubernetes: flags, ports, paths, security


def test_manifest_flags_exist(base: list[Resource], sharded: list[Resource]) -> None:
    for resources, name in ((base, "base"), (sharded, "overlays/sharded")):
        for r in resources:
            for c in containers(r):
                assert "command" not in c, "the image's ENTRYPOINT is the exporter"
                assert_flags_exist(flags_of(c.get("args", [])), f"{name} {r['kind']} args")


def test_ports_and_probes(base: list[Resource], sharded: list[Resource]) -> None:
    default_listen = build_parser().get_default("listen_address")
    assert default_listen == f":{PORT}"
    for resources in (base, sharded):
        for workload in (r for r in resources if r["kind"] in WORKLOADS):
            c = exporter_container(workload)
            assert flag_value(c["args"], "--web.listen-address") == f":{PORT}"
            assert c["ports"] == [{"name": PORT_NAME, "containerPort": PORT, "protocol": "TCP"}]
            live, ready = c["livenessProbe"]["httpGet"], c["readinessProbe"]["httpGet"]
            assert live == {"path": "/-/healthy", "port": PORT_NAME}
            assert ready == {"path": "/-/ready", "port": PORT_NAME}
            labels = workload["spec"]["template"]["metadata"]["labels"]
            assert APP_LABEL.items() <= labels.items()
        service = only(resources, "Service")
        assert service["spec"]["ports"] == [
            {"name": PORT_NAME, "port": PORT, "targetPort": PORT_NAME, "protocol": "TCP"}
        ]
        assert service["spec"]["selector"] == APP_LABEL
        policy = only(resources, "NetworkPolicy")
        assert policy["spec"]["podSelector"]["matchLabels"] == APP_LABEL
        ports = [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]]
        assert ports and set(ports) == {PORT}


def test_web_paths_exist_in_the_exporter() -> None:
    web = (ROOT / "exporter" / "web" / "routes.py").read_text(encoding="utf-8")
    for path in ("/metrics", "/-/healthy", "/-/ready"):
        assert f'"{path}"' in web, f"exporter/web/routes.py does not serve {path}"


def test_security_and_resources(base: list[Resource], sharded: list[Resource]) -> None:
    for resources in (base, sharded):
        for workload in (r for r in resources if r["kind"] in WORKLOADS):
            pod = workload["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["runAsUser"] == 65532  # the image's USER
            assert pod["automountServiceAccountToken"] is False
            c = exporter_container(workload)
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert c["resources"] == {
                "requests": {"cpu": "50m", "memory": "100Mi"},
                "limits": {"memory": "256Mi"},
            }


def test_config_map_is_a_valid_config(base: list[Resource], tmp_path: Path) -> None:
    from exporter.config import load_config

    workload = only(base, "Deployment")
    c = exporter_container(workload)
    config_file = flag_value(c["args"], "--config.file")
    assert config_file == CONFIG_FILE
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == CONFIG_DIR]
    (volume,) = [
        v for v in workload["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]
    ]
    cm = only(base, "ConfigMap")
    assert volume["configMap"]["name"] == cm["metadata"]["name"]
    assert list(cm["data"]) == ["config.yaml"]
    path = tmp_path / "config.yaml"
    path.write_text(cm["data"]["config.yaml"])
    config = load_config(path, env={})
    for account in config.accounts:
        # No secret in the ConfigMap: credentials come from the Secret through the SDK chain.
        assert account.credentials.uses_default_chain


# ---------------------------------------------------------------------------------------------
# Kubernetes: Prometheus Operator CRDs


def test_service_monitor(base: list[Resource], sharded: list[Resource]) -> None:
    for resources in (base, sharded):
        sm = only(resources, "ServiceMonitor")
        assert sm["apiVersion"] == "monitoring.coreos.com/v1"
        assert set(sm["spec"]) <= {"selector", "endpoints", "namespaceSelector", "jobLabel"}
        service = only(resources, "Service")
        assert (
            sm["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
        )
        # Exactly one Service is selected, so that no pod is scraped twice.
        selected = [
            r
            for r in resources
            if r["kind"] == "Service"
            and sm["spec"]["selector"]["matchLabels"].items() <= r["metadata"]["labels"].items()
        ]
        assert len(selected) == 1
        port_names = {p["name"] for p in service["spec"]["ports"]}
        assert sm["spec"]["endpoints"]
        for ep in sm["spec"]["endpoints"]:
            assert ep["port"] in port_names
            assert ep.get("path", "/metrics") == "/metrics"
            for field in ("interval", "scrapeTimeout"):
                if field in ep:
                    assert re.fullmatch(r"[0-9]+(ms|s|m|h)", ep[field]), ep[field]


def test_prometheus_rule_is_the_rules_file(base: list[Resource]) -> None:
    assert RULES.is_file(), f"{RULES.relative_to(ROOT)} is missing"
    rule = only(base, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(rule["spec"]) == {"groups"}
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    assert rule["spec"]["groups"] == groups, (
        "deploy/kubernetes/base/prometheusrule.yaml differs from prometheus/alerts.yml: "
        "run scripts/gen-prometheusrule"
    )
    for group in groups:
        assert set(group) <= {"name", "interval", "rules", "limit", "query_offset"}
        for r in group["rules"]:
            assert ("alert" in r) != ("record" in r) and isinstance(r["expr"], str)
            allowed = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
            assert set(r) <= allowed


def test_prometheus_rule_file_is_generated() -> None:
    """The committed file is byte for byte the generator's output, so it cannot drift."""
    assert os.access(GENERATOR, os.X_OK), f"{GENERATOR} is not executable"
    assert GENERATOR.read_text().startswith("#!/usr/bin/env python3\n")
    res = subprocess.run(
        [sys.executable, str(GENERATOR), "--output", "-"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    committed = (BASE / "prometheusrule.yaml").read_text(encoding="utf-8")
    assert committed == res.stdout, (
        "prometheusrule.yaml is out of date: run scripts/gen-prometheusrule"
    )


def test_generator_check_mode(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: |\n"
        "          up == 0\n          and on() vector(1)\n        for: 5m\n"
    )
    out = tmp_path / "out.yaml"

    def gen(*args: str) -> int:
        cmd = [sys.executable, str(GENERATOR), "--rules", str(rules), "--output", str(out), *args]
        return subprocess.run(cmd, capture_output=True, timeout=60).returncode

    assert gen("--check") == 1  # missing
    assert gen() == 0
    assert gen("--check") == 0
    (doc,) = load_docs(out)
    assert doc["spec"]["groups"] == yaml.safe_load(rules.read_text())["groups"]
    out.write_text(out.read_text() + "# edited by hand\n")
    assert gen("--check") == 1


# ---------------------------------------------------------------------------------------------
# Kubernetes: the sharded StatefulSet


def test_sharded_statefulset(base: list[Resource], sharded: list[Resource]) -> None:
    assert not [r for r in sharded if r["kind"] == "Deployment"]
    sts = only(sharded, "StatefulSet")
    c = exporter_container(sts)
    count = flag_value(c["args"], "--shard.count")
    assert count is not None, "the StatefulSet must pass --shard.count"
    assert int(count) == sts["spec"]["replicas"] == 3
    # The index comes from the pod ordinal (HOSTNAME), never from a fixed flag.
    assert flag_value(c["args"], "--shard.index") is None
    (hostname,) = [e for e in c.get("env", []) if e["name"] == "HOSTNAME"]
    assert hostname["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    service = only(sharded, "Service")
    assert service["spec"]["clusterIP"] == "None"
    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    assert sts["spec"]["selector"]["matchLabels"] == APP_LABEL
    # The pod template is the Deployment's plus the sharding bits: nothing drifts apart.
    deploy = only(base, "Deployment")
    pod, base_pod = (
        copy.deepcopy(sts["spec"]["template"]),
        copy.deepcopy(deploy["spec"]["template"]),
    )
    pod["spec"].pop("affinity", None)
    (sc,), (bc,) = pod["spec"]["containers"], base_pod["spec"]["containers"]
    assert sc.pop("args") == [*bc.pop("args"), "--shard.count=3"]
    sc.pop("env")
    assert pod == base_pod


def test_shard_index_from_statefulset_pod_names(sharded: list[Resource]) -> None:
    from exporter.sharding import Shard

    sts = only(sharded, "StatefulSet")
    count = sts["spec"]["replicas"]
    shards = {
        Shard.resolve(None, count, f"{sts['metadata']['name']}-{ordinal}")
        for ordinal in range(count)
    }
    assert shards == {Shard(i, count) for i in range(count)}


# ---------------------------------------------------------------------------------------------
# Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    current = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        instr, _, args = current.partition(" ")
        out.append((instr.upper(), args.strip()))
        current = ""
    assert not current, "Dockerfile ends in a continuation line"
    return out


def dockerignore_excludes(path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent wins."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        regex = re.escape(pat.strip("/"))
        regex = regex.replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        regex = re.sub(r"\\\[(.*?)\\\]", lambda m: "[" + m.group(1) + "]", regex)
        if any(re.fullmatch(regex, c) for c in candidates):
            excluded = not negate
    return excluded


def test_dockerignore_matcher() -> None:
    assert not dockerignore_excludes("exporter/app.py")
    assert dockerignore_excludes("exporter/__pycache__/app.cpython-311.pyc")
    assert dockerignore_excludes(".venv/bin/python")
    assert dockerignore_excludes(".git/HEAD")
    assert dockerignore_excludes("tests/test_cli.py")


def test_dockerfile_stages_and_base() -> None:
    instrs = dockerfile_instructions()
    froms = [args for instr, args in instrs if instr == "FROM"]
    assert len(froms) >= 2, "multi-stage: a builder stage and a final stage"
    for f in froms:
        image = f.split()[0]
        assert image == "python:3.11-slim-bookworm" or image.startswith(
            "python:3.11-slim-bookworm@sha256:"
        ), f"base image not pinned to python:3.11-slim-bookworm: {image}"
    assert froms[0].split()[-2:] == ["AS", "builder"]
    assert " AS " not in f" {froms[-1]} " or froms[-1].split()[-1] != "builder"
    final = instrs[max(i for i, (instr, _) in enumerate(instrs) if instr == "FROM") :]
    builder = instrs[: max(i for i, (instr, _) in enumerate(instrs) if instr == "FROM")]
    assert any(instr == "RUN" and "pip wheel" in args for instr, args in builder)
    final_runs = " ".join(args for instr, args in final if instr == "RUN")
    assert "--no-index" in final_runs, "the final stage installs only the builder's wheels"
    for tool in ("apt-get install", "gcc", "build-essential", "pip wheel", "git "):
        assert tool not in final_runs, f"build tool in the final image: {tool}"
    assert not any(instr == "COPY" and "/wheels" in args for instr, args in final), (
        "wheels are bind-mounted, not copied into a layer"
    )


def test_dockerfile_runtime() -> None:
    instrs = dockerfile_instructions()
    users = [args for instr, args in instrs if instr == "USER"]
    assert users and users[-1].split(":")[0] == "65532", "runs as uid 65532"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert ("EXPOSE", str(PORT)) in instrs
    (healthcheck,) = [args for instr, args in instrs if instr == "HEALTHCHECK"]
    cmd = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert cmd[0] == "python", "slim images have no curl/wget"
    assert f"http://127.0.0.1:{PORT}/-/healthy" in cmd[-1]
    (entrypoint,) = [json.loads(args) for instr, args in instrs if instr == "ENTRYPOINT"]
    assert entrypoint == ["tencent-live-exporter"]
    (cmd_args,) = [json.loads(args) for instr, args in instrs if instr == "CMD"]
    assert flag_value(cmd_args, "--config.file") == CONFIG_FILE
    assert flag_value(cmd_args, "--web.listen-address") == f":{PORT}"
    assert_flags_exist(flags_of(cmd_args), "Dockerfile CMD")


def test_dockerfile_mentions_only_real_flags() -> None:
    """Flags documented in the Dockerfile's comments (web config, demo) exist too."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    flags = set(re.findall(r"(?<![\w-])--(?:config|web|log|shard|demo|version)[\w.-]*", text))
    assert "--web.config.file" in flags
    assert_flags_exist(flags, "Dockerfile (comments included)")


def test_dockerfile_copy_sources_exist_and_are_not_ignored() -> None:
    copies = [args for instr, args in dockerfile_instructions() if instr in ("COPY", "ADD")]
    assert copies
    for args in copies:
        words = shlex.split(args)
        if any(w.startswith("--from") for w in words):
            continue
        sources = [w for w in words if not w.startswith("--")][:-1]
        for src in sources:
            assert (ROOT / src).exists(), f"COPY source {src} does not exist"
            assert not dockerignore_excludes(src), f"COPY source {src} is excluded by .dockerignore"
            if (ROOT / src).is_dir():
                for f in (ROOT / src).rglob("*"):
                    rel = f.relative_to(ROOT).as_posix()
                    if f.is_file() and "__pycache__" not in rel and not rel.endswith(".pyc"):
                        assert not dockerignore_excludes(rel), f"{rel} is excluded"


def test_dockerignore_keeps_what_the_package_build_needs() -> None:
    needed = ["pyproject.toml", "README.md", "exporter/simulator/scenarios/demo.yaml"]
    needed += [p.relative_to(ROOT).as_posix() for p in (ROOT / "exporter").rglob("*.py")]
    for path in needed:
        assert not dockerignore_excludes(path), f"{path} is excluded by .dockerignore"
    copied = " ".join(args for instr, args in dockerfile_instructions() if instr == "COPY")
    for path in ("pyproject.toml", "README.md", "exporter"):
        assert path in copied


# ---------------------------------------------------------------------------------------------
# systemd


def unit_sections(text: str) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"key outside a section: {line}"
        k, sep, v = line.partition("=")
        assert sep, f"not key=value: {line}"
        current.append((k.strip(), v.strip()))
    return sections


def unit_value(section: list[tuple[str, str]], name: str) -> str:
    values = [v for k, v in section if k == name]
    assert values, f"{name}= missing"
    return values[-1]


def test_systemd_unit_structure() -> None:
    sections = unit_sections(UNIT.read_text(encoding="utf-8"))
    assert set(sections) == {"Unit", "Service", "Install"}
    service = sections["Service"]
    expected = {
        "DynamicUser": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "CapabilityBoundingSet": "",
        "MemoryDenyWriteExecute": "yes",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "Restart": "on-failure",
        "EnvironmentFile": "-/etc/tencent-live-exporter/env",
    }
    for name, value in expected.items():
        assert unit_value(service, name) == value, name
    filters = [v for k, v in service if k == "SystemCallFilter"]
    assert filters[0] == "@system-service"
    assert unit_value(sections["Install"], "WantedBy") == "multi-user.target"
    exec_start = shlex.split(unit_value(service, "ExecStart"))
    assert exec_start[0] == "/usr/local/bin/tencent-live-exporter"
    assert flag_value(exec_start, "--config.file") == CONFIG_FILE
    assert_flags_exist(flags_of(exec_start[1:]), "systemd ExecStart")


def test_systemd_env_example() -> None:
    env = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            k, _, v = line.partition("=")
            env[k.strip()] = v.strip()
    assert {"TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY"} <= set(env)
    readme = (UNIT.parent / "README.md").read_text(encoding="utf-8")
    assert "systemctl" in readme and "/etc/tencent-live-exporter/env" in readme


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (the structural test still ran)")
    # Point ExecStart at an existing binary: verify checks that the executable exists.
    binary = Path(sys.executable).with_name("tencent-live-exporter")
    if not binary.exists():
        binary = Path(sys.executable)
    text = UNIT.read_text(encoding="utf-8").replace(
        "ExecStart=/usr/local/bin/tencent-live-exporter", f"ExecStart={binary}"
    )
    unit = tmp_path / UNIT.name
    unit.write_text(text)
    res = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    output = res.stdout + res.stderr
    about_unit = [line for line in output.splitlines() if UNIT.name in line]
    assert not about_unit, "systemd-analyze verify:\n" + "\n".join(about_unit)
    if res.returncode != 0:
        pytest.skip(f"systemd-analyze verify cannot run here: {output.strip()[:300]}")


def _mdwe_supported() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    # PR_GET_MDWE (66) exists since Linux 6.3; probe it in a child so this process stays free.
    code = "import ctypes, sys; sys.exit(0 if ctypes.CDLL(None).prctl(66, 0, 0, 0, 0) >= 0 else 1)"
    return subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0


MDWE_WRAPPER = """
import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, REFUSE_EXEC_GAIN
    sys.exit("PR_SET_MDWE failed: errno %d" % ctypes.get_errno())
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


def test_memory_deny_write_execute_runs_python(tmp_path: Path) -> None:
    """MemoryDenyWriteExecute=yes: the exporter runs when W+X mappings are refused.

    The kernel's PR_SET_MDWE (Linux >= 6.3) refuses what the unit's setting refuses, and is kept
    across execve, so the demo runs under it here without systemd.
    """
    if not _mdwe_supported():
        pytest.skip("kernel without PR_SET_MDWE")
    exp = ExporterProcess(None, interpreter_args=["-c", MDWE_WRAPPER])
    try:
        wait_for(
            lambda: any(
                name == "tencent_live_stream_state" and v == 1
                for (name, _), v in exp.metrics().items()
            ),
            20,
            "a stream state under PR_SET_MDWE",
        )
    finally:
        assert exp.stop() == 0
