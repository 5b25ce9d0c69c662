#!/usr/bin/python3
"""Computes what the released evaluation code reports on small cases with
tied scores, saturated probabilities and classes without positives, into
released_fixtures.json (committed; read by
tests/plugins/metric/ReleasedEvaluationTest.cpp). Needs python3-numpy and
python3-torch (ML-GCN's overall_topk calls torch's topk).

The two functions below are transcriptions, kept as released (Python 2
prints aside), of
- SSGRL utils/metrics.py:3-51 (github.com/HCPLab-SYSU/SSGRL, commit
  b6b4d12): voc12_mAP and voc_ap. main.py's validate() writes the raw model
  outputs (logits) and the 0/1 targets with np.savetxt and ranks them;
- ML-GCN util.py:249-288 (github.com/Megvii-Nanjing/ML-GCN, now
  megvii-research/ML-GCN, commit 311f521): AveragePrecisionMeter.overall,
  overall_topk and evaluation. engine.py's on_end_batch adds the raw model
  outputs (logits) to the meter, so `scores >= 0` is sigmoid >= 0.5.

Run from anywhere: /usr/bin/python3 tests/data/metric/make_released_fixtures.py
"""
import json
import os
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_K = 3


# --- SSGRL utils/metrics.py:3-51, as released -------------------------------
def voc12_mAP(imagessetfile, num):
    with open(imagessetfile, 'r') as f:
        lines = f.readlines()

    seg = np.array([x.strip().split(' ') for x in lines]).astype(float)
    gt_label = seg[:,num:].astype(np.int32)
    num_target = np.sum(gt_label, axis=1, keepdims = True)
    threshold = 1 / (num_target+1e-6)

    predict_result = seg[:,0:num] > threshold


    sample_num = len(gt_label)
    class_num = num
    tp = np.zeros(sample_num)
    fp = np.zeros(sample_num)
    aps = []
    per_class_recall = []

    for class_id in range(class_num):
        confidence = seg[:,class_id]
        sorted_ind = np.argsort(-confidence)
        sorted_scores = np.sort(-confidence)
        sorted_label = [gt_label[x][class_id] for x in sorted_ind]

        for i in range(sample_num):
            tp[i] = (sorted_label[i]>0)
            fp[i] = (sorted_label[i]<=0)
        true_num = 0
        true_num = sum(tp)
        fp = np.cumsum(fp)
        tp = np.cumsum(tp)
        rec = tp / float(true_num)
        prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        ap = voc_ap(rec, prec, true_num)
        aps += [ap]

    np.set_printoptions(precision=3, suppress=True)
    mAP = np.mean(aps)
    return mAP

def voc_ap(rec, prec,true_num):
    mrec = np.concatenate(([0.], rec, [1.]))
    mpre = np.concatenate(([0.], prec, [0.]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    ap = np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])
    return ap
# --- end of SSGRL ------------------------------------------------------------


# --- ML-GCN util.py:249-288, as released (methods of AveragePrecisionMeter,
# whose add() only stores `scores` and `targets`) ----------------------------
class AveragePrecisionMeter(object):
    def __init__(self, scores, targets):
        self.scores = scores
        self.targets = targets

    def overall(self):
        if self.scores.numel() == 0:
            return 0
        scores = self.scores.cpu().numpy()
        targets = self.targets.cpu().numpy()
        targets[targets == -1] = 0
        return self.evaluation(scores, targets)

    def overall_topk(self, k):
        targets = self.targets.cpu().numpy()
        targets[targets == -1] = 0
        n, c = self.scores.size()
        scores = np.zeros((n, c)) - 1
        index = self.scores.topk(k, 1, True, True)[1].cpu().numpy()
        tmp = self.scores.cpu().numpy()
        for i in range(n):
            for ind in index[i]:
                scores[i, ind] = 1 if tmp[i, ind] >= 0 else -1
        return self.evaluation(scores, targets)


    def evaluation(self, scores_, targets_):
        n, n_class = scores_.shape
        Nc, Np, Ng = np.zeros(n_class), np.zeros(n_class), np.zeros(n_class)
        for k in range(n_class):
            scores = scores_[:, k]
            targets = targets_[:, k]
            targets[targets == -1] = 0
            Ng[k] = np.sum(targets == 1)
            Np[k] = np.sum(scores >= 0)
            Nc[k] = np.sum(targets * (scores >= 0))
        Np[Np == 0] = 1
        OP = np.sum(Nc) / np.sum(Np)
        OR = np.sum(Nc) / np.sum(Ng)
        OF1 = (2 * OP * OR) / (OP + OR)

        CP = np.sum(Nc / Np) / n_class
        CR = np.sum(Nc / Ng) / n_class
        CF1 = (2 * CP * CR) / (CP + CR)
        return OP, OR, OF1, CP, CR, CF1
# --- end of ML-GCN -----------------------------------------------------------


def ssgrl_file(scores, targets):
    """What SSGRL's validate() writes: [output | target > 0] rows."""
    handle, path = tempfile.mkstemp(suffix='_score')
    os.close(handle)
    np.savetxt(path, np.concatenate([scores, targets], 1))
    return path


def ssgrl_per_class(scores, targets):
    """Per-class AP: voc12_mAP of each [score | target] column pair."""
    aps = []
    for k in range(scores.shape[1]):
        # The transcription uses numpy's default (unstable) argsort; these
        # cases are small enough for it to keep tied samples in input
        # order, which is what labrun does, so the comparison is exact.
        order = np.argsort(-scores[:, k].astype(float))
        assert (order == np.argsort(-scores[:, k].astype(float),
                                    kind='stable')).all(), k
        path = ssgrl_file(scores[:, k:k + 1], targets[:, k:k + 1])
        with np.errstate(divide='ignore', invalid='ignore'):
            ap = voc12_mAP(path, 1)
        os.remove(path)
        aps.append(None if np.isnan(ap) else float(ap))
    return aps


