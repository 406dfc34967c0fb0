import assert from "node:assert/strict";
import { join } from "node:path";
import {
  decodeImage,
  decodeImageBytes,
  encodeBmp,
  encodeJpeg,
  encodePng,
  readImageHeader,
} from "../../datasets/images.ts";
import { parseImageHeader } from "../../datasets/image_header.ts";
import { makeTempDir } from "./fixtures.ts";

function gradient(width: number, height: number, channels: 1 | 3) {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        data[(y * width + x) * channels + c] = x * 6 + y * 4 + c * 30;
      }
    }
  }
  return { width, height, channels, data };
}

function maxDifference(a: Uint8Array, b: Uint8Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

Deno.test("bmp rgb round trip is exact", () => {
  // Width 5 makes rows need padding to 4 bytes.
  const image = gradient(5, 3, 3);
  const decoded = decodeImageBytes(encodeBmp(image));
  assert.equal(decoded.width, 5);
  assert.equal(decoded.height, 3);
  assert.equal(decoded.channels, 3);
  assert.deepEqual(decoded.data, image.data);
});

/**
 * Builds an 8-bit BMP with a 256-entry gray palette by hand, because the
 * BMP encoder writes color only.
 */
function grayBmp(width: number, height: number, data: Uint8Array) {
  const rowBytes = Math.ceil(width / 4) * 4;
  const offset = 14 + 40 + 256 * 4;
  const bytes = new Uint8Array(offset + rowBytes * height);
  const view = new DataView(bytes.buffer);
  bytes[0] = 0x42;
  bytes[1] = 0x4d;
  view.setUint32(2, bytes.length, true);
  view.setUint32(10, offset, true);
  view.setUint32(14, 40, true);
  view.setInt32(18, width, true);
  view.setInt32(22, height, true);
  view.setUint16(26, 1, true);
  view.setUint16(28, 8, true);
  view.setUint32(46, 256, true);
  for (let level = 0; level < 256; level++) {
    bytes.fill(level, 54 + 4 * level, 54 + 4 * level + 3);
  }
  for (let y = 0; y < height; y++) {
    const row = offset + (height - 1 - y) * rowBytes;
    bytes.set(data.subarray(y * width, (y + 1) * width), row);
  }
  return bytes;
}

Deno.test("bmp gray palette decodes to one channel", () => {
  const image = gradient(6, 4, 1);
  const bytes = grayBmp(6, 4, image.data);
  assert.equal(parseImageHeader(bytes, bytes.length).channels, 1);
  const decoded = decodeImageBytes(bytes);
  assert.equal(decoded.channels, 1);
  assert.deepEqual(decoded.data, image.data);
});

Deno.test("bmp encoder rejects grayscale", () => {
  assert.throws(() => encodeBmp(gradient(4, 4, 1)), /24-bit color only/);
});

Deno.test("jpeg gray keeps one channel", async () => {
  const image = gradient(16, 16, 1);
  const bytes = await encodeJpeg(image, 95);
  const header = parseImageHeader(bytes, bytes.length);
  assert.equal(header.format, "jpeg");
  assert.equal(header.channels, 1);
  const decoded = decodeImageBytes(bytes);
  assert.equal(decoded.channels, 1);
  assert.equal(decoded.data.length, 16 * 16);
  assert.ok(maxDifference(decoded.data, image.data) <= 12);
});

Deno.test("jpeg rgb decodes to three channels", async () => {
  const image = gradient(16, 16, 3);
  const decoded = decodeImageBytes(await encodeJpeg(image, 95));
  assert.equal(decoded.channels, 3);
  assert.equal(decoded.width, 16);
  assert.equal(decoded.height, 16);
});

Deno.test("jpeg encoding is deterministic", async () => {
  const image = gradient(16, 16, 3);
  assert.deepEqual(await encodeJpeg(image), await encodeJpeg(image));
});

Deno.test("png gray and rgb round trips", () => {
  for (const channels of [1, 3] as const) {
    const image = gradient(7, 5, channels);
    const decoded = decodeImageBytes(encodePng(image));
    assert.equal(decoded.channels, channels);
    assert.deepEqual(decoded.data, image.data);
  }
});

Deno.test("decodeImage reads files and names bad ones", async () => {
  const dir = await makeTempDir("images");
  try {
    const good = join(dir, "good.png");
    await Deno.writeFile(good, encodePng(gradient(4, 4, 3)));
    assert.equal((await decodeImage(good)).width, 4);

    const garbage = join(dir, "garbage.jpg");
    await Deno.writeFile(garbage, new TextEncoder().encode("not an image"));
    await assert.rejects(
      () => decodeImage(garbage),
      (error: Error) =>
        error.message.includes(garbage) &&
        error.message.includes("unknown signature"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readImageHeader detects truncated files", async () => {
  const dir = await makeTempDir("images");
  try {
    const jpeg = await encodeJpeg(gradient(16, 16, 3));
    const cutJpeg = join(dir, "cut.jpg");
    await Deno.writeFile(cutJpeg, jpeg.subarray(0, jpeg.length - 40));
    await assert.rejects(() => readImageHeader(cutJpeg), /end-of-image/);

    const bmp = encodeBmp(gradient(8, 8, 3));
    const cutBmp = join(dir, "cut.bmp");
    await Deno.writeFile(cutBmp, bmp.subarray(0, 100));
    await assert.rejects(() => readImageHeader(cutBmp), /BMP is truncated/);

    const whole = join(dir, "whole.jpg");
    await Deno.writeFile(whole, jpeg);
    const header = await readImageHeader(whole);
    assert.equal(header.width, 16);
    assert.equal(header.channels, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("encoders reject mismatched data", () => {
  assert.throws(
    () =>
      encodePng({
        width: 4,
        height: 4,
        channels: 3,
        data: new Uint8Array(10),
      }),
    /needs 48/,
  );
});
