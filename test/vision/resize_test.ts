/**
 * resize and toGray against OpenCV 4.6 (test/fixtures/opencv/resize.json,
 * written by test/fixtures/opencv_tvl1.py).
 */
import assert from "node:assert/strict";
import { readAll, scope, tensor } from "../../src/tensor.ts";
import { resize, toGray } from "../../src/vision/mod.ts";
import { assertClose, gpuTest } from "../helpers.ts";

interface ResizeCase {
  label: string;
  mode: "area" | "bilinear";
  shape: [number, number];
  outShape: [number, number];
  input: string;
  output: string;
}

const fixture = JSON.parse(
  Deno.readTextFileSync(
    new URL("../fixtures/opencv/resize.json", import.meta.url),
  ),
) as {
  resize: ResizeCase[];
  gray: { shape: number[]; input: string; rgb2gray: string; bgr2gray: string };
};

function floats(base64: string): Float32Array {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

// Values are in 0..255. OpenCV sums the same f32 products in another order,
// so results differ by a few units of the last place (about 3e-5 at 255).
const TOLERANCE = { atol: 1e-3, rtol: 1e-5 };

for (const c of fixture.resize) {
  gpuTest(`resize ${c.label} matches OpenCV`, async () => {
    const out = scope(() => {
      const image = tensor(floats(c.input), c.shape);
      return resize(image, {
        height: c.outShape[0],
        width: c.outShape[1],
        mode: c.mode,
      });
    });
    assert.deepEqual([...out.shape], c.outShape);
    const [actual] = await readAll([out]);
    out.dispose();
    assertClose(actual, floats(c.output), TOLERANCE, `resize ${c.label}`);
  });
}

gpuTest("resize keeps leading axes", async () => {
  const c = fixture.resize.find((r) => r.label === "area fractional shrink")!;
  const plane = floats(c.input);
  const [h, w] = c.shape;
  const [outH, outW] = c.outShape;
  const stacked = new Float32Array(2 * 3 * h * w);
  for (let p = 0; p < 6; p++) {
    for (let i = 0; i < h * w; i++) stacked[p * h * w + i] = plane[i] + 10 * p;
  }
  const out = scope(() =>
    resize(tensor(stacked, [2, 3, h, w]), {
      height: outH,
      width: outW,
      mode: "area",
    })
  );
  assert.deepEqual([...out.shape], [2, 3, outH, outW]);
  const [actual] = await readAll([out]);
  out.dispose();
  const expected = floats(c.output);
  for (let p = 0; p < 6; p++) {
    // Area weights sum to 1, so a constant offset passes through.
    const shifted = expected.map((v) => v + 10 * p);
    assertClose(
      actual.subarray(p * outH * outW, (p + 1) * outH * outW),
      shifted,
      TOLERANCE,
      `plane ${p}`,
    );
  }
});

gpuTest("toGray matches OpenCV RGB2GRAY and BGR2GRAY", async () => {
  const g = fixture.gray;
  const [rgb, bgr] = scope(() => {
    const image = tensor(floats(g.input), g.shape);
    return [toGray(image), toGray(image, "bgr")];
  });
  assert.deepEqual([...rgb.shape], g.shape.slice(1));
  const [fromRgb, fromBgr] = await readAll([rgb, bgr]);
  rgb.dispose();
  bgr.dispose();
  assertClose(fromRgb, floats(g.rgb2gray), TOLERANCE, "RGB2GRAY");
  assertClose(fromBgr, floats(g.bgr2gray), TOLERANCE, "BGR2GRAY");
});

gpuTest("resize and toGray reject invalid input", () => {
  scope(() => {
    const image = tensor(new Float32Array(12), [3, 4]);
    assert.throws(() => resize(image, { height: 0, width: 2 }), /height/);
    assert.throws(() => resize(image, { height: 2, width: 2.5 }), /width/);
    assert.throws(
      () => resize(image, { height: 2, width: 2, mode: "cubic" as "area" }),
      /mode/,
    );
    assert.throws(() => toGray(image), /\[3, H, W\]/);
    assert.throws(
      () => resize(tensor([1, 2, 3, 4], [4]), { height: 2, width: 2 }),
      /\[H, W\]/,
    );
  });
});
