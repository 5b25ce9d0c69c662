#!/usr/bin/python3
"""mAP benchmark: labrun's map metric against the two peers a reproduction
meets, on a score matrix of COCO val2014's size (40,504 images x 80
classes).

- labrun: the map plugin through PluginHost (build/bin/bench_map), fed in
  batches of 64 as an evaluation does, both AP definitions (ap:
  voc_interpolated, the released SSGRL code's; ap: sklearn);
- scikit-learn: `average_precision_score` per class, the loop most
  reproductions write;
- the released SSGRL evaluation (utils/metrics.py voc12_mAP, transcribed in
  tests/data/metric/make_released_fixtures.py), reading the score file its
  validate() writes, as released.

Labels follow COCO 2014's real class frequencies (../shared/data), scores
are noisy logits (float32, so no ties). The mAP values must agree before
any time is reported. Each labrun definition runs in a fresh process:
its first computation ("cold": fresh 13 MB buffers, page faults) and the
median of the last half ("warm": glibc's heap adapted, as in a training
process, whose large tensors have warmed it) are both printed, with the
peers' medians and the ratios.

    tools/bench/map/bench_map.py --bench build/bin/bench_map \\
        --plugins build/plugins
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.metrics import average_precision_score

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..', '..')
sys.path.insert(0, os.path.join(ROOT, 'tests', 'data', 'metric'))
from make_released_fixtures import ssgrl_file, voc12_mAP  # noqa: E402

IMAGES, CLASSES = 40504, 80


def make_matrix(seed):
    """Labels at COCO 2014's per-class rates, logits = 3 y + noise."""
    counts = np.load(os.path.join(ROOT, 'configs', 'data', 'coco2014',
                                  'class_counts.npy')).astype(np.float64)
    rate = counts / 82783.0  # train2014 images
    rng = np.random.default_rng(seed)
    targets = (rng.random((IMAGES, CLASSES)) < rate).astype(np.float32)
    scores = (3.0 * targets +
              rng.normal(0, 1.0, (IMAGES, CLASSES))).astype(np.float32)
    return scores, targets


def timed(function, repeat):
    seconds, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = function()
        seconds.append(time.perf_counter() - start)
    return value, statistics.median(seconds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--bench', default='build/bin/bench_map')
    parser.add_argument('--plugins', default='build/plugins')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=12)
    parser.add_argument('--peer-repeat', type=int, default=3)
    args = parser.parse_args()

    scores, targets = make_matrix(seed=0)
    with tempfile.TemporaryDirectory() as folder:
        np.save(os.path.join(folder, 'scores.npy'), scores)
        np.save(os.path.join(folder, 'targets.npy'), targets)
        labrun = {}
        for ap in ('voc_interpolated', 'sklearn'):
            out = subprocess.run(
                [args.bench, '--plugins', args.plugins, '--ap', ap,
                 '--scores', os.path.join(folder, 'scores.npy'),
                 '--targets', os.path.join(folder, 'targets.npy'),
                 '--repeat', str(args.repeat), '--threads', str(args.threads)],
                check=True, capture_output=True, text=True).stdout
            labrun[ap] = json.loads(out)

    sk_map, sk_s = timed(lambda: 100 * np.mean([
        average_precision_score(targets[:, k], scores[:, k])
        for k in range(CLASSES)]), args.peer_repeat)
    path = ssgrl_file(scores, targets)
    try:
        released_map, released_s = timed(
            lambda: 100 * voc12_mAP(path, CLASSES), args.peer_repeat)
    finally:
        os.remove(path)

    checks = [('sklearn', sk_map), ('voc_interpolated', released_map)]
    for ap, peer in checks:
        if abs(labrun[ap]['mAP'] - peer) > 1e-3:
            sys.exit(f'mAP disagree ({ap}): labrun {labrun[ap]["mAP"]:.5f}, '
                     f'peer {peer:.5f}')
    print(f'{IMAGES} x {CLASSES} scores, {args.threads} threads; labrun '
          f'{args.repeat} computations per definition, peers the median of '
          f'{args.peer_repeat}')
    for ap, name, peer_s in [('sklearn', 'scikit-learn loop', sk_s),
                             ('voc_interpolated', 'released voc12_mAP',
                              released_s)]:
        seconds = labrun[ap]['seconds']
        cold, warm = seconds[0], statistics.median(seconds[len(seconds) // 2:])
        print(f'  ap={ap:<17} labrun cold {cold:.4f} s, warm {warm:.4f} s; '
              f'{name} {peer_s:.3f} s; ratio {peer_s / cold:.0f}x cold, '
              f'{peer_s / warm:.0f}x warm (mAP {labrun[ap]["mAP"]:.3f})')


if __name__ == '__main__':
    main()
