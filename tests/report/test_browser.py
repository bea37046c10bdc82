"""The report opens in headless Chromium: no network request, no console error, a 3-D plot.

Skipped, with a message, when Chromium is absent (install: `apt-get install -y chromium`).
The page is checked twice: an instrumented copy records errors and every resource the page
loaded (``performance.getEntriesByType("resource")``) into the DOM, read back with
``--dump-dom``; the original page is screenshotted (the 3-D section is near the top) and the
pixels must show the plot (its red Pareto markers and its drawn axis planes).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from handmade import make_study

from trifront.report.build import write_report

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"),
                             shutil.which("chromium-browser")) if p and Path(p).exists()), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium not found (apt-get install -y chromium); browser test "
    "skipped")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--enable-unsafe-swiftshader", "--hide-scrollbars",
         # Any attempt to reach the network fails (and shows as an error/resource below).
         "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]

PROBE = """<script>
window.__probe = {errors: []};
window.addEventListener("error", e => __probe.errors.push("error: " + e.message), true);
window.addEventListener("unhandledrejection", e => __probe.errors.push("rejection: " + e.reason));
(function () {
  const orig = console.error;
  console.error = function (...a) { __probe.errors.push("console.error: " + a.join(" "));
                                    orig.apply(console, a); };
})();
window.addEventListener("load", () => setTimeout(() => {
  __probe.resources = performance.getEntriesByType("resource").map(r => r.name);
  __probe.plots = document.querySelectorAll(".js-plotly-plot").length;
  __probe.gl = document.querySelectorAll("#front .gl-container canvas").length;
  document.body.setAttribute("data-probe", JSON.stringify(__probe));
}, 1500));
</script>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=15000", *args],
        capture_output=True, text=True, timeout=180,
    )


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    write_report(make_study(), out, n_seeds=3, png=False, progress=False)
    return out


def test_report_loads_with_no_request_and_no_error(report_dir, tmp_path):
    page = (report_dir / "index.html").read_text(encoding="utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    proc = _chromium(tmp_path, "--dump-dom", probed.as_uri())
    match = re.search(r'data-probe="([^"]*)"', proc.stdout)
    assert match, f"the page did not finish loading:\n{proc.stderr[-2000:]}"
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["errors"] == []
    assert probe["resources"] == [], "the report loaded external resources"
    assert probe["plots"] >= 5 and probe["gl"] >= 1
    # Chromium's own log: no page exception and no blocked request.
    bad = [line for line in proc.stderr.splitlines()
           if "Uncaught" in line or "net::ERR_" in line or ":ERROR:CONSOLE" in line]
    assert bad == []


def test_screenshot_shows_the_3d_plot(report_dir, tmp_path):
    image = pytest.importorskip("PIL.Image", reason="Pillow is needed to read the screenshot")
    shot = tmp_path / "shot.png"
    proc = _chromium(tmp_path, "--window-size=1280,1700", f"--screenshot={shot}",
                     (report_dir / "index.html").as_uri())
    assert shot.exists(), proc.stderr[-2000:]
    px = np.asarray(image.open(shot).convert("RGB")).astype(int)
    r, g, b = px[..., 0], px[..., 1], px[..., 2]
    red = int(((r > 170) & (g < 90) & (b < 90)).sum())
    # The 3-D scene's axis planes (plotly's default #E5ECF6) appear in no other figure.
    scene = float(((abs(r - 229) < 6) & (abs(g - 236) < 6) & (abs(b - 246) < 6)).mean())
    assert red > 100, f"no red Pareto markers in the screenshot ({red} red pixels)"
    assert scene > 0.02, f"the 3-D scene is not drawn ({scene:.1%} of the pixels)"
