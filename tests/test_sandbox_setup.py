"""Choosing a backend, the offline image's mirror, the CLI, and Docker's container hygiene."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from evolve.cli.sandbox import sandbox as sandbox_cli
from sandbox.base import Limits, SandboxUnavailable
from sandbox.image.build_offline import apt_mirror, image_tag
from sandbox.process import ProcessSandbox
from sandbox.select import make_sandbox
from tests.sandbox_support import labelled_containers, open_backend

ECHO = {
    "echo.py": "import os\ndef env():\n    return dict(os.environ)\ndef echo(x):\n    return x\n"
}


def test_unknown_backend_is_a_one_line_error() -> None:
    with pytest.raises(SandboxUnavailable, match="unknown sandbox 'vm'; use one of: auto, docker"):
        make_sandbox("vm")


def test_process_backend_on_request() -> None:
    box = make_sandbox("process")
    assert isinstance(box, ProcessSandbox)
    with box.open(ECHO, "echo", ["echo"]) as s:
        assert s.call("echo", [1, "a"]) == [1, "a"]


def test_auto_falls_back_to_process_with_one_loud_warning() -> None:
    warnings: list[str] = []
    box = make_sandbox("auto", image="evolve-sandbox:does-not-exist", warn=warnings.append)
    assert box.name == "process" and len(warnings) == 1
    assert "WARNING" in warnings[0] and "scripts/setup-sandbox" in warnings[0]
    assert "\n" not in warnings[0]


def test_process_backend_without_root_still_scrubs_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never")
    box = ProcessSandbox(jail=False)
    assert "not root" in box.isolation
    with box.open(ECHO, "echo", ["env"], Limits(memory_mb=512)) as s:
        env = s.call("env")
    assert "OPENAI_API_KEY" not in env and env["PYTHONHASHSEED"] == "0"
    assert not Path(s.workspace).exists()  # type: ignore[attr-defined]


def test_mirror_is_read_from_apt_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    with pytest.raises(SandboxUnavailable, match="apt has no source for Debian bookworm"):
        apt_mirror("bookworm", str(tmp_path))
    (tmp_path / "sources.list").write_text(
        "# deb http://old.invalid/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://one-line.invalid/debian bookworm main\n"
    )
    assert apt_mirror("bookworm", str(tmp_path)) == "http://one-line.invalid/debian"
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://disabled.invalid/debian\nSuites: bookworm\nEnabled: no\n\n"
        "Types: deb\n# a comment\nURIs: http://security.invalid/debian-security\n"
        "Suites: bookworm-security\n\n"
        "Types: deb deb-src\nURIs: http://deb822.invalid/debian http://second.invalid/d\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert apt_mirror("bookworm", str(tmp_path)) == "http://deb822.invalid/debian"


def test_cli_check_runs_a_self_test() -> None:
    result = CliRunner().invoke(sandbox_cli, ["check", "--backend", "process", "--calls", "20"])
    assert result.exit_code == 0, result.output
    assert "backend:    process" in result.output and "self-test:  ok" in result.output
    assert "round trip: median" in result.output
    bad = CliRunner().invoke(sandbox_cli, ["check", "--backend", "vm"])
    assert bad.exit_code == 2 and "'vm' is not one of" in bad.output


@pytest.mark.docker
def test_docker_containers_are_locked_down_and_removed() -> None:
    box = open_backend("docker")
    try:
        with box.open(ECHO, "echo", ["echo", "env"]) as s:
            cid = s.container_id  # type: ignore[attr-defined]
            info = json.loads(
                subprocess.run(["docker", "inspect", cid], capture_output=True, check=True).stdout
            )[0]
            env = s.call("env")
        host = info["HostConfig"]
        assert host["ReadonlyRootfs"] and host["NetworkMode"] == "none"
        assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges"]
        assert host["Memory"] == host["MemorySwap"] == 1024 * 2**20
        assert host["PidsLimit"] == 64 and host["NanoCpus"] == 10**9
        assert info["Config"]["User"] == "65534:65534" and info["Mounts"] == []
        assert set(env) <= {"PATH", "HOSTNAME", "HOME", "LC_CTYPE"}
        assert not any(c.startswith(cid[:12]) for c in labelled_containers("evolve.sandbox"))
    finally:
        box.close()


@pytest.mark.docker
def test_docker_warm_pool_serves_sessions_and_leftovers_are_swept() -> None:
    open_backend("docker").close()  # skips locally, fails in CI, when Docker is unusable
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid now belongs to no process: containers it "owned" are leftovers
    image = image_tag()
    stale = subprocess.run(
        ["docker", "create", "--label", "evolve.sandbox=1", "--label", f"evolve.sandbox.owner={dead.pid}", image, "true"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    box = open_backend("docker")
    try:
        assert not any(stale.startswith(c) for c in labelled_containers("evolve.sandbox"))
        deadline = time.monotonic() + 20
        while box.warm < 1 and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
        with box.open(ECHO, "echo", ["echo"]) as s:
            assert s.warm  # type: ignore[attr-defined]
            assert s.call("echo", 5) == 5
    finally:
        box.close()
    assert labelled_containers(f"evolve.sandbox.owner={box.owner}") == []  # type: ignore[attr-defined]
