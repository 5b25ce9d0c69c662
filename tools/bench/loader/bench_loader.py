#!/usr/bin/python3
"""Loader benchmark: labrun's ImageLoader against torchvision + PIL.

Both sides run the SSGRL train transform (resize 640x640, random crop from
{640, 576, 512, 384, 320}, resize 576x576, horizontal flip, normalize) on the
same generated 640x480 JPEGs, in batches of 32, with 2 workers each, and the
rounds alternate so that both see the same machine load. Prints images/s of
each side and their ratio (labrun / torchvision).

    tools/bench/loader/bench_loader.py --bench build/bin/bench_loader
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image, ImageDraw

SIZES = [640, 576, 512, 384, 320]


def make_images(folder, count, seed=0):
    """Writes `count` 640x480 JPEGs (gradients, noise and random shapes, so
    they compress like photos rather than flat colour); skips existing
    ones."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:480, 0:640].astype(np.float32)
    paths = []
    for i in range(count):
        path = os.path.join(folder, f"{i:04d}.jpg")
        paths.append(path)
        phase = rng.uniform(0, 2 * np.pi, 3)
        if os.path.exists(path):
            continue
        base = np.stack([
            127 + 100 * np.sin(x / (40 + 20 * k) + y / 90 + phase[k])
            for k in range(3)], axis=-1)
        base += rng.normal(0, 12, base.shape)
        image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(25):
            x0, y0 = int(rng.integers(-50, 640)), int(rng.integers(-50, 480))
            x1, y1 = x0 + int(rng.integers(10, 250)), y0 + int(rng.integers(10, 250))
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            if rng.random() < 0.5:
                draw.ellipse([x0, y0, x1, y1], fill=colour)
            else:
                draw.rectangle([x0, y0, x1, y1], fill=colour)
        image.save(path, quality=90)
    return paths


class Images(torch.utils.data.Dataset):
    def __init__(self, paths, transform):
        self.paths = paths
        self.transform = transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert("RGB")), torch.zeros(80)


def torchvision_rate(paths, workers, batch, epochs):
    transform = T.Compose([
        T.Resize((640, 640)),
        T.RandomChoice([T.RandomCrop(s) for s in SIZES]),
        T.Resize((576, 576)),
        T.RandomHorizontalFlip(),
        T.ToTensor(),
        T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    loader = torch.utils.data.DataLoader(
        Images(paths, transform), batch_size=batch, shuffle=True,
        num_workers=workers, persistent_workers=True)
    # The first batch pays for worker start-up; it is not timed.
    images, start = 0, None
    for _ in range(epochs):
        for batch_images, _ in loader:
            if start is None:
                start = time.perf_counter()
                continue
            images += batch_images.shape[0]
    return images / (time.perf_counter() - start)


def labrun_rate(bench, folder, workers, batch, epochs):
    out = subprocess.run(
        [bench, "--images", folder, "--workers", str(workers),
         "--batch", str(batch), "--epochs", str(epochs)],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)["images_per_s"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", default="build/bin/bench_loader",
                        help="the bench_loader executable")
    parser.add_argument("--images", default="build/bench_loader_images",
                        help="folder for the generated JPEGs")
    parser.add_argument("--count", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(1)
    paths = make_images(args.images, args.count)
    ours, theirs = [], []
    for r in range(args.rounds):
        theirs.append(torchvision_rate(paths, args.workers, args.batch,
                                       args.epochs))
        ours.append(labrun_rate(args.bench, args.images, args.workers,
                                args.batch, args.epochs))
        print(f"round {r + 1}: torchvision {theirs[-1]:.1f} images/s, "
              f"labrun {ours[-1]:.1f} images/s, "
              f"ratio {ours[-1] / theirs[-1]:.2f}", flush=True)
    ratios = [a / b for a, b in zip(ours, theirs)]
    print(f"median: torchvision {statistics.median(theirs):.1f} images/s, "
          f"labrun {statistics.median(ours):.1f} images/s, "
          f"ratio {statistics.median(ratios):.2f} "
          f"({args.count} JPEGs 640x480, batch {args.batch}, "
          f"{args.workers} workers, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    sys.exit(main())
