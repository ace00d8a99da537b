"""Headless Chromium for the report's and the embedding explorer's browser tests, and the
explorer's measurements (bench/explorer.py drives the same page the same way).

Any network request fails the page (the explorer must work offline), and so does any console
error."""

from __future__ import annotations

import base64
import contextlib
import io
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

CHROMIUM = Path("/usr/bin/chromium")
# As root, without a sandbox; no background traffic (the machine may have no network at all).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic"]


def browser_unavailable() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (requirements.txt: make venv)"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} missing (Debian packages chromium, chromium-driver: make system-packages)"
    return None


@dataclass
class PageLog:
    """What a page did besides rendering: every request but the page's own, every console error."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextlib.contextmanager
def chromium_page(width: int = 1400, height: int = 1000) -> Iterator[tuple[object, PageLog]]:
    from playwright.sync_api import sync_playwright

    log = PageLog()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda message: log.errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: log.errors.append(str(error)))
            page.on("request", lambda request: log.requests.append(request.url))
            yield page, log
        finally:
            browser.close()


# ---------------------------------------------------------------------------------------------
# The embedding explorer (src/mnistflow/explorer.js exposes window.mnistExplorer)

EXPLORER = "window.mnistExplorer"
TOOLTIP = "document.getElementById('explorer-tooltip')"
# Every animation frame's timestamp while recording: frame times during a drag or a zoom.
RECORD_FRAMES = """() => {
    window.__frames = []; window.__recording = true;
    const tick = (t) => { window.__frames.push(t); if (window.__recording) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
}"""


@dataclass
class Tooltip:
    index: int
    rows: dict[str, str]
    image: np.ndarray  # the tooltip canvas' pixels, grey levels
    latency_ms: float  # pointermove to the frame after the tooltip is painted


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 1),
            "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
            "max": round(ordered[-1], 1), "count": len(ordered)}


class Explorer:
    """One explorer page, ready: opened from a file (``open``) or shown in a frame of the page
    (the Snakemake report's iframe). Coordinates are the page's CSS pixels."""

    def __init__(self, page, document=None, timeout_ms: float = 60_000):
        self.page = page
        self.document = document or page
        self.origin = (0.0, 0.0)
        if document is not None:
            self.origin = tuple(document.frame_element().evaluate(
                "e => { const r = e.getBoundingClientRect(); return [r.left + e.clientLeft, r.top + e.clientTop]; }"))
        self.document.wait_for_function("document.documentElement.dataset.explorerReady === 'true'",
                                        timeout=timeout_ms)

    @classmethod
    def open(cls, page, path: Path, timeout_ms: float = 60_000) -> "Explorer":
        page.goto(path.resolve().as_uri())
        return cls(page, timeout_ms=timeout_ms)

    def js(self, expression: str, arg=None):
        return self.document.evaluate(expression, arg)

    @property
    def ready_ms(self) -> float:
        """From navigation start to the first paint after the page is usable."""
        return float(self.js(f"{EXPLORER}.readyAt"))

    def marks(self) -> dict[str, float]:
        return {m["name"]: round(m["startTime"], 1) for m in self.js("performance.getEntriesByType('mark')")}

    def frame(self) -> dict[str, float]:
        """The map's frame on the page, in CSS pixels."""
        f = self.js(f"(() => {{ const s = {EXPLORER}.scales(); "
                    "return {left: s.left, top: s.top, width: s.frame.width, height: s.frame.height}; })()")
        return {**f, "left": f["left"] + self.origin[0], "top": f["top"] + self.origin[1]}

    def screen_point(self, index: int) -> tuple[float, float]:
        point = self.js(f"{EXPLORER}.screenPoint({int(index)})")
        return point["x"] + self.origin[0], point["y"] + self.origin[1]

    def drawn_at(self, index: int) -> tuple[float, float]:
        """Where Bokeh drew the point: its glyph's own screen coordinates, on the page. Checks
        ``screen_point`` (the page's code) against Bokeh's drawing."""
        x, y = self.js("""index => {
            const e = window.mnistExplorer, row = e.rowOfIndex.get(index);
            const renderer = e.classRenderers[e.data.label[row]];
            const glyph = Bokeh.index.find_one(renderer).glyph;
            const k = [...renderer.view.indices].indexOf(row);  // the glyph holds its class's rows alone
            const canvas = e.plotView.canvas_view.el.getBoundingClientRect();
            return [canvas.left + glyph.sx[k], canvas.top + glyph.sy[k]];
        }""", int(index))
        return x + self.origin[0], y + self.origin[1]

    def hover(self, index: int) -> Tooltip | None:
        """Move the pointer onto the point with dataset ``index``: the tooltip shown, if any."""
        self.page.mouse.move(2, 2)  # off the map: the next move starts a new hover
        self.document.wait_for_function(f"{TOOLTIP} === null || {TOOLTIP}.hidden")
        self.page.mouse.move(*self.screen_point(index))
        try:
            self.document.wait_for_function(f"!{TOOLTIP}.hidden && {TOOLTIP}.dataset.latencyMs !== undefined",
                                            timeout=5_000)
        except Exception:  # playwright's TimeoutError: nothing hovered
            return None
        shown = self.js(f"""(() => {{ const t = {TOOLTIP};
            return {{index: t.dataset.index, latency: t.dataset.latencyMs,
                     png: t.querySelector('canvas').toDataURL('image/png'),
                     rows: [...t.querySelectorAll('tr')].map(r => [...r.cells].map(c => c.textContent))}}; }})()""")
        from PIL import Image

        png = base64.b64decode(shown["png"].split(",", 1)[1])
        rgba = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
        if not (np.all(rgba[..., 0] == rgba[..., 1]) and np.all(rgba[..., 1] == rgba[..., 2])):
            raise AssertionError("the tooltip's image is not grey")
        return Tooltip(int(shown["index"]), dict(shown["rows"]), rgba[..., 0], float(shown["latency"]))

    def toggle_class(self, name: str) -> None:
        """Click the class's legend entry."""
        self.document.get_by_text(name, exact=True).click()

    def switch(self, button: str) -> None:
        self.document.get_by_role("button", name=button, exact=True).click()
        self.document.wait_for_function("m => window.mnistExplorer.method === m", arg=self.method_of(button))

    def method_of(self, button: str) -> str:
        names = self.js(f"{EXPLORER}.buttons.labels")
        return self.js(f"{EXPLORER}.methods")[names.index(button)]

    def fit(self) -> None:
        """The whole embedding in view again, as the page opened."""
        self.js(f"{EXPLORER}.show({EXPLORER}.method)")

    def look_up(self, text: str) -> None:
        box = self.document.get_by_placeholder(self.js(f"{EXPLORER}.lookUpBox.placeholder"))
        box.fill(text)
        box.press("Enter")

    def chosen(self) -> dict:
        """The chosen point's index and where its highlight is drawn, in data coordinates."""
        return self.js(f"(() => {{ const d = {EXPLORER}.highlightSource.data; "
                       "return {index: [...d.index], x: [...d.x], y: [...d.y]}; })()")

    def point(self, index: int) -> tuple[float, float]:
        """The point's data coordinates in the embedding shown."""
        return tuple(self.js(f"(() => {{ const e = {EXPLORER}, r = e.rowOfIndex.get({int(index)}); "
                             "return [e.data.x[r], e.data.y[r]]; })()"))

    def screenshot(self, path: Path | None = None) -> np.ndarray:
        """The map's frame as RGB pixels (and a PNG file if ``path``)."""
        from PIL import Image

        f = self.frame()
        png = self.page.screenshot(path=path, clip={"x": f["left"], "y": f["top"], "width": f["width"],
                                                    "height": f["height"]})
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))

    def frame_times(self, gesture: str, steps: int = 60, pause_ms: int = 16) -> dict[str, float]:
        """Milliseconds between animation frames while a scripted ``drag`` (pan) or ``zoom``
        (mouse wheel) runs over the map's centre."""
        f = self.frame()
        cx, cy = f["left"] + f["width"] / 2, f["top"] + f["height"] / 2
        self.page.mouse.move(cx, cy)
        self.js(RECORD_FRAMES)
        if gesture == "drag":
            self.page.mouse.down()
            for k in range(steps):
                self.page.mouse.move(cx + 3 * k, cy + 2 * k)
                self.page.wait_for_timeout(pause_ms)
            self.page.mouse.up()
        elif gesture == "zoom":
            for k in range(steps):
                self.page.mouse.wheel(0, -40 if k < steps // 2 else 40)
                self.page.wait_for_timeout(pause_ms)
        else:
            raise ValueError(f"gesture must be drag or zoom, not {gesture!r}")
        self.page.wait_for_timeout(100)
        frames = self.js("window.__recording = false, window.__frames")
        return percentiles([b - a for a, b in zip(frames, frames[1:])])
