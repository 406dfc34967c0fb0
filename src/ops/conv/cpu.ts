/** Float64 CPU reference of the conv3d forward and backward passes. */
import { type CpuTensor, cpuTensor } from "../cpu_tensor.ts";
import {
  type Conv3dGeometry,
  conv3dGeometry,
  type Conv3dOptions,
} from "./geometry.ts";

/** Calls fn for every (output element, input element, weight element) triple. */
function forEachTap(
  g: Conv3dGeometry,
  fn: (yIndex: number, xIndex: number, wIndex: number) => void,
): void {
  const [D, H, W] = g.input;
  const [kD, kH, kW] = g.kernel;
  const [oD, oH, oW] = g.output;
  const taps = kD * kH * kW;
  let yIndex = 0;
  for (let n = 0; n < g.batch; n++) {
    for (let co = 0; co < g.cOut; co++) {
      for (let od = 0; od < oD; od++) {
        for (let oh = 0; oh < oH; oh++) {
          for (let ow = 0; ow < oW; ow++, yIndex++) {
            for (let ci = 0; ci < g.cIn; ci++) {
              for (let kd = 0; kd < kD; kd++) {
                const id = od * g.stride[0] + kd - g.padBefore[0];
                if (id < 0 || id >= D) continue;
                for (let kh = 0; kh < kH; kh++) {
                  const ih = oh * g.stride[1] + kh - g.padBefore[1];
                  if (ih < 0 || ih >= H) continue;
                  for (let kw = 0; kw < kW; kw++) {
                    const iw = ow * g.stride[2] + kw - g.padBefore[2];
                    if (iw < 0 || iw >= W) continue;
                    const xIndex = (((n * g.cIn + ci) * D + id) * H + ih) * W +
                      iw;
                    const wIndex = (co * g.cIn + ci) * taps +
                      (kd * kH + kh) * kW + kw;
                    fn(yIndex, xIndex, wIndex);
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

function cpuGeometry(
  inputs: (CpuTensor | null)[],
  attrs: Conv3dOptions,
): Conv3dGeometry {
  const [x, w, b] = inputs;
  return conv3dGeometry(x!.shape, w!.shape, b?.shape ?? null, attrs);
}

export function cpuConv3d(
  inputs: (CpuTensor | null)[],
  attrs: Conv3dOptions,
): CpuTensor {
  const [x, w, b] = inputs;
  const g = cpuGeometry(inputs, attrs);
  const y = cpuTensor([g.batch, g.cOut, ...g.output]);
  forEachTap(g, (yi, xi, wi) => {
    y.data[yi] += x!.data[xi] * w!.data[wi];
  });
  if (b) {
    const positions = g.output[0] * g.output[1] * g.output[2];
    for (let i = 0; i < y.data.length; i++) {
      y.data[i] += b.data[Math.floor(i / positions) % g.cOut];
    }
  }
  return y;
}

export function cpuConv3dBackward(
  inputs: (CpuTensor | null)[],
  attrs: Conv3dOptions,
  gy: CpuTensor,
): (CpuTensor | null)[] {
  const [x, w, b] = inputs;
  const g = cpuGeometry(inputs, attrs);
  const gx = cpuTensor(x!.shape);
  const gw = cpuTensor(w!.shape);
  forEachTap(g, (yi, xi, wi) => {
    gx.data[xi] += gy.data[yi] * w!.data[wi];
    gw.data[wi] += gy.data[yi] * x!.data[xi];
  });
  let gb: CpuTensor | null = null;
  if (b) {
    gb = cpuTensor(b.shape);
    const positions = g.output[0] * g.output[1] * g.output[2];
    for (let i = 0; i < gy.data.length; i++) {
      gb.data[Math.floor(i / positions) % g.cOut] += gy.data[i];
    }
  }
  return [gx, gw, gb];
}
