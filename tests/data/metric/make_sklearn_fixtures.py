#!/usr/bin/python3
"""Computes the scikit-learn reference values the `map` and `prf` metric
tests compare against, into sklearn_fixtures.json (committed, so the tests
need no scikit-learn). Needs python3-sklearn.

Run from anywhere: /usr/bin/python3 tests/data/metric/make_sklearn_fixtures.py
"""
import json
import os

import numpy as np
from sklearn.metrics import average_precision_score
from sklearn.metrics import precision_recall_fscore_support

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES, CLASSES, TOP_K = 40, 6, 3


def make_data(rng):
    # Scores on a 0.05 grid, so that many tie; class 4 has no positive.
    scores = (rng.integers(0, 21, size=(SAMPLES, CLASSES)) * 0.05).astype(
        np.float32)
    targets = (rng.random((SAMPLES, CLASSES)) <
               np.clip(scores - 0.2, 0.05, 0.9)).astype(np.float32)
    targets[:, 4] = 0
    # Ignored labels, for mAP (VOC's "difficult").
    mask = (rng.random((SAMPLES, CLASSES)) > 0.15).astype(np.float32)
    mask[:, 4] = 1
    return scores, targets, mask


def average_precisions(scores, targets, mask):
    ap = []
    for k in range(CLASSES):
        keep = mask[:, k] > 0
        if targets[keep, k].sum() == 0:
            ap.append(None)  # undefined; scikit-learn warns and gives nan
        else:
            ap.append(100.0 * average_precision_score(targets[keep, k],
                                                      scores[keep, k]))
    return ap


def top_k_predictions(scores):
    # Stable descending order: ties go to the lower class index.
    order = np.argsort(-scores, axis=1, kind="stable")[:, :TOP_K]
    predicted = np.zeros_like(scores, dtype=np.int64)
    np.put_along_axis(predicted, order, 1, axis=1)
    return predicted


def prf(targets, predicted):
    y_true = targets.astype(np.int64)
    out = {}
    per_class = precision_recall_fscore_support(
        y_true, predicted, average=None, zero_division=0)
    macro = precision_recall_fscore_support(
        y_true, predicted, average="macro", zero_division=0)
    micro = precision_recall_fscore_support(
        y_true, predicted, average="micro", zero_division=0)
    out["per_class_f1"] = [100.0 * v for v in per_class[2]]
    out["macro_precision"] = 100.0 * macro[0]
    out["macro_recall"] = 100.0 * macro[1]
    # scikit-learn's macro F1 is the mean of per-class F1s; ML-GCN's CF1 is
    # the F1 of the macro precision and recall. Both are kept so the test
    # shows which one the metric follows.
    out["macro_f1_mean_of_classes"] = 100.0 * macro[2]
    out["micro_precision"] = 100.0 * micro[0]
    out["micro_recall"] = 100.0 * micro[1]
    out["micro_f1"] = 100.0 * micro[2]
    return out


def main():
    rng = np.random.default_rng(2019)
    scores, targets, mask = make_data(rng)
    ap = average_precisions(scores, targets, mask)
    defined = [v for v in ap if v is not None]
    fixture = {
        "scores": scores.tolist(),
        "targets": targets.tolist(),
        "mask": mask.tolist(),
        "map": {"per_class_ap": ap, "mAP": float(np.mean(defined))},
        "prf": {
            "threshold": 0.5,
            "top_k": TOP_K,
            "at_threshold": prf(targets, (scores >= 0.5).astype(np.int64)),
            "top_k_predictions": prf(targets, top_k_predictions(scores)),
        },
    }
    with open(os.path.join(HERE, "sklearn_fixtures.json"), "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
