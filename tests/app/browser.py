"""Real-browser helpers: a `streamlit run` server on a free port, Debian's Chromium, the charts' Vega data.

The chart data is read from the live Vega view: Streamlit keeps the view created by
vega-embed in React state, so the script walks from the ``.vega-embed`` element's React
fiber up to the hook holding the view and reads the datasets the chart builders name after
their layers (series, band, expected, previous, anomaly, annotation; ``streamlit_app/charts.py``). That asserts on
what the browser rendered, not on pixels.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from services.ports import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "streamlit_app" / "server.py"  # what `lupus serve ui` runs: Streamlit plus the sign-in cookie route
ARTIFACTS = REPO / "test-artifacts" / "app"
CHROMIUM = "/usr/bin/chromium"
SESSION_COOKIE = "lupus_session"  # streamlit_app.sessions.COOKIE_NAME
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip

# Finds the Vega view of a `.vega-embed` element: Streamlit keeps it in React state, so walk from the
# element's React fiber up to the hook holding an object with Vega's `data` and `getState` methods.
_VIEW_OF = """const viewOf = (el) => {
  const key = Object.keys(el).find(k => k.startsWith('__reactFiber'));
  let fiber = key ? el[key] : null;
  for (let depth = 0; fiber && depth < 40; depth++, fiber = fiber.return) {
    for (let hook = fiber.memoizedState, h = 0; hook && h < 60; hook = hook.next, h++) {
      for (const c of [hook.memoizedState, hook.memoizedState && hook.memoizedState.current]) {
        if (c && typeof c === 'object' && typeof c.data === 'function' && typeof c.getState === 'function') return c;
      }
    }
  }
  return null;
};"""

VEGA_LAYERS_JS = (
    """(countsOnly) => {"""
    + _VIEW_OF
    + """
  const views = [];
  for (const el of document.querySelectorAll('.vega-embed')) {
    const view = viewOf(el);
    if (!view) { views.push(null); continue; }
    const layers = {};
    for (const layer of ['series', 'band', 'expected', 'previous', 'anomaly', 'annotation']) {
      if (!(layer in view._runtime.data)) continue;
      const rows = view.data(layer);
      if (!rows.length) continue;
      layers[layer] = countsOnly ? rows.length : rows.map(r => ({series: r.label_text, ts: +r.ts, value: r.value,
        expected: r.expected, lower: r.lower, upper: r.upper, detector: r.detector, kind: r.kind, label: r.label,
        text: r.text}));
    }
    views.push(layers);
  }
  return views;
}"""
)

# The y axis' tick labels and the series colours as the chart drew them (from the live scenegraph and scale).
CHART_LOOK_JS = (
    """(index) => {"""
    + _VIEW_OF
    + """
  const el = document.querySelectorAll('.vega-embed')[index];
  const view = el && viewOf(el);
  if (!view) return null;
  const axes = [];
  const collect = (node) => {
    if (!node) return;
    if (node.role === 'axis' && node.items) {
      for (const item of node.items) {
        const found = [], xs = [];
        const inner = (n) => {
          if (!n) return;
          if (n.role === 'axis-label') for (const it of n.items || []) { found.push(it.text); xs.push(it.x); }
          for (const it of n.items || []) if (it.items) for (const ch of it.items) inner(ch);
        };
        for (const ch of item.items || []) inner(ch);
        // A left axis draws its labels left of the axis line (negative x in the axis group).
        if (found.length) axes.push({orient: xs.every(x => x < 0) ? 'left' : 'bottom', labels: found});
      }
      return;
    }
    for (const item of node.items || []) if (item.items) for (const child of item.items) collect(child);
  };
  collect(view.scenegraph().root);
  const color = view.scale('color');
  const series = [...new Set(view.data('series').map(r => r.label_text))];
  return {axes, colors: color ? series.map(s => [s, color(s)]) : [], range: color ? color.range() : []};
}"""
)


class StreamlitServer:
    """`streamlit run streamlit_app/server.py` (as `lupus serve ui`) on 127.0.0.1 and a free port, with its own
    environment; the app's own config (streamlit_app/.streamlit/config.toml) applies, no extra flags."""

    def __init__(self, env: dict[str, str], *, cwd: Path, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, **env}
        self._cwd = cwd
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> StreamlitServer:
        command = [
            sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(self.port),
            "--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none",
        ]  # fmt: skip
        self._log.parent.mkdir(parents=True, exist_ok=True)
        out = self._log.open("wb")
        self._proc = subprocess.Popen(command, cwd=self._cwd, env=self._env, stdout=out, stderr=subprocess.STDOUT)
        wait_for_port(self.port, timeout=60, what="streamlit")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the port opens before the app is ready to serve
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"streamlit did not become healthy; see {self._log}")

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def shot(page: Any, name: str) -> None:
    """A full-page screenshot saved as a test artifact (test-artifacts/app/<name>.png)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def launch(playwright: Any) -> Any:
    """Headless Debian Chromium (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def sign_in(page: Any, username: str, password: str) -> None:
    """Fill the local sign-in form shown on any page when signed out; returns once the session cookie is set
    (so a reload or a new tab right after finds the sign-in)."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text(f"Signed in as {username}").wait_for(timeout=30_000)
    deadline = time.monotonic() + 10
    while not any(cookie["name"] == SESSION_COOKIE for cookie in page.context.cookies()):
        if time.monotonic() > deadline:
            raise AssertionError(f"signing in as {username} set no {SESSION_COOKIE} cookie")
        time.sleep(0.05)


def chart_layers(
    page: Any, *, index: int = 0, timeout: float = 30.0, want: str = "series", series: set[str] | None = None
) -> dict[str, list[dict]]:
    """The rendered datasets of the ``index``-th chart, by layer.

    Waits until the ``want`` layer has rows and, with ``series``, until the lines drawn are
    exactly those series (a rerun replaces the chart a moment after the URL changes).
    """
    deadline = time.monotonic() + timeout
    while True:
        views = page.evaluate(VEGA_LAYERS_JS, False)
        layers = views[index] if len(views) > index else None
        if layers and layers.get(want) and (series is None or {r["series"] for r in layers["series"]} == series):
            return layers
        if time.monotonic() > deadline:
            raise AssertionError(f"chart {index} did not render a {want!r} layer within {timeout} s: {views!r:.300}")
        time.sleep(0.2)


def layer_counts(page: Any, *, index: int = 0) -> dict[str, int]:
    """Rows per layer of the ``index``-th chart's live datasets (cheap to poll: no rows cross over)."""
    views = page.evaluate(VEGA_LAYERS_JS, True)
    return (views[index] or {}) if len(views) > index else {}


def wait_idle(page: Any, timeout: float = 30.0) -> None:
    """Wait until Streamlit finished the current script run (its status widget disappears)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=timeout * 1000)


MARK_POSITION_JS = (
    """([layer, series]) => {"""
    + _VIEW_OF
    + """
  // Page coordinates of the first mark of `layer` (and `series`), from the live scenegraph.
  for (const el of document.querySelectorAll('.vega-embed')) {
    const view = viewOf(el);
    if (!view) continue;
    const canvas = el.querySelector('canvas');
    const box = canvas.getBoundingClientRect();
    const [ox, oy] = view.origin(), pad = view.padding();  // the plot sits at padding + origin
    const walk = (node, dx, dy) => {
      if (!node) return null;
      if (node.marktype === 'group') {
        for (const item of node.items || []) {
          for (const child of item.items || []) {
            const hit = walk(child, dx + (item.x || 0), dy + (item.y || 0));
            if (hit) return hit;
          }
        }
        return null;
      }
      if (node.name !== layer + '_marks') return null;  // Vega-Lite names a layer's marks after the layer
      for (const item of node.items || []) {
        const d = item.datum || {};
        if ((!series || d.label_text === series) && item.x !== undefined) {
          return {x: box.left + pad.left + ox + dx + item.x, y: box.top + pad.top + oy + dy + item.y};
        }
      }
      return null;
    };
    const root = view.scenegraph().root;
    const hit = walk(root, 0, 0);
    if (hit) return hit;
  }
  return null;
}"""
)


def mark_position(page: Any, layer: str, series: str | None = None) -> dict[str, float]:
    """Page coordinates of a rendered mark (e.g. an anomaly diamond), to click it like a person would."""
    position = page.evaluate(MARK_POSITION_JS, [layer, series])
    if position is None:
        raise AssertionError(f"no {layer!r} mark of series {series!r} in the rendered charts")
    return position


def chart_look(page: Any, *, index: int = 0) -> dict[str, Any]:
    """How the ``index``-th chart looks: ``axes`` (orient and tick labels of each axis), ``colors`` ([series,
    colour] as drawn) and ``range`` (the colour scale's palette), read from the live Vega view."""
    look = page.evaluate(CHART_LOOK_JS, index)
    if look is None:
        raise AssertionError(f"no rendered chart {index}")
    return look
