/**
 * Decodes and encodes the frame formats of the datasets: BMP for SMIC, JPEG
 * for CASME II and SAMM, PNG for derived images. The codecs come from npm:
 * bmp-ts, jpeg-js for decoding JPEG, MozJPEG (@jsquash/jpeg) for encoding
 * it, and fast-png. jpeg-js cannot write one-component grayscale JPEGs,
 * which SAMM uses, hence the second JPEG library.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { decode as decodeBmpData, encode as encodeBmpData } from "bmp-ts";
import jpegJs from "jpeg-js";
import { encode as encodeMozJpeg } from "@jsquash/jpeg";
import {
  convertIndexedToRgb,
  decode as decodePngData,
  encode as encodePngData,
} from "fast-png";
import {
  checkImageTail,
  type ImageFormat,
  type ImageHeader,
  parseImageHeader,
} from "./image_header.ts";

/** An 8-bit image, row-major, channels interleaved (gray or RGB). */
export interface DecodedImage {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

/** Bytes read from the start of a file to find its header. */
const headBytes = 64 * 1024;
/** Bytes read from the end of a file to find its end marker. */
const tailBytes = 1024;

/**
 * Decodes a BMP, JPEG or PNG file. Grayscale files (one-component JPEG,
 * gray PNG, gray-palette BMP) keep one channel; alpha is dropped.
 * Throws an Error naming the path when the file cannot be decoded.
 */
export async function decodeImage(path: string): Promise<DecodedImage> {
  const bytes = await Deno.readFile(path);
  try {
    return decodeImageBytes(bytes);
  } catch (error) {
    throw new Error(`Cannot decode image ${path}: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

/** Decodes image bytes; see decodeImage. */
export function decodeImageBytes(bytes: Uint8Array): DecodedImage {
  const header = parseImageHeader(
    bytes.subarray(0, headBytes),
    bytes.length,
  );
  const tailError = checkImageTail(
    header.format,
    bytes.subarray(Math.max(0, bytes.length - tailBytes)),
  );
  if (tailError !== null) throw new Error(tailError);
  switch (header.format) {
    case "bmp":
      return decodeBmp(bytes, header);
    case "jpeg":
      return decodeJpeg(bytes, header);
    case "png":
      return decodePng(bytes);
  }
}

function decodeBmp(bytes: Uint8Array, header: ImageHeader): DecodedImage {
  // bmp-ts 1.0.9 ignores its toRGBA option for palette images, so decode
  // to its default ABGR order and reorder here.
  const decoded = decodeBmpData(Buffer.from(bytes));
  const width = decoded.width;
  const height = Math.abs(decoded.height);
  const abgr = decoded.data;
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    rgb[3 * p] = abgr[4 * p + 3];
    rgb[3 * p + 1] = abgr[4 * p + 2];
    rgb[3 * p + 2] = abgr[4 * p + 1];
  }
  return fromInterleaved(width, height, 3, rgb, header.channels);
}

function decodeJpeg(bytes: Uint8Array, header: ImageHeader): DecodedImage {
  const decoded = jpegJs.decode(bytes, {
    formatAsRGBA: false,
    useTArray: true,
  });
  return fromInterleaved(
    decoded.width,
    decoded.height,
    3,
    decoded.data,
    header.channels,
  );
}

function decodePng(bytes: Uint8Array): DecodedImage {
  const decoded = decodePngData(bytes);
  let data = decoded.data;
  let stride = decoded.channels;
  if (decoded.palette !== undefined) {
    data = convertIndexedToRgb(decoded);
    stride = data.length / (decoded.width * decoded.height);
  }
  if (decoded.depth === 16) {
    const eightBit = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) eightBit[i] = data[i] >> 8;
    data = eightBit;
  } else if (decoded.depth < 8 && decoded.palette === undefined) {
    // fast-png returns such samples packed several to a byte.
    throw new Error(
      `PNG gray depth ${decoded.depth} is not supported; convert to 8 bits`,
    );
  }
  const channels = stride <= 2 ? 1 : 3;
  return fromInterleaved(
    decoded.width,
    decoded.height,
    stride,
    data,
    channels,
  );
}

/** Copies the first `channels` samples of each pixel of `source`. */
function fromInterleaved(
  width: number,
  height: number,
  stride: number,
  source: ArrayLike<number>,
  channels: 1 | 3,
): DecodedImage {
  const pixels = width * height;
  if (source.length < pixels * stride) {
    throw new Error(
      `decoder returned ${source.length} samples for ${width}x${height}`,
    );
  }
  const data = new Uint8Array(pixels * channels);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < channels; c++) {
      data[p * channels + c] = source[p * stride + c];
    }
  }
  return { width, height, channels, data };
}

/**
 * Reads a frame's header and end marker without decoding it, so that a
 * loader can check thousands of frames quickly. Throws an Error saying
 * what is invalid.
 */
export async function readImageHeader(path: string): Promise<ImageHeader> {
  const file = await Deno.open(path, { read: true });
  try {
    const { size } = await file.stat();
    const head = await readAt(file, 0, Math.min(size, headBytes));
    const header = parseImageHeader(head, size);
    const tailStart = Math.max(0, size - tailBytes);
    const tail = await readAt(file, tailStart, size - tailStart);
    const tailError = checkImageTail(header.format, tail);
    if (tailError !== null) throw new Error(tailError);
    return header;
  } finally {
    file.close();
  }
}

async function readAt(
  file: Deno.FsFile,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < length) {
    const count = await file.read(buffer.subarray(filled));
    if (count === null) break;
    filled += count;
  }
  return buffer.subarray(0, filled);
}

/** Returns the format for a file name extension, or null. */
export function imageFormatOfName(name: string): ImageFormat | null {
  const extension = name.toLowerCase().split(".").pop();
  if (extension === "bmp") return "bmp";
  if (extension === "jpg" || extension === "jpeg") return "jpeg";
  if (extension === "png") return "png";
  return null;
}

function checkImage(image: DecodedImage): void {
  const expected = image.width * image.height * image.channels;
  if (image.data.length !== expected) {
    throw new RangeError(
      `image data has ${image.data.length} bytes, ` +
        `${image.width}x${image.height}x${image.channels} needs ${expected}`,
    );
  }
}

/**
 * Encodes a 24-bit bottom-up BMP with a 40-byte BITMAPINFOHEADER, the
 * format of the SMIC frames. Color only: bmp-ts 1.0.9 writes at most 128
 * palette entries for 8-bit images, too few for 256 gray levels, so
 * grayscale images are rejected (write them as PNG or JPEG).
 */
export function encodeBmp(image: DecodedImage): Uint8Array {
  checkImage(image);
  if (image.channels !== 3) {
    throw new RangeError(
      "encodeBmp writes 24-bit color only; write grayscale as PNG or JPEG",
    );
  }
  const pixels = image.width * image.height;
  // bmp-ts takes ABGR samples, 4 bytes per pixel.
  const abgr = Buffer.alloc(pixels * 4);
  for (let p = 0; p < pixels; p++) {
    abgr[4 * p + 1] = image.data[p * 3 + 2];
    abgr[4 * p + 2] = image.data[p * 3 + 1];
    abgr[4 * p + 3] = image.data[p * 3];
  }
  const encoded = encodeBmpData({
    width: image.width,
    height: image.height,
    data: abgr,
    bitPP: 24,
  });
  return new Uint8Array(encoded.data);
}

/** MozJPEG color spaces (the package declares them as a const enum). */
const mozJpegGrayscale = 1;
const mozJpegYCbCr = 3;

/**
 * Encodes a baseline JPEG: one component for grayscale, YCbCr with 4:2:0
 * chroma subsampling for color. The output depends only on the input.
 */
export async function encodeJpeg(
  image: DecodedImage,
  quality = 92,
): Promise<Uint8Array> {
  checkImage(image);
  const pixels = image.width * image.height;
  const rgba = new Uint8ClampedArray(pixels * 4);
  for (let p = 0; p < pixels; p++) {
    const red = image.data[p * image.channels];
    rgba[4 * p] = red;
    rgba[4 * p + 1] = image.channels === 3 ? image.data[p * 3 + 1] : red;
    rgba[4 * p + 2] = image.channels === 3 ? image.data[p * 3 + 2] : red;
    rgba[4 * p + 3] = 255;
  }
  const encoded = await encodeMozJpeg(
    { data: rgba, width: image.width, height: image.height } as ImageData,
    {
      quality,
      baseline: true,
      progressive: false,
      optimize_coding: true,
      color_space: image.channels === 1 ? mozJpegGrayscale : mozJpegYCbCr,
      auto_subsample: false,
      chroma_subsample: 2,
    },
  );
  return new Uint8Array(encoded);
}

/** Encodes an 8-bit gray or RGB PNG. */
export function encodePng(image: DecodedImage): Uint8Array {
  checkImage(image);
  return encodePngData({
    width: image.width,
    height: image.height,
    data: image.data,
    depth: 8,
    channels: image.channels,
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
