/**
 * Channel display: map the server's 8-bit display image (RGBA pixels) to what the
 * canvas shows, for a colour mode, a contrast and a brightness. Pure functions on
 * typed arrays, so they are unit-tested without a browser.
 */

/**
 * A 256-entry lookup table: out = clamp((v/255 - 0.5) * contrast + 0.5 + brightness) * 255.
 * @returns {Uint8ClampedArray}
 */
export function contrastLut(contrast = 1, brightness = 0) {
  const lut = new Uint8ClampedArray(256);
  for (let v = 0; v < 256; v++) {
    lut[v] = Math.round(((v / 255 - 0.5) * contrast + 0.5 + brightness) * 255);
  }
  return lut;
}

/**
 * @param {Uint8ClampedArray} src RGBA pixels, length 4 * n (ImageData.data of the source)
 * @param {Uint8ClampedArray} dst RGBA pixels, same length (may not alias src)
 * @param {{colorMode: "rgb"|"red"|"green"|"blue"|"gray", contrast: number, brightness: number}} display
 * @param {number} channels channels in the source image: 1 = grayscale (R = G = B)
 */
export function applyDisplay(src, dst, { colorMode, contrast, brightness }, channels = 3) {
  const lut = contrastLut(contrast, brightness);
  const n = src.length;
  // A grayscale source shows the same in every mode but "gray" is its natural look.
  const mode = channels === 1 && colorMode !== "rgb" ? "gray" : colorMode;
  switch (mode) {
    case "rgb":
      for (let i = 0; i < n; i += 4) {
        dst[i] = lut[src[i]];
        dst[i + 1] = lut[src[i + 1]];
        dst[i + 2] = lut[src[i + 2]];
        dst[i + 3] = 255;
      }
      break;
    case "gray":
      for (let i = 0; i < n; i += 4) {
        const v = lut[((src[i] + src[i + 1] + src[i + 2]) / 3) | 0];
        dst[i] = v;
        dst[i + 1] = v;
        dst[i + 2] = v;
        dst[i + 3] = 255;
      }
      break;
    default: {
      const c = { red: 0, green: 1, blue: 2 }[mode];
      if (c === undefined) throw new Error(`unknown colour mode ${colorMode}`);
      for (let i = 0; i < n; i += 4) {
        dst[i] = 0;
        dst[i + 1] = 0;
        dst[i + 2] = 0;
        dst[i + c] = lut[src[i + c]];
        dst[i + 3] = 255;
      }
    }
  }
  return dst;
}
