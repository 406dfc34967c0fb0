/**
 * Classification metrics over predictions pooled across LOSO folds:
 * accuracy, support-weighted F1, UF1 (macro F1), UAR (macro recall) and the
 * confusion matrix (rows = true class, columns = predicted class).
 */

export interface Metrics {
  accuracy: number;
  /** Per-class F1 averaged with weights N_c / N. */
  weightedF1: number;
  /** Unweighted (macro) mean of per-class F1. */
  uf1: number;
  /** Unweighted (macro) mean of per-class recall. */
  uar: number;
  perClass: {
    f1: number;
    recall: number;
    precision: number;
    support: number;
  }[];
  confusion: number[][];
  count: number;
}

export function confusionMatrix(
  truth: readonly number[],
  predicted: readonly number[],
  classes: number,
): number[][] {
  if (truth.length !== predicted.length) {
    throw new Error(
      `${truth.length} labels but ${predicted.length} predictions`,
    );
  }
  const matrix = Array.from(
    { length: classes },
    () => new Array(classes).fill(0),
  );
  truth.forEach((t, i) => {
    const p = predicted[i];
    for (const [what, v] of [["label", t], ["prediction", p]] as const) {
      if (!Number.isInteger(v) || v < 0 || v >= classes) {
        throw new Error(
          `${what} ${v} at index ${i} is outside 0..${classes - 1}`,
        );
      }
    }
    matrix[t][p]++;
  });
  return matrix;
}

/**
 * Metrics of a confusion matrix. A class without support gets recall 0 and
 * counts in UAR and UF1, as in the MEGC 2019 evaluation scripts, and F1 is 0
 * when 2TP + FP + FN is 0.
 */
export function metricsFromConfusion(confusion: number[][]): Metrics {
  const classes = confusion.length;
  const count = confusion.flat().reduce((a, b) => a + b, 0);
  let correct = 0;
  const perClass = confusion.map((row, c) => {
    const tp = row[c];
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = confusion.reduce((sum, r) => sum + r[c], 0);
    const fp = predicted - tp;
    const fn = support - tp;
    correct += tp;
    const denominator = 2 * tp + fp + fn;
    return {
      f1: denominator === 0 ? 0 : (2 * tp) / denominator,
      recall: support === 0 ? 0 : tp / support,
      precision: predicted === 0 ? 0 : tp / predicted,
      support,
    };
  });
  const mean = (values: number[]) =>
    values.reduce((a, b) => a + b, 0) / classes;
  return {
    accuracy: count === 0 ? 0 : correct / count,
    weightedF1: count === 0
      ? 0
      : perClass.reduce((s, c) => s + (c.f1 * c.support) / count, 0),
    uf1: mean(perClass.map((c) => c.f1)),
    uar: mean(perClass.map((c) => c.recall)),
    perClass,
    confusion,
    count,
  };
}

export function computeMetrics(
  truth: readonly number[],
  predicted: readonly number[],
  classes: number,
): Metrics {
  return metricsFromConfusion(confusionMatrix(truth, predicted, classes));
}
