/**
 * GPU preprocessing of micro-expression clips: resizing and colour
 * conversion with OpenCV's semantics, onset-to-apex alignment, TV-L1 optical
 * flow as OpenCV's DualTVL1 computes it, flow-based motion magnification and
 * frame interpolation (classical stand-ins for the learned models MPFNet
 * used), and MPFNet's motion features. Every pixel is computed by the WGSL
 * kernels in shaders/vision/; these functions record dispatches, never read
 * back (except `estimateApexIndex`) and record nothing for autograd.
 *
 * @module
 */
export {
  type AxisTaps,
  resize,
  type ResizeMode,
  type ResizeOptions,
} from "./resize.ts";
export { type ChannelOrder, matchBrightness, toGray } from "./color.ts";
export {
  alignTo,
  estimateTranslation,
  translate,
  translateBy,
  type TranslationOptions,
} from "./align.ts";
export {
  pyramidSizes,
  resolveTvl1Options,
  TVL1_DEFAULTS,
  tvl1Flow,
  tvl1FlowBatch,
  tvl1FlowWithState,
  type Tvl1Options,
  type Tvl1Result,
} from "./tvl1.ts";
export {
  flowWarp,
  magnify,
  type MagnifyOptions,
  MOTION_TVL1,
} from "./magnify.ts";
export { interpolateFrames, type InterpolateOptions } from "./interpolate.ts";
export {
  estimateApexIndex,
  FLOW_BOUND,
  flowMagnitude,
  flowToRgb,
  meanFlowMagnitude,
  type MotionFeatureOptions,
  motionFeatures,
} from "./features.ts";