def mlgcn(scores, targets):
    meter = AveragePrecisionMeter(torch.from_numpy(scores),
                                  torch.from_numpy(targets.astype(np.int64)))
    names = ['OP', 'OR', 'OF1', 'CP', 'CR', 'CF1']
    with np.errstate(divide='ignore', invalid='ignore'):
        values = {'overall': meter.overall(),
                  'overall_top%d' % TOP_K: meter.overall_topk(TOP_K)}
    return {key: {n: (None if np.isnan(v) else float(v))
                  for n, v in zip(names, vals)}
            for key, vals in values.items()}


def zero_recall_for_empty_classes(scores, targets, top_k):
    """CR and CF1 with a class without positives counting recall 0 (labrun,
    scikit-learn's zero_division=0) where ML-GCN's CR is NaN; the rest of
    ML-GCN's evaluation() unchanged."""
    if top_k:
        top = np.argsort(-scores, axis=1, kind='stable')[:, :top_k]
        predicted = np.zeros_like(scores, dtype=bool)
        np.put_along_axis(predicted, top, True, axis=1)
        predicted &= scores >= 0
    else:
        predicted = scores >= 0
    positive = targets > 0
    nc = (predicted & positive).sum(0).astype(float)
    ng = positive.sum(0).astype(float)
    np_ = np.maximum(predicted.sum(0), 1).astype(float)
    cp = np.sum(nc / np_) / scores.shape[1]
    cr = np.sum(np.divide(nc, ng, out=np.zeros_like(nc), where=ng > 0)) / \
        scores.shape[1]
    return {'CR': float(cr), 'CF1': float(2 * cp * cr / (cp + cr))}


def no_boundary_ties(scores):
    ranked = -np.sort(-scores, axis=1)
    return (ranked[:, TOP_K - 1] != ranked[:, TOP_K]).all()


def top_k_sets(scores):
    return np.sort(np.argsort(-scores, axis=1, kind='stable')[:, :TOP_K], 1)


def make_case(name, logits, targets):
    logits = logits.astype(np.float32)
    targets = targets.astype(np.float32)
    assert no_boundary_ties(logits), name  # torch's topk order is unspecified
    probabilities = torch.sigmoid(torch.from_numpy(logits)).numpy()
    case = {
        'name': name,
        'logits': [[float(v) for v in row] for row in logits],
        'targets': [[float(v) for v in row] for row in targets],
        'ssgrl_per_class_ap': ssgrl_per_class(logits, targets),
        # The same evaluation fed float32 probabilities: saturated ones tie.
        'ssgrl_per_class_ap_on_probabilities':
            ssgrl_per_class(probabilities, targets),
        'mlgcn': mlgcn(logits, targets),
        'zero_recall_for_empty_classes': {
            'overall': zero_recall_for_empty_classes(logits, targets, 0),
            'overall_top%d' % TOP_K:
                zero_recall_for_empty_classes(logits, targets, TOP_K),
        },
    }
    with np.errstate(divide='ignore', invalid='ignore'):
        path = ssgrl_file(logits, targets)
        whole = voc12_mAP(path, logits.shape[1])
        os.remove(path)
    # Released SSGRL averages every class: NaN once one has no positive.
    case['ssgrl_mAP_all_classes'] = None if np.isnan(whole) else float(whole)
    return case, probabilities


def main():
    rng = np.random.default_rng(14)
    cases = []

    # Ties: logits on a half-unit grid, with exact zeros and -1e-8 (float32
    # sigmoid 0.5: counted by a probability threshold, not by ML-GCN's
    # logit >= 0); class 4 has no positive.
    while True:
        logits = rng.integers(-4, 5, size=(14, 6)) * 0.5
        logits[rng.random(logits.shape) < 0.1] = -1e-8
        if no_boundary_ties(logits.astype(np.float32)):
            break
    targets = rng.random(logits.shape) < 1 / (1 + np.exp(-logits))
    targets[:, 4] = False
    targets[0, :4] = True
    case, probabilities = make_case('ties', logits, targets)
    assert ((probabilities >= 0.5) != (logits >= 0)).any()
    cases.append(case)

    # Saturated: most logits above 16.6, where float32 sigmoids are 1.
    while True:
        logits = np.where(rng.random((12, 6)) < 0.7,
                          rng.uniform(17, 40, size=(12, 6)),
                          rng.normal(0, 3, size=(12, 6)))
        if no_boundary_ties(logits.astype(np.float32)):
            break
    targets = rng.random(logits.shape) < 0.5
    targets[:, 5] = False
    targets[0, :5] = True
    case, probabilities = make_case('saturated', logits, targets)
    assert (probabilities == 1).sum() > logits.size / 2
    assert case['ssgrl_per_class_ap'] != \
        case['ssgrl_per_class_ap_on_probabilities']
    assert (top_k_sets(probabilities) != top_k_sets(
        logits.astype(np.float32))).any()
    cases.append(case)

    with open(os.path.join(HERE, 'released_fixtures.json'), 'w') as out:
        json.dump({'top_k': TOP_K, 'cases': cases}, out, indent=1)
        out.write('\n')


if __name__ == '__main__':
    main()
