/**
 * The editor's canvas layers (same protocol as layers.js): the selected masks, and
 * what the active tool is drawing (model.sketch). They only draw.
 */
import { packRGBA } from "../colors.js";
import { createSurface, PixelSurface } from "./surface.js";

const SELECTED_FILL = packRGBA(255, 214, 10, 70);
const SELECTED_EDGE = packRGBA(255, 214, 10, 255);

/** The selected masks, tinted with a bright edge; composed when the selection or masks change. */
export class SelectionLayer {
  constructor({ surfaceFactory = createSurface } = {}) {
    this.surfaceFactory = surfaceFactory;
    this.surface = null;
    this.stale = true;
  }

  invalidate(reason) {
    if (["selection", "masks", "plane", "image"].includes(reason)) this.stale = true;
    return this.stale;
  }

  visible(model) {
    return model.masks !== null && model.selection.size > 0;
  }

  draw(ctx, model) {
    if (this.stale) {
      this.compose(model);
      this.stale = false;
    }
    ctx.drawImage(this.surface.canvas, 0, 0);
  }

  compose(model) {
    const { width, height, ceiling } = model.masks;
    if (!this.surface?.fits(width, height)) this.surface = new PixelSurface(width, height, this.surfaceFactory);
    const labels = model.planeLabels();
    const chosen = new Uint8Array(ceiling + 1);
    for (const label of model.selection) if (label <= ceiling) chosen[label] = 1;
    const out = this.surface.pixels;
    const lastX = width - 1;
    const lastY = height - 1;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        const l = labels[i];
        if (!chosen[l]) {
          out[i] = 0;
          continue;
        }
        const edge =
          x === 0 || y === 0 || x === lastX || y === lastY ||
          labels[i - 1] !== l || labels[i + 1] !== l || labels[i - width] !== l || labels[i + width] !== l;
        out[i] = edge ? SELECTED_EDGE : SELECTED_FILL;
      }
    }
    this.surface.commit();
  }
}

/**
 * The tool's sketch, drawn with canvas paths in image coordinates (the renderer has
 * set the view transform, so one screen pixel is 1 / scale):
 *   {kind: "path", points, closed?, closeRadius?, hover?}   an outline being traced
 *   {kind: "line", points}                                  a split line
 *   {kind: "box", x0, y0, x1, y1}                           a selection box
 *   {kind: "stroke", points, diameter, erase}               a brush or eraser stroke
 *   {kind: "brush", x, y, diameter, erase}                  the brush under the pointer
 *   {kind: "vertices", points, active}                      an outline being edited
 */
export class SketchLayer {
  invalidate(reason) {
    return reason === "sketch";
  }

  visible(model) {
    return model.sketch !== null;
  }

  draw(ctx, model) {
    const sketch = model.sketch;
    const px = 1 / model.transform.scale;
    ctx.save();
    ctx.lineJoin = "round";
    ctx.lineCap = "round";
    const path = (points, close) => {
      ctx.beginPath();
      points.forEach((p, i) => (i === 0 ? ctx.moveTo(p.x, p.y) : ctx.lineTo(p.x, p.y)));
      if (close) ctx.closePath();
    };
    const outlined = (width, color) => {
      ctx.lineWidth = (width + 2) * px;
      ctx.strokeStyle = "rgba(0, 0, 0, 0.55)";
      ctx.stroke();
      ctx.lineWidth = width * px;
      ctx.strokeStyle = color;
      ctx.stroke();
    };
    switch (sketch.kind) {
      case "path": {
        const points = sketch.hover ? [...sketch.points, sketch.hover] : sketch.points;
        path(points, sketch.closed);
        outlined(1.5, "#ffd60a");
        const start = sketch.points[0];
        if (start) {
          ctx.beginPath();
          ctx.arc(start.x, start.y, (sketch.closeRadius ?? 6) * px, 0, 2 * Math.PI);
          outlined(1.5, sketch.nearStart ? "#34c759" : "#ffd60a");
        }
        break;
      }
      case "line":
        path(sketch.points, false);
        outlined(2, "#ff375f");
        break;
      case "box":
        ctx.beginPath();
        ctx.rect(sketch.x0, sketch.y0, sketch.x1 - sketch.x0, sketch.y1 - sketch.y0);
        ctx.fillStyle = "rgba(255, 214, 10, 0.12)";
        ctx.fill();
        outlined(1, "#ffd60a");
        break;
      case "stroke":
        path(sketch.points, false);
        ctx.lineWidth = sketch.diameter;
        ctx.strokeStyle = sketch.erase ? "rgba(255, 255, 255, 0.45)" : "rgba(255, 214, 10, 0.5)";
        ctx.stroke();
        break;
      case "brush":
        ctx.beginPath();
        ctx.arc(sketch.x, sketch.y, sketch.diameter / 2, 0, 2 * Math.PI);
        outlined(1, sketch.erase ? "#ffffff" : "#ffd60a");
        break;
      case "vertices": {
        path(sketch.points, true);
        outlined(1.5, "#ffd60a");
        const r = 4 * px;
        sketch.points.forEach((p, i) => {
          ctx.beginPath();
          ctx.rect(p.x - r, p.y - r, 2 * r, 2 * r);
          ctx.fillStyle = i === sketch.active ? "#ff375f" : "#ffffff";
          ctx.fill();
          ctx.lineWidth = px;
          ctx.strokeStyle = "#000000";
          ctx.stroke();
        });
        break;
      }
      default:
        break;
    }
    ctx.restore();
  }
}
