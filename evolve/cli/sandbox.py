"""`evolve sandbox build` and `evolve sandbox check`."""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path

import click

SELF_TEST = """
def echo(value):
    return value
"""


@click.group("sandbox")
def sandbox() -> None:
    """Build and check the candidate sandbox."""


@sandbox.command()
@click.option("--offline", is_flag=True, help="Build from Debian packages (no registry needed).")
@click.option("--tag", default=None, help="Image tag (default: evolve-sandbox:<version>).")
def build(offline: bool, tag: str | None) -> None:
    """Build the Docker image candidates run in."""
    from sandbox.base import SandboxUnavailable
    from sandbox.image import build_offline

    tag = tag or build_offline.image_tag()
    try:
        if offline:
            build_offline.build(tag, log=click.echo)
        else:
            context = Path(build_offline.__file__).resolve().parent
            subprocess.run(["docker", "build", "-t", tag, str(context)], check=True)
    except FileNotFoundError:
        raise SandboxUnavailable("docker is not installed; run scripts/setup-sandbox") from None
    except subprocess.CalledProcessError as exc:
        hint = "" if offline else "; without a registry use: evolve sandbox build --offline"
        raise SandboxUnavailable(f"the image build failed ({exc}){hint}") from None
    click.echo(f"built {tag}")


@sandbox.command()
@click.option(
    "--backend",
    type=click.Choice(["auto", "docker", "process"]),
    default="auto",
    show_default=True,
    help="Which sandbox to check.",
)
@click.option("--image", default=None, help="Docker image (default: evolve-sandbox:<version>).")
@click.option("--calls", default=200, show_default=True, help="Round trips in the self-test.")
def check(backend: str, image: str | None, calls: int) -> None:
    """Show the backend in use and time a self-test round trip."""
    from sandbox.select import make_sandbox

    box = make_sandbox(backend, image=image, pool_size=1, warn=click.echo)
    try:
        for key, value in describe(box).items():
            click.echo(f"{key + ':':<12}{value}")
        start = time.perf_counter()
        with box.open({"selftest.py": SELF_TEST}, "selftest", ["echo"]) as session:
            opened = time.perf_counter() - start
            samples = []
            for i in range(max(1, calls)):
                t0 = time.perf_counter()
                if session.call("echo", i) != i:
                    raise click.ClickException("the self-test got a wrong answer back")
                samples.append(time.perf_counter() - t0)
        click.echo(f"session:    opened in {opened * 1000:.1f} ms")
        click.echo(
            f"round trip: median {statistics.median(samples) * 1e6:.0f} us "
            f"over {len(samples)} calls"
        )
        click.echo("self-test:  ok")
    finally:
        box.close()


def describe(box: object) -> dict[str, str]:
    """What a user needs to know about a sandbox, without importing docker for the other."""
    from sandbox.docker import DockerSandbox
    from sandbox.process import ProcessSandbox

    if isinstance(box, DockerSandbox):
        version = box.client.version().get("Version", "?")
        return {"backend": "docker", "engine": f"Docker {version}", "image": box.image}
    if isinstance(box, ProcessSandbox):
        return {"backend": "process", "isolation": box.isolation, "python": box.python}
    return {"backend": str(getattr(box, "name", type(box).__name__))}
