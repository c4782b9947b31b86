"""Choosing a backend: ``make_sandbox("auto" | "docker" | "process")``.

``auto`` prefers Docker (a container per session is the stronger boundary) and falls back
to the process backend only with one loud warning line that says why and how to get Docker.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from sandbox.base import Sandbox, SandboxUnavailable

KINDS = ("auto", "docker", "process")
DOCKER_HINT = "run scripts/setup-sandbox (installs and starts Docker, builds the image)"


def _stderr_warning(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def make_sandbox(
    kind: str = "auto",
    *,
    image: str | None = None,
    pool_size: int = 2,
    warn: Callable[[str], None] | None = None,
) -> Sandbox:
    """Build the sandbox named by ``kind``; ``image`` and ``pool_size`` apply to Docker."""
    if kind not in KINDS:
        raise SandboxUnavailable(f"unknown sandbox {kind!r}; use one of: {', '.join(KINDS)}")
    if kind in ("auto", "docker"):
        try:
            from sandbox.docker import DockerSandbox

            return DockerSandbox(image=image, pool_size=pool_size)
        except SandboxUnavailable as exc:
            if kind == "docker":
                raise
            (warn or _stderr_warning)(
                f"WARNING: candidates run in the weaker PROCESS sandbox because Docker is not "
                f"usable ({exc}); to get Docker: {DOCKER_HINT}"
            )
    from sandbox.process import ProcessSandbox

    return ProcessSandbox()
