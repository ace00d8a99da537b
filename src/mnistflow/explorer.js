// The embedding explorer's page logic (src/mnistflow/explorer.py renders the page). Bokeh draws
// the points, pans, zooms and toggles classes from the legend; this file adds what Bokeh's
// HoverTool cannot do for 70,000 points drawn by ten renderers over one source: one tooltip, for
// the point nearest the pointer, showing the image itself (HoverTool shows one tooltip per
// renderer, and its template cannot draw pixels). It also switches embeddings, finds an index,
// highlights the chosen point and keeps the rings (mistakes, suspected label errors, duplicates,
// outliers) to the classes shown. The images arrive zlib-compressed in #explorer-pixels and are
// inflated by the browser's own DecompressionStream: no request leaves the page.
(() => {
  "use strict";

  const HOVER_RADIUS_PX = 8; // a point this close to the pointer is hovered
  const GRID_CELLS = 256; // per side of the grid that finds the nearest point
  const TOOLTIP_SCALE = 4; // screen pixels per image pixel

  function decodeBase64(text) {
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(text.trim());
    const binary = atob(text.trim());
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  async function inflate(bytes) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  // Each point's row in its grid cell, for the nearest-point search of one embedding.
  class Grid {
    constructor(xs, ys) {
      let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
      for (let i = 0; i < xs.length; i++) {
        x0 = Math.min(x0, xs[i]); x1 = Math.max(x1, xs[i]);
        y0 = Math.min(y0, ys[i]); y1 = Math.max(y1, ys[i]);
      }
      Object.assign(this, { xs, ys, x0, y0, x1, y1 });
      this.cw = (x1 - x0) / GRID_CELLS || 1;
      this.ch = (y1 - y0) / GRID_CELLS || 1;
      const cell = new Int32Array(xs.length);
      const start = new Int32Array(GRID_CELLS * GRID_CELLS + 1);
      for (let i = 0; i < xs.length; i++) {
        cell[i] = this.cellOf(xs[i], ys[i]);
        start[cell[i] + 1]++;
      }
      for (let c = 0; c < GRID_CELLS * GRID_CELLS; c++) start[c + 1] += start[c];
      const fill = start.slice(0, -1);
      const rows = new Int32Array(xs.length);
      for (let i = 0; i < xs.length; i++) rows[fill[cell[i]]++] = i;
      Object.assign(this, { start, rows });
    }

    column(x) { return Math.min(GRID_CELLS - 1, Math.max(0, Math.floor((x - this.x0) / this.cw))); }
    line(y) { return Math.min(GRID_CELLS - 1, Math.max(0, Math.floor((y - this.y0) / this.ch))); }
    cellOf(x, y) { return this.line(y) * GRID_CELLS + this.column(x); }

    // The row nearest (x, y) within radius screen pixels, measured with pixels per unit (px, py),
    // among rows that ``keep`` accepts; -1 when none.
    nearest(x, y, radius, px, py, keep) {
      const [rx, ry] = [radius / px, radius / py];
      let [best, bestDistance] = [-1, radius * radius];
      for (let line = this.line(y - ry); line <= this.line(y + ry); line++) {
        for (let column = this.column(x - rx); column <= this.column(x + rx); column++) {
          const cell = line * GRID_CELLS + column;
          for (let k = this.start[cell]; k < this.start[cell + 1]; k++) {
            const row = this.rows[k];
            const dx = (this.xs[row] - x) * px;
            const dy = (this.ys[row] - y) * py;
            const distance = dx * dx + dy * dy;
            if (distance <= bestDistance && keep(row)) [best, bestDistance] = [row, distance];
          }
        }
      }
      return best;
    }
  }

  class Explorer {
    constructor() {
      this.ready = false;
      this.pointerAt = 0; // timeStamp of the last pointermove: hover latency starts there
      this.pixels = this.decodeImages();
      document.addEventListener("pointermove", (event) => { this.pointerAt = event.timeStamp; }, true);
    }

    async decodeImages() {
      const compressed = decodeBase64(document.getElementById("explorer-pixels").textContent);
      performance.mark("explorer-images-decoded");
      const images = await inflate(compressed);
      performance.mark("explorer-images-inflated");
      return images;
    }

    // Called once Bokeh's document is ready, with its models (explorer.py names them).
    async attach(models) {
      performance.mark("explorer-document-ready");
      Object.assign(this, models);
      this.data = this.source.data;
      this.rowOfIndex = new Map(Array.from(this.data.index, (index, row) => [index, row]));
      this.grids = new Map();
      this.chosen = -1;
      this.hovered = -1;
      this.tooltip = this.makeTooltip();
      this.images = await this.pixels;
      // the page opens on the first method, fitted by explorer.py
      this.method = this.methods[this.buttons.active];
      this.grid(this.method);
      performance.mark("explorer-shown");
      this.ringRows = this.ringRenderers.map((renderer) => Array.from(renderer.view.filter.indices ?? []));
      for (const renderer of this.classRenderers) {
        renderer.connect(renderer.properties.visible.change, () => this.classesChanged());
      }
      await afterNextPaint();
      this.ready = true;
      this.readyAt = performance.now();
      performance.mark("explorer-ready");
      document.documentElement.dataset.explorerReady = "true";
    }

    get plotView() { return Bokeh.index.find_one(this.plot); }

    // Pixels per data unit along x and y, and the frame's position on the page.
    scales() {
      const view = this.plotView;
      const frame = view.frame.bbox;
      const [xr, yr] = [this.plot.x_range, this.plot.y_range];
      const page = view.canvas_view.el.getBoundingClientRect();
      return {
        px: frame.width / (xr.end - xr.start), py: frame.height / (yr.end - yr.start),
        left: page.left + frame.left, top: page.top + frame.top, frame,
      };
    }

    grid(method) {
      if (!this.grids.has(method)) {
        this.grids.set(method, new Grid(this.data[`x_${method}`], this.data[`y_${method}`]));
      }
      return this.grids.get(method);
    }

    // Show embedding ``method`` fitted to the frame; the chosen point stays chosen.
    show(method) {
      this.method = method;
      this.hide();
      const data = { ...this.source.data, x: this.data[`x_${method}`], y: this.data[`y_${method}`] };
      this.source.data = data;
      this.data = data;
      const grid = this.grid(method);
      this.fit(grid.x0, grid.x1, grid.y0, grid.y1);
      this.highlight();
    }

    // Ranges around the bounds with one scale on both axes, so that distances read alike.
    fit(x0, x1, y0, y1) {
      const { frame } = this.scales();
      const unit = 1.04 * Math.max((x1 - x0) / frame.width, (y1 - y0) / frame.height);
      const [cx, cy] = [(x0 + x1) / 2, (y0 + y1) / 2];
      const [hw, hh] = [unit * frame.width / 2, unit * frame.height / 2];
      const xr = { start: cx - hw, end: cx + hw };
      const yr = { start: cy - hh, end: cy + hh };
      this.plot.x_range.setv({ ...xr, reset_start: xr.start, reset_end: xr.end });
      this.plot.y_range.setv({ ...yr, reset_start: yr.start, reset_end: yr.end });
    }

    centre(row) {
      const { x_range: xr, y_range: yr } = this.plot;
      const [hw, hh] = [(xr.end - xr.start) / 2, (yr.end - yr.start) / 2];
      const [x, y] = [this.data.x[row], this.data.y[row]];
      xr.setv({ start: x - hw, end: x + hw });
      yr.setv({ start: y - hh, end: y + hh });
    }

    classVisible(label) { return this.classRenderers[label].visible; }

    // A hidden class takes its rings, its chosen point's ring and its tooltip along.
    classesChanged() {
      this.hide();
      this.ringRenderers.forEach((renderer, layer) => {
        renderer.view.filter.indices = this.ringRows[layer].filter((row) => this.classVisible(this.data.label[row]));
      });
      this.highlight();
    }

    pointAt(sx, sy) {
      const { px, py, frame } = this.scales();
      if (sx < frame.left || sx > frame.right || sy < frame.top || sy > frame.bottom) return -1; // e.g. the legend
      const x = this.plot.x_range.start + (sx - frame.left) / px;
      const y = this.plot.y_range.end - (sy - frame.top) / py;
      return this.grid(this.method).nearest(x, y, HOVER_RADIUS_PX, px, py,
        (row) => this.classVisible(this.data.label[row]));
    }

    // Bokeh's mousemove event: sx, sy are canvas pixels.
    hover(event) {
      const row = this.ready ? this.pointAt(event.sx, event.sy) : -1;
      if (row < 0) return this.hide();
      if (row === this.hovered) return;
      this.hovered = row;
      this.drawTooltip(row, event.sx, event.sy);
    }

    tap(event) {
      const row = this.ready ? this.pointAt(event.sx, event.sy) : -1;
      if (row >= 0) this.choose(row);
    }

    // The look-up box: an index of the dataset (train images first, then test images).
    lookUp(text) {
      const typed = text.trim();
      if (typed === "") return;
      const isIndex = /^\d+$/.test(typed);
      const row = isIndex ? this.rowOfIndex.get(Number(typed)) : undefined;
      if (row === undefined) {
        this.status.text = isIndex
          ? `Index <b>${escape(typed)}</b> is not among the ${this.data.index.length.toLocaleString("en")} images of this map.`
          : `<b>${escape(typed)}</b> is not an index: type a whole number, e.g. ${this.data.index[0]}.`;
        return;
      }
      this.choose(row);
      this.centre(row);
    }

    choose(row) {
      this.chosen = row;
      this.highlight();
      this.status.text = `Chosen: ${this.describe(row).map(([k, v]) => `${k} <b>${escape(v)}</b>`).join(", ")}`;
    }

    highlight() {
      const rows = this.chosen < 0 || !this.classVisible(this.data.label[this.chosen]) ? [] : [this.chosen];
      this.highlightSource.data = { x: rows.map((r) => this.data.x[r]), y: rows.map((r) => this.data.y[r]),
        index: rows.map((r) => this.data.index[r]) };
    }

    describe(row) {
      const d = this.data;
      // a suspected label error's class is the label it was given, beside the one suggested
      const classKey = d.label_issue?.[row] ? "given" : "class";
      const lines = [["index", String(d.index[row])], [classKey, this.classes[d.label[row]]],
        ["split", d.is_test[row] ? "test" : "train"]];
      if (d.mistake[row]) {
        lines.push(["predicted", this.classes[d.predicted[row]]],
          ["confidence", `${(100 * d.confidence[row]).toFixed(1)}%`]);
      }
      // data quality's findings, where the page has them
      if (d.label_issue?.[row]) {
        lines.push(["suggested", this.classes[d.suggested[row]]],
          ["label quality", d.label_quality[row].toPrecision(2)]);
      }
      if (d.duplicate?.[row]) {
        lines.push(["copy of", `${d.duplicate_of[row]} (distance ${d.duplicate_distance[row].toFixed(2)})`]);
      }
      if (d.outlier?.[row]) lines.push(["outlier score", d.outlier_score[row].toFixed(1)]);
      return lines;
    }

    makeTooltip() {
      const tooltip = document.createElement("div");
      tooltip.id = "explorer-tooltip";
      tooltip.hidden = true;
      const canvas = document.createElement("canvas");
      [canvas.width, canvas.height] = [this.imageShape[1], this.imageShape[0]];
      canvas.style.width = `${TOOLTIP_SCALE * canvas.width}px`;
      canvas.style.height = `${TOOLTIP_SCALE * canvas.height}px`;
      const table = document.createElement("table");
      tooltip.append(canvas, table);
      document.body.append(tooltip);
      return tooltip;
    }

    drawTooltip(row, sx, sy) {
      const [h, w] = this.imageShape;
      const image = new ImageData(w, h);
      const offset = row * h * w;
      for (let p = 0; p < h * w; p++) {
        const v = this.images[offset + p];
        image.data[4 * p] = image.data[4 * p + 1] = image.data[4 * p + 2] = v;
        image.data[4 * p + 3] = 255;
      }
      const canvas = this.tooltip.querySelector("canvas");
      canvas.getContext("2d").putImageData(image, 0, 0);
      const table = this.tooltip.querySelector("table");
      table.replaceChildren(...this.describe(row).map(([key, value]) => {
        const tr = document.createElement("tr");
        for (const text of [key, value]) tr.append(Object.assign(document.createElement("td"), { textContent: text }));
        return tr;
      }));
      const flagged = this.data.mistake[row] || this.data.label_issue?.[row] || this.data.duplicate?.[row] ||
        this.data.outlier?.[row];
      this.tooltip.classList.toggle("mistake", Boolean(flagged));
      this.tooltip.dataset.index = String(this.data.index[row]);
      this.tooltip.hidden = false;
      // beside the pointer, on the side where it fits
      const { left, top, frame } = this.scales();
      const [x, y] = [left - frame.left + sx, top - frame.top + sy];
      const { width, height } = this.tooltip.getBoundingClientRect();
      this.tooltip.style.left = `${x + 14 + width > window.innerWidth ? x - 14 - width : x + 14}px`;
      this.tooltip.style.top = `${y + 14 + height > window.innerHeight ? y - 14 - height : y + 14}px`;
      const pointerAt = this.pointerAt;
      afterNextPaint().then(() => {
        this.tooltip.dataset.latencyMs = (performance.now() - pointerAt).toFixed(1);
      });
    }

    hide() {
      this.hovered = -1;
      if (this.tooltip) {
        this.tooltip.hidden = true;
        delete this.tooltip.dataset.index;
      }
    }

    // Client (page) coordinates of the point with dataset ``index`` in the embedding shown.
    screenPoint(index) {
      const row = this.rowOfIndex.get(index);
      const { px, py, left, top } = this.scales();
      return { x: left + (this.data.x[row] - this.plot.x_range.start) * px,
        y: top + (this.plot.y_range.end - this.data.y[row]) * py };
    }
  }

  // Resolves once the frame after now is painted: a task queued from requestAnimationFrame
  // runs after that frame's paint.
  function afterNextPaint() {
    return new Promise((resolve) => requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => resolve();
      channel.port2.postMessage(null);
    }));
  }

  function escape(text) {
    const span = document.createElement("span");
    span.textContent = text;
    return span.innerHTML;
  }

  window.mnistExplorer = new Explorer();
})();
