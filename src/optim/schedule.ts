/**
 * Learning-rate schedules as functions of the epoch (or step), in the
 * closed forms of PyTorch 1.13's `StepLR` and `CosineAnnealingLR`.
 */

/** The learning rate at an epoch or step counted from 0. */
export type LrSchedule = (epoch: number) => number;

export interface StepLrOptions {
  /** Epochs between two decays (PyTorch's `step_size`). */
  stepSize: number;
  /** Factor applied at each decay (default 0.1, as in PyTorch). */
  gamma?: number;
}

export interface CosineLrOptions {
  /** Length of the half cosine period in epochs or steps (PyTorch's `T_max`). */
  total: number;
  /** The learning rate reached at `total` (PyTorch's `eta_min`). */
  minLr?: number;
}

function checkPositive(
  schedule: string,
  name: string,
  value: number,
  integer: boolean,
): void {
  const valid = typeof value === "number" && Number.isFinite(value) &&
    value > 0 &&
    (!integer || Number.isInteger(value));
  if (!valid) {
    const kind = integer ? "a positive integer" : "a positive finite number";
    throw new Error(`${schedule}: ${name} must be ${kind}, got ${value}`);
  }
}

function checkEpoch(schedule: string, epoch: number): void {
  if (typeof epoch !== "number" || !Number.isFinite(epoch) || epoch < 0) {
    throw new Error(
      `${schedule}: the epoch must be a finite number >= 0, got ${epoch}`,
    );
  }
}

/**
 * baseLr * gamma^floor(epoch / stepSize), the closed form of `StepLR`.
 *
 * @example
 * ```ts
 * const schedule = stepLr(0.001, { stepSize: 10, gamma: 0.1 });
 * schedule(25); // 1e-5
 * ```
 */
export function stepLr(baseLr: number, options: StepLrOptions): LrSchedule {
  const { stepSize, gamma = 0.1 } = options;
  checkPositive("stepLr", "baseLr", baseLr, false);
  checkPositive("stepLr", "stepSize", stepSize, true);
  checkPositive("stepLr", "gamma", gamma, false);
  return (epoch) => {
    checkEpoch("stepLr", epoch);
    return baseLr * gamma ** Math.floor(epoch / stepSize);
  };
}

/**
 * minLr + (baseLr - minLr) * (1 + cos(pi * t / total)) / 2, the closed form
 * of `CosineAnnealingLR`. As in PyTorch, past `total` the rate rises again
 * along the cosine; stop at `total` or restart the schedule.
 *
 * @example
 * ```ts
 * const schedule = cosineLr(0.1, { total: 100 });
 * schedule(50); // 0.05
 * ```
 */
export function cosineLr(baseLr: number, options: CosineLrOptions): LrSchedule {
  const { total, minLr = 0 } = options;
  checkPositive("cosineLr", "baseLr", baseLr, false);
  checkPositive("cosineLr", "total", total, false);
  if (
    typeof minLr !== "number" || !Number.isFinite(minLr) || minLr < 0 ||
    minLr > baseLr
  ) {
    throw new Error(
      `cosineLr: minLr must be in [0, baseLr = ${baseLr}], got ${minLr}`,
    );
  }
  return (t) => {
    checkEpoch("cosineLr", t);
    return minLr +
      ((baseLr - minLr) * (1 + Math.cos((Math.PI * t) / total))) / 2;
  };
}
