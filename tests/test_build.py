"""Release artefacts: `python -m build` makes a wheel and an sdist that carry the simulator, the
demo scenario and the example config, and the wheel installs into a fresh virtualenv from which
`tencent-live-exporter --demo` runs. The runtime lock (constraints.txt) pins every runtime
dependency exactly, the Dockerfile builds with it, and the wheel installed with it gets the same
versions every time.

The build runs on a copy of the files git would ship (tracked, plus new files not ignored), so it
never writes build/ or *.egg-info into the working tree. pip may reach the package index for the
build backend and the dependencies.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from exporter import __version__

ROOT = Path(__file__).resolve().parent.parent
DIST_NAME = "tencent_live_exporter"
SKIP_DIRS = {".git", ".venv", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", "build"}
CONSTRAINTS = ROOT / "constraints.txt"


def shipped_files() -> list[Path]:
    """Files of the working tree that a commit would contain."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        files = [ROOT / p for p in out.decode().split("\0") if p]
    except (OSError, subprocess.CalledProcessError):
        files = [
            p
            for p in ROOT.rglob("*")
            if not SKIP_DIRS & set(p.relative_to(ROOT).parts) and ".egg-info" not in str(p)
        ]
    return [p for p in files if p.is_file() or p.is_symlink()]


def clean_env() -> dict[str, str]:
    """The environment without anything that would import the repo's own copy of the package."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
        and not k.startswith("TENCENTCLOUD_")
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    try:
        import build  # noqa: F401
    except ImportError:
        pytest.fail(
            "the `build` package is missing: it belongs to the test extra (pip install build)"
        )
    src = tmp_path_factory.mktemp("src")
    for f in shipped_files():
        dest = src / f.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if f.is_symlink():
            dest.symlink_to(os.readlink(f))
        else:
            shutil.copy2(f, dest)
    out = tmp_path_factory.mktemp("dist")
    res = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
        cwd=src,
    )
    assert res.returncode == 0, (
        f"python -m build failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    )
    wheels = list(out.glob("*.whl"))
    sdists = list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def test_artefact_names_carry_the_package_version(dist: dict[str, Path]) -> None:
    assert dist["wheel"].name == f"{DIST_NAME}-{__version__}-py3-none-any.whl"
    assert dist["sdist"].name == f"{DIST_NAME}-{__version__}.tar.gz"


def test_wheel_contents(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as whl:
        names = set(whl.namelist())
        for module in ("__init__", "simulator", "server", "world", "scenario", "cli"):
            assert f"exporter/simulator/{module}.py" in names, module
        assert "exporter/sharding.py" in names
        assert "exporter/simulator/scenarios/demo.yaml" in names
        assert (
            whl.read("exporter/simulator/scenarios/demo.yaml")
            == (ROOT / "exporter/simulator/scenarios/demo.yaml").read_bytes()
        )
        # Package data (exporter/config.example.yaml) or a data file (share/...): either way
        # the wheel carries the example config, unchanged.
        examples = [n for n in names if n.rsplit("/", 1)[-1] == "config.example.yaml"]
        assert examples, (
            "the wheel does not carry config.example.yaml (needs a package-data or data-files "
            "entry in pyproject.toml)"
        )
        for name in examples:
            assert whl.read(name) == (ROOT / "config.example.yaml").read_bytes()
        assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n]
        meta = whl.read(f"{DIST_NAME}-{__version__}.dist-info/METADATA").decode()
        assert f"\nVersion: {__version__}\n" in meta
        entry_points = whl.read(f"{DIST_NAME}-{__version__}.dist-info/entry_points.txt").decode()
        assert "tencent-live-exporter = exporter.__main__:entry" in entry_points
        assert "tencent-live-simulator = exporter.simulator.cli:main" in entry_points


def test_sdist_contents(dist: dict[str, Path]) -> None:
    top = f"{DIST_NAME}-{__version__}"
    with tarfile.open(dist["sdist"]) as sdist:
        names = set(sdist.getnames())
        for path in (
            "pyproject.toml",
            "README.md",
            "config.example.yaml",
            "exporter/__init__.py",
            "exporter/simulator/__init__.py",
            "exporter/simulator/scenarios/demo.yaml",
            "exporter/sharding.py",
            "constraints.txt",
            "CHANGELOG.md",
            "Dockerfile",
            "prometheus/alerts.yml",
            "deploy/kubernetes/base/kustomization.yaml",
            "deploy/systemd/tencent-live-exporter.service",
        ):
            assert f"{top}/{path}" in names, path
        member = sdist.extractfile(f"{top}/config.example.yaml")
        assert member is not None
        assert member.read() == (ROOT / "config.example.yaml").read_bytes()
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


@pytest.mark.timeout(300)
def test_wheel_installs_in_a_fresh_venv_and_runs_the_demo(
    dist: dict[str, Path], tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    env = clean_env()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=env)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    res = subprocess.run(
        [str(bindir / "python"), "-m", "pip", "install", "--quiet", str(dist["wheel"])],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=tmp_path,
    )
    assert res.returncode == 0, f"pip install failed:\n{res.stderr[-3000:]}"
    exe = bindir / "tencent-live-exporter"
    assert exe.exists()

    # The installed copy runs, not the repository's (cwd and PYTHONPATH point elsewhere).
    where = subprocess.run(
        [str(bindir / "python"), "-c", "import exporter; print(exporter.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout.strip()
    assert Path(where).resolve().is_relative_to(venv.resolve()), where

    version = subprocess.run(
        [str(exe), "--version"], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
    )
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith(f"tencent-live-exporter, version {__version__} ")

    proc = subprocess.Popen(
        [str(exe), "--demo", "--web.listen-address", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        url = ""
        for line in proc.stderr:
            lines.append(line)
            m = re.search(r'msg="listening on ([^"]+)"', line)
            if m:
                url = f"http://{m.group(1)}"
                break
        assert url, "the installed exporter did not start:\n" + "".join(lines[-30:])
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        for path in ("/-/healthy", "/metrics"):
            deadline = time.monotonic() + 20
            while True:
                try:
                    with urllib.request.urlopen(url + path, timeout=5) as resp:
                        assert resp.status == 200
                        body = resp.read().decode()
                    break
                except (urllib.error.URLError, ConnectionError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.25)
        build_info = (
            rf'^tencent_live_exporter_build_info\{{(?:[^}}]*,)?version="{re.escape(__version__)}"'
        )
        assert re.search(build_info, body, re.M), "build_info does not carry the package version"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(20)
    assert code == 0


# ---------------------------------------------------------------------------------------------
# The runtime lock


def locked() -> dict[NormalizedName, Version]:
    """constraints.txt as {name: version}; every line must be an exact pin."""
    pins: dict[NormalizedName, Version] = {}
    for number, raw in enumerate(CONSTRAINTS.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        req = Requirement(line)
        (spec,) = req.specifier  # exactly one specifier: ==
        assert spec.operator == "==" and "*" not in spec.version, (
            f"constraints.txt:{number}: {line!r} is not an exact pin"
        )
        assert not req.marker and not req.extras, f"constraints.txt:{number}: {line!r}"
        name = canonicalize_name(req.name)
        assert name not in pins, f"constraints.txt:{number}: {req.name} is pinned twice"
        pins[name] = Version(spec.version)
    return pins


def runtime_requirements() -> list[Requirement]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return [Requirement(r) for r in tomllib.load(f)["project"]["dependencies"]]


def test_lock_pins_every_runtime_dependency_exactly() -> None:
    """Every dependency of the runtime, direct or transitive, is pinned, and nothing else is.

    The transitive ones are read from the metadata of what this environment has installed,
    which scripts/setup installs from the lock: so the walk follows the locked releases' own
    requirements.
    """
    pins = locked()
    stale = "constraints.txt is out of date: run scripts/lock, then scripts/setup"
    reached: set[NormalizedName] = set()
    todo = [(req, "pyproject.toml") for req in runtime_requirements()]
    while todo:
        req, wanted_by = todo.pop()
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} (wanted by {wanted_by}) is not in the lock: {stale}"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{req.name}=={pins[name]} in the lock does not satisfy {wanted_by}'s {req}: {stale}"
        )
        if name in reached:
            continue
        reached.add(name)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{req.name} is not installed: run scripts/setup")
        assert Version(dist.version) == pins[name], (
            f"{req.name} {dist.version} is installed, the lock says {pins[name]}: run scripts/setup"
        )
        for text in dist.requires or []:
            sub = Requirement(text)
            environments = [{"extra": extra} for extra in req.extras] or [{"extra": ""}]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in environments):
                todo.append((sub, f"{dist.metadata['Name']} {dist.version}"))
    assert set(pins) == reached, (
        f"pinned but not a runtime dependency: {sorted(set(pins) - reached)}"
    )


def test_dockerfile_and_setup_install_with_the_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    builds = [
        line for line in dockerfile.splitlines() if line.startswith("RUN") and "pip wheel" in line
    ]
    assert builds, "the Dockerfile's builder stage runs pip wheel"
    for line in builds:
        assert re.search(r"(?:--constraint[ =]|-c ?)constraints\.txt\b", line), line
    copies = [line for line in dockerfile.splitlines() if line.startswith("COPY")]
    assert any("constraints.txt" in line.split()[1:-1] for line in copies), (
        "the Dockerfile copies constraints.txt into the builder"
    )
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "!constraints.txt" in ignore, ".dockerignore lets constraints.txt into the context"
    setup = (ROOT / "scripts" / "setup").read_text(encoding="utf-8")
    assert "-r constraints.txt" in setup and "-c constraints.txt" in setup


def freeze(python: Path, cwd: Path) -> dict[NormalizedName, Version]:
    out = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze", "--exclude", "tencent-live-exporter"],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
        cwd=cwd,
        check=True,
    ).stdout
    pairs = (line.split("==") for line in out.splitlines() if "==" in line)
    # What any venv has before anything is installed into it.
    bootstrap = {"pip", "setuptools", "wheel"}
    return {
        canonicalize_name(name): Version(version)
        for name, version in pairs
        if canonicalize_name(name) not in bootstrap
    }


@pytest.mark.timeout(300)
def test_wheel_with_the_lock_installs_the_same_versions_twice(
    dist: dict[str, Path], tmp_path: Path
) -> None:
    installed = []
    for n in (1, 2):
        venv = tmp_path / f"venv{n}"
        subprocess.run(
            [sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=clean_env()
        )
        python = venv / "bin" / "python"
        res = subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "--constraint", CONSTRAINTS, dist["wheel"]],
            capture_output=True,
            text=True,
            timeout=240,
            env=clean_env(),
            cwd=tmp_path,
        )
        assert res.returncode == 0, f"pip install failed:\n{res.stderr[-3000:]}"
        installed.append(freeze(python, tmp_path))
    assert installed[0] == installed[1]
    assert installed[0] == locked()
