"""Build the sandbox image without a registry: debootstrap + ``docker import``.

A Debian ``minbase`` root with python3 and python3-numpy is bootstrapped from the mirror
that apt on this machine is already configured to use (read from its sources at run time,
never written here), packed with tar and imported as ``evolve-sandbox:<evolve version>``.
Run as root: ``evolve sandbox build --offline`` or ``python3 -m sandbox.image.build_offline``.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from sandbox.base import SandboxUnavailable

PACKAGES = ("python3", "python3-numpy")
SUITE = "bookworm"
CACHE = Path.home() / ".cache" / "evolve" / "debootstrap"
SLIMMED = ("usr/share/doc", "usr/share/man", "usr/share/info", "var/cache/apt", "var/lib/apt/lists")


def image_tag() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"evolve-sandbox:{version('evolve')}"
    except PackageNotFoundError:
        return "evolve-sandbox:dev"


def _deb822_mirrors(text: str, suite: str) -> list[str]:
    found = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if "deb" in fields.get("types", "").split() and suite in fields.get("suites", "").split():
            found += fields.get("uris", "").split()
    return found


def _one_line_mirrors(text: str, suite: str) -> list[str]:
    found = []
    for line in text.splitlines():
        words = re.sub(r"\[[^\]]*\]", "", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
            found.append(words[1])
    return found


def apt_mirror(suite: str = SUITE, etc: str = "/etc/apt") -> str:
    """The first mirror apt is configured to use for ``suite``."""
    for path in sorted(glob.glob(f"{etc}/sources.list.d/*.sources")):
        mirrors = _deb822_mirrors(Path(path).read_text(), suite)
        if mirrors:
            return mirrors[0]
    for path in [f"{etc}/sources.list", *sorted(glob.glob(f"{etc}/sources.list.d/*.list"))]:
        if os.path.exists(path):
            mirrors = _one_line_mirrors(Path(path).read_text(), suite)
            if mirrors:
                return mirrors[0]
    raise SandboxUnavailable(
        f"apt has no source for Debian {suite} in {etc}; add one, or build on a machine "
        f"that can pull: docker build -t {image_tag()} sandbox/image"
    )


def _require(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        raise SandboxUnavailable(f"{tool} is missing; install it: apt-get install -y {package}")


def build(tag: str | None = None, suite: str = SUITE, log: Callable[[str], None] = print) -> str:
    """Bootstrap, slim, import; returns the image tag."""
    if os.geteuid() != 0:
        raise SandboxUnavailable("the offline image build needs root (debootstrap); use sudo")
    _require("debootstrap", "debootstrap")
    _require("docker", "docker.io")
    tag = tag or image_tag()
    mirror = apt_mirror(suite)
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="evolve-rootfs-") as tmp:
        root = Path(tmp) / "root"
        log(f"debootstrap {suite} (minbase + {', '.join(PACKAGES)}) into {root}")
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                f"--cache-dir={CACHE}",
                suite,
                str(root),
                mirror,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for part in SLIMMED:
            shutil.rmtree(root / part, ignore_errors=True)
        log(f"docker import as {tag}")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "import", "--change", "WORKDIR /tmp", "-", tag],
            stdin=tar.stdout,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0:
            raise SandboxUnavailable("packing the image root with tar failed; see the output above")
    return tag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tag", default=None, help="image tag (default: evolve-sandbox:<version>)")
    parser.add_argument("--suite", default=SUITE, help="Debian suite to bootstrap")
    args = parser.parse_args(argv)
    try:
        print(build(args.tag, args.suite))
    except (SandboxUnavailable, subprocess.CalledProcessError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
