/**
 * Reads the format, size and channel count of BMP, JPEG and PNG files from
 * their headers, and checks a file for truncation without decoding it.
 *
 * @module
 */

export type ImageFormat = "bmp" | "jpeg" | "png";

export interface ImageHeader {
  format: ImageFormat;
  width: number;
  height: number;
  /** Channels the decoder returns: 1 for grayscale, 3 for color. */
  channels: 1 | 3;
}

const pngSignature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Returns the format from the file signature, or null when unknown. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d) {
    return "bmp";
  }
  if (
    bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 &&
    bytes[2] === 0xff
  ) {
    return "jpeg";
  }
  if (
    bytes.length >= 8 && pngSignature.every((value, i) => bytes[i] === value)
  ) {
    return "png";
  }
  return null;
}

/**
 * Parses the header at the start of a file. `head` must contain the file's
 * first bytes (64 KiB finds the frame header of every ordinary JPEG);
 * `fileSize` is the whole file's length. Throws an Error saying what is
 * invalid.
 */
export function parseImageHeader(
  head: Uint8Array,
  fileSize: number,
): ImageHeader {
  const format = sniffImageFormat(head);
  if (format === "bmp") return parseBmpHeader(head, fileSize);
  if (format === "jpeg") return parseJpegHeader(head);
  if (format === "png") return parsePngHeader(head);
  throw new Error("not a BMP, JPEG or PNG file (unknown signature)");
}

function parseBmpHeader(head: Uint8Array, fileSize: number): ImageHeader {
  if (head.length < 54) throw new Error("BMP header is truncated");
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const pixelOffset = view.getUint32(10, true);
  const width = view.getInt32(18, true);
  const height = Math.abs(view.getInt32(22, true));
  const bitsPerPixel = view.getUint16(28, true);
  const compression = view.getUint32(30, true);
  if (width <= 0 || height <= 0) {
    throw new Error(`BMP size ${width}x${height} is invalid`);
  }
  // Uncompressed rows are padded to 4 bytes; RLE files are shorter.
  const rowBytes = Math.ceil((width * bitsPerPixel) / 32) * 4;
  const expected = pixelOffset + rowBytes * height;
  if (compression === 0 && fileSize < expected) {
    throw new Error(
      `BMP is truncated: ${fileSize} bytes, ${expected} expected`,
    );
  }
  let channels: 1 | 3 = bitsPerPixel <= 8 ? 1 : 3;
  if (channels === 1 && !bmpPaletteIsGray(head, view, bitsPerPixel)) {
    channels = 3;
  }
  return { format: "bmp", width, height, channels };
}

/** Checks whether every palette entry of an indexed BMP is a gray level. */
function bmpPaletteIsGray(
  head: Uint8Array,
  view: DataView,
  bitsPerPixel: number,
): boolean {
  const dibSize = view.getUint32(14, true);
  const used = view.getUint32(46, true) || 2 ** bitsPerPixel;
  const start = 14 + dibSize;
  if (start + used * 4 > head.length) return false;
  for (let i = 0; i < used; i++) {
    const blue = head[start + 4 * i];
    const green = head[start + 4 * i + 1];
    const red = head[start + 4 * i + 2];
    if (blue !== green || green !== red) return false;
  }
  return true;
}

/** Start-of-frame markers: baseline, progressive, lossless, arithmetic. */
const startOfFrameMarkers = new Set([
  0xc0,
  0xc1,
  0xc2,
  0xc3,
  0xc5,
  0xc6,
  0xc7,
  0xc9,
  0xca,
  0xcb,
  0xcd,
  0xce,
  0xcf,
]);

function parseJpegHeader(head: Uint8Array): ImageHeader {
  let position = 2;
  while (position + 4 <= head.length) {
    if (head[position] !== 0xff) {
      throw new Error(`JPEG marker expected at byte ${position}`);
    }
    const marker = head[position + 1];
    if (marker === 0xff) {
      position += 1; // fill byte
      continue;
    }
    const length = (head[position + 2] << 8) | head[position + 3];
    if (startOfFrameMarkers.has(marker)) {
      if (position + 10 > head.length) break;
      const height = (head[position + 5] << 8) | head[position + 6];
      const width = (head[position + 7] << 8) | head[position + 8];
      const components = head[position + 9];
      if (width === 0 || height === 0) {
        throw new Error(`JPEG size ${width}x${height} is invalid`);
      }
      if (components !== 1 && components !== 3 && components !== 4) {
        throw new Error(`JPEG has ${components} components`);
      }
      return {
        format: "jpeg",
        width,
        height,
        channels: components === 1 ? 1 : 3,
      };
    }
    if (marker === 0xda || marker === 0xd9) break;
    position += 2 + length;
  }
  throw new Error("JPEG frame header (SOF) not found");
}

function parsePngHeader(head: Uint8Array): ImageHeader {
  if (head.length < 33) throw new Error("PNG header is truncated");
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const width = view.getUint32(16, false);
  const height = view.getUint32(20, false);
  const colorType = head[25];
  if (width === 0 || height === 0) {
    throw new Error(`PNG size ${width}x${height} is invalid`);
  }
  // Color types: 0 gray, 2 RGB, 3 indexed, 4 gray + alpha, 6 RGB + alpha.
  const channels = colorType === 0 || colorType === 4 ? 1 : 3;
  return { format: "png", width, height, channels };
}

/**
 * Checks the last bytes of a file for the format's end marker: the JPEG
 * end-of-image marker or the PNG IEND chunk. BMP has no end marker; its
 * length is checked from the header instead. Returns an error message, or
 * null when the tail is valid.
 */
export function checkImageTail(
  format: ImageFormat,
  tail: Uint8Array,
): string | null {
  if (format === "jpeg") {
    // Some encoders pad after the end-of-image marker, so search the tail.
    for (let i = tail.length - 2; i >= 0; i--) {
      if (tail[i] === 0xff && tail[i + 1] === 0xd9) return null;
    }
    return "JPEG end-of-image marker is missing (file truncated)";
  }
  if (format === "png") {
    const iend = [0x49, 0x45, 0x4e, 0x44];
    for (let i = tail.length - 8; i >= 0; i--) {
      if (iend.every((value, k) => tail[i + k] === value)) return null;
    }
    return "PNG IEND chunk is missing (file truncated)";
  }
  return null;
}
