"""`evolve report`: the numbers behind the plots, the self-contained HTML file, and the file
rendered by headless Chromium into a screenshot that is not blank."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from evolve.cli.main import cli
from evolve.report import chain, evaluated_order, progress, status_bins, yields
from evolve.storage import Store
from evolve.types import Status
from tests.run_support import Synthetic, add_synthetic, evolve, real_run

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Synthetic]]:
    db = tmp_path_factory.mktemp("report") / "runs.db"
    real_run(db)
    with Store.open(str(db)) as store:
        yield db, add_synthetic(store)


def test_progress_best_and_median_against_evaluations_and_usd(
    world: tuple[Path, Synthetic],
) -> None:
    db, syn = world
    with Store.open(str(db)) as store:
        programs = store.programs(syn.run_id)
        calls = store.llm_calls(syn.run_id)
    data = progress(programs, calls)
    # seed, gpt, claude, invalid, late: duplicates and failed edits are not evaluations.
    assert data.evaluations == [1, 2, 3, 4, 5]
    assert data.best == pytest.approx([-0.5, -0.02, -0.015, -0.015, -0.015])
    assert data.median == pytest.approx([-0.5, -0.26, -0.02, -0.02, -0.16])
    assert data.usd == pytest.approx([0.0, 0.10, 0.35, 1.35, 1.35])


def test_status_bins_yields_and_lineage(world: tuple[Path, Synthetic]) -> None:
    db, syn = world
    with Store.open(str(db)) as store:
        programs = store.programs(syn.run_id)
        real = store.programs(1)
    labels, counts = status_bins(programs)
    assert labels == ["0", "1", "2", "3", "4", "5"]
    assert counts["COMPLETE"] == [1, 1, 1, 0, 0, 1] and counts["DUPLICATE"][3] == 1
    by_proposer = {y.group: y for y in yields(programs, {p.id: p.proposer for p in programs})}
    gpt = by_proposer["gpt-test"]
    assert (gpt.proposals, gpt.valid, gpt.improved) == (2, 1, 1)  # gpt improved, invalid not
    assert (by_proposer["claude-test"].improved, by_proposer["offline"].improved) == (1, 1)
    claude = next(p for p in programs if p.id == syn.claude)
    assert [p.id for p in chain(claude, programs)] == [syn.seed, syn.gpt, syn.claude]
    many = [replace(p, iteration=p.iteration * 10) for p in real]
    labels, counts = status_bins(many, bins=5)
    assert len(labels) == 5 and sum(map(sum, counts.values())) == len(real)
    assert len(evaluated_order(real)) == sum(
        p.status not in (Status.DUPLICATE, Status.EDIT_FAILED) for p in real)


def _report(db: Path, run_id: int) -> str:
    target = db.parent / f"report-{run_id}.html"
    result = CliRunner().invoke(cli, ["report", str(run_id), "-o", str(target), "--db",
                                      str(db)])
    assert result.exit_code == 0, result.output
    return target.read_text(encoding="utf-8")


def test_report_is_self_contained(world: tuple[Path, Synthetic]) -> None:
    db, syn = world
    text = _report(db, syn.run_id)
    assert "<script src=" not in text  # plotly.js is embedded, nothing is fetched
    assert "plotly" in text.lower() and len(text) > 1_000_000
    for title in ("Best and median score against evaluations",
                  "Best and median score against USD spent", "Statuses over time",
                  "The champion&#x27;s lineage", "Yield per proposer", "Yield per template",
                  "Top programs"):
        assert title in text, title
    assert "crossover bbb22200" in text  # template groups carry their hash
    assert text.count("Plotly.newPlot") == 6
    offline = _report(db, 1)
    assert "No LLM spend recorded" in offline and offline.count("Plotly.newPlot") == 5


def test_missing_run_is_one_line(world: tuple[Path, Synthetic]) -> None:
    db, _ = world
    out = evolve("report", "999", "-o", "r.html", "--db", str(db), cwd=db.parent)
    assert out.returncode == 1 and out.stderr.strip() == (
        "Error: no run with id 999; list them with `evolve runs`")
    assert not (db.parent / "r.html").exists()


def _png_pixels(data: bytes) -> tuple[int, int, set[bytes]]:
    """Width, height and the distinct RGB colours of an 8-bit non-interlaced PNG."""
    import numpy as np

    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, stride + 1)
    image = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        ftype, line = int(raw[y, 0]), raw[y, 1:]
        if ftype == 0:
            out = line.copy()
        elif ftype == 1:  # Sub: a running sum per channel, modulo 256
            out = np.cumsum(line.reshape(width, bpp), axis=0, dtype=np.uint8).reshape(-1)
        elif ftype == 2:  # Up
            out = line + prev
        else:  # Average and Paeth depend on the pixel to the left: byte by byte
            out = np.array(_unfilter_sequential(ftype, line.tolist(), prev.tolist(), bpp),
                           dtype=np.uint8)
        image[y] = out
        prev = image[y]
    rgb = image.reshape(height, width, bpp)[:, :, :3].reshape(-1, 3)
    return width, height, {bytes(c) for c in np.unique(rgb, axis=0)}


def _unfilter_sequential(ftype: int, line: list[int], prev: list[int], bpp: int) -> list[int]:
    for i, x in enumerate(line):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        if ftype == 3:
            line[i] = (x + (a + b) // 2) & 0xFF
            continue
        c = prev[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        line[i] = (x + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    return line


def test_report_renders_in_headless_chromium(world: tuple[Path, Synthetic],
                                             tmp_path: Path) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; scripts/setup-browser installs it")
        pytest.skip(f"{CHROMIUM} is missing; run scripts/setup-browser")
    db, syn = world
    _report(db, syn.run_id)
    page, shot = db.parent / f"report-{syn.run_id}.html", tmp_path / "shot.png"
    profile = tmp_path / "profile"
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", f"--screenshot={shot}",
         "--window-size=1280,2000", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert shot.is_file(), out.stderr[-2000:]
    width, height, colours = _png_pixels(shot.read_bytes())
    assert (width, height) == (1280, 2000)
    # Text, axes and coloured traces: a blank or error page has a handful of colours.
    assert len(colours) > 50, len(colours)
    # The plot traces drew: plotly's default blue of the "best" line is on the page.
    assert any(abs(p[0] - 0x1F) < 8 and abs(p[1] - 0x77) < 8 and abs(p[2] - 0xB4) < 8
               for p in colours)
    shutil.rmtree(profile, ignore_errors=True)
