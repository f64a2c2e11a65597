"""Open report.html in headless Chromium and check that every plot image loads.

Needs the Debian package `chromium` (CI: `apt-get install -y chromium`); without it the
tests skip on a developer's machine and fail in CI (tests/crosscheck.py).
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest

from bench.report.build import build_report
from tests.crosscheck import require_tool

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(autouse=True)
def _chromium() -> None:
    require_tool("chromium", "apt-get install -y chromium", CHROMIUM)

_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "results" / "synthetic.py"

# Appended to a copy of the report: after load, record how many images decoded.
_PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0);
  document.body.setAttribute('data-images', String(imgs.length));
  document.body.setAttribute('data-loaded', String(ok.length));
});
</script>"""


def _synthetic():
    spec = importlib.util.spec_from_file_location("synthetic_run_fixture", _FIXTURE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def _loaded(page: Path, tmp_path: Path) -> tuple[int, int]:
    out = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    m = re.search(r'data-images="(\d+)" data-loaded="(\d+)"', out.stdout)
    assert m, f"probe did not run; chromium stderr: {out.stderr[-2000:]}"
    return int(m.group(1)), int(m.group(2))


def test_every_plot_image_loads(tmp_path: Path):
    run = _synthetic().make_run(tmp_path / "results", n_samples=200)
    files = build_report(run, n_boot=50)
    page = files.html.with_name("report-probe.html")
    page.write_text(files.html.read_text().replace("</body>", _PROBE + "</body>"))
    images, loaded = _loaded(page, tmp_path)
    assert images == len(files.plots) >= 5
    assert loaded == images


def test_probe_notices_a_missing_image(tmp_path: Path):
    # The check must be able to fail: a report whose plot file is gone.
    run = _synthetic().make_run(tmp_path / "results", n_samples=200)
    files = build_report(run, n_boot=50)
    files.plots[0].unlink()
    page = files.html.with_name("report-probe.html")
    page.write_text(files.html.read_text().replace("</body>", _PROBE + "</body>"))
    images, loaded = _loaded(page, tmp_path)
    assert loaded == images - 1
