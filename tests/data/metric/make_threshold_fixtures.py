#!/usr/bin/python3
"""Brute-force reference for per-class thresholds (`labrun eval --thresholds
f1`, runner/src/train/ClassThresholds.h), into threshold_fixtures.json
(committed). For every class, every score of a label that counts (mask 1)
is tried as the threshold t (predicted: score >= t); the one with the
highest F1 wins, compared as exact fractions, the highest t on ties; a
class without a counted positive gets none (null). CP..OF1 (percent) and
per-class F1 at those thresholds (0 logit, i.e. probability 0.5, for a class
without one) come from scikit-learn's precision_recall_fscore_support
(zero_division=0), as the prf metric defines them.

Run from anywhere: /usr/bin/python3 tests/data/metric/make_threshold_fixtures.py
"""
import json
import os
from fractions import Fraction

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

HERE = os.path.dirname(os.path.abspath(__file__))


def make_case(rng, samples, classes, grid):
    logits = rng.normal(0.0, 2.0, size=(samples, classes))
    if grid:
        logits = np.round(logits * 2) / 2 + 0.0  # many ties, no -0.0
    logits = logits.astype(np.float32)
    targets = (rng.random((samples, classes)) <
               1 / (1 + np.exp(-logits + 0.5))).astype(np.float32)
    targets[:, 1] = 0  # no positive: no threshold
    mask = (rng.random((samples, classes)) > 0.15).astype(np.float32)
    targets[0, 2], mask[0, 2] = 1, 0  # an ignored positive does not count
    return logits, targets, mask


def brute_force_thresholds(logits, targets, mask):
    thresholds = []
    for k in range(logits.shape[1]):
        keep = mask[:, k] > 0
        scores, truth = logits[keep, k], targets[keep, k] > 0
        if not truth.any():
            thresholds.append(None)
            continue
        best, best_f1 = None, Fraction(-1)
        for t in sorted(set(scores.tolist()), reverse=True):
            predicted = scores >= t
            tp = int((predicted & truth).sum())
            fp = int((predicted & ~truth).sum())
            fn = int((~predicted & truth).sum())
            f1 = Fraction(2 * tp, 2 * tp + fp + fn)
            if f1 > best_f1:
                best, best_f1 = t, f1
        thresholds.append(float(np.float32(best)))
    return thresholds


def prf_at(logits, targets, mask, thresholds):
    cut = np.array([0.0 if t is None else t for t in thresholds])
    predicted = logits >= cut[None, :]
    precision, recall, f1 = [], [], []
    for k in range(logits.shape[1]):
        keep = mask[:, k] > 0
        p, r, f, _ = precision_recall_fscore_support(
            targets[keep, k], predicted[keep, k], average='binary',
            zero_division=0)
        precision.append(p)
        recall.append(r)
        f1.append(100.0 * f if targets[keep, k].sum() > 0 else None)
    cp, cr = float(np.mean(precision)), float(np.mean(recall))
    keep = mask > 0
    op, orr, of1, _ = precision_recall_fscore_support(
        targets[keep], predicted[keep], average='binary', zero_division=0)
    f = lambda p, r: 2 * p * r / (p + r) if p + r > 0 else 0.0
    return {'CP': 100 * cp, 'CR': 100 * cr, 'CF1': 100 * f(cp, cr),
            'OP': 100 * op, 'OR': 100 * orr, 'OF1': 100 * of1, 'F1': f1}


def main():
    rng = np.random.default_rng(15)
    cases = []
    for samples, classes, grid in ((40, 6, True), (120, 5, False)):
        logits, targets, mask = make_case(rng, samples, classes, grid)
        thresholds = brute_force_thresholds(logits, targets, mask)
        cases.append({
            'logits': logits.tolist(), 'targets': targets.tolist(),
            'mask': mask.tolist(), 'thresholds': thresholds,
            'prf': prf_at(logits, targets, mask, thresholds)})
    with open(os.path.join(HERE, 'threshold_fixtures.json'), 'w') as out:
        json.dump({'cases': cases}, out)


if __name__ == '__main__':
    main()
