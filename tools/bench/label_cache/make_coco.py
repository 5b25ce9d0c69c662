#!/usr/bin/python3
"""Writes a COCO-train2014-shaped instances file for the label-cache benchmark.

82,783 images with real-looking ids and file names, ~400k annotations with
polygon segmentations (RLE counts for the ~1% iscrowd ones), the 80 real
categories with their non-contiguous ids, and per-class image frequencies
taken from COCO train2014 (configs/data/coco2014/class_counts.npy, a copy of shared/data). The file
is ~170 MB and deterministic for a seed; it is streamed out, so the generator
itself stays small in memory.

  /usr/bin/python3 tools/bench/label_cache/make_coco.py OUT.json [--seed 0]

With --jpegs DIR every image is 640x480 and written there as a JPEG of
smooth colour fields and noise (about COCO's bytes per image), for the
runner's end-to-end benchmark (tools/bench/runner/device.sh); --split val
names the files as val2014's.
"""
import argparse
import csv
import json
import os

import numpy as np

COCO_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "../../../configs/data/coco2014")


def categories():
    with open(os.path.join(COCO_DATA, "classes.tsv")) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return sorted(((int(r["coco_id"]), r["name"]) for r in rows))


def file_name(split, image_id):
    return "COCO_%s2014_%012d.jpg" % (split, image_id)


def write_jpegs(folder, names, seed):
    """640x480 JPEGs: a 12x16 colour field upsampled, plus pixel noise;
    image k's pixels depend on (seed, k) alone. One process per core."""
    import multiprocessing
    os.makedirs(folder, exist_ok=True)
    jobs = [(os.path.join(folder, name), seed, k) for k, name in
            enumerate(names)]
    with multiprocessing.Pool() as pool:
        pool.map(write_jpeg, jobs, chunksize=16)


def write_jpeg(job):
    from PIL import Image
    path, seed, k = job
    rng = np.random.default_rng([seed, k])
    field = Image.fromarray(
        rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize(
            (640, 480), Image.BICUBIC)
    noise = rng.integers(-24, 25, (480, 640, 3))
    pixels = np.clip(np.asarray(field, dtype=np.int64) + noise, 0, 255)
    Image.fromarray(pixels.astype(np.uint8)).save(path, quality=90)


def numbers(values, fmt):
    return ",".join(fmt % v for v in values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--images", type=int, default=82783)
    parser.add_argument("--jpegs", metavar="DIR")
    parser.add_argument("--split", choices=["train", "val"], default="train")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    cats = categories()
    # Rows follow classes.tsv (alphabetical); the counts file uses that order.
    with open(os.path.join(COCO_DATA, "classes.tsv")) as f:
        tsv_ids = [int(r["coco_id"]) for r in csv.DictReader(f, delimiter="\t")]
    counts = np.load(os.path.join(COCO_DATA, "class_counts.npy"))
    prob = counts / 82783.0

    n = args.images
    image_ids = rng.choice(np.arange(9, 581930), size=n, replace=False)
    heights = rng.integers(240, 641, size=n)
    widths = rng.integers(320, 641, size=n)
    if args.jpegs:
        heights[:], widths[:] = 480, 640
    present = rng.random((n, len(tsv_ids))) < prob  # [N, 80]
    # 1 + Poisson(0.66) instances per (image, class): ~400k annotations.
    instances = np.where(present, 1 + rng.poisson(0.66, size=present.shape), 0)
    rows, cols = np.nonzero(instances)
    owners = np.repeat(rows, instances[rows, cols])
    classes = np.repeat(np.asarray(tsv_ids)[cols], instances[rows, cols])
    order = rng.permutation(len(owners))  # COCO's annotations are unsorted
    owners, classes = owners[order], classes[order]

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as out:
        out.write('{"info":{"description":"COCO 2014 Dataset (synthetic '
                  'labels)","version":"1.0","year":2014},"images":[')
        for i in range(n):
            out.write(("," if i else "") + json.dumps({
                "license": int(1 + i % 8),
                "file_name": file_name(args.split, image_ids[i]),
                "coco_url": "http://images.cocodataset.org/%s2014/%s" % (
                    args.split, file_name(args.split, image_ids[i])),
                "height": int(heights[i]), "width": int(widths[i]),
                "date_captured": "2013-11-14 16:28:13",
                "id": int(image_ids[i])}, separators=(",", ":")))
        out.write('],"licenses":[{"url":"http://creativecommons.org/licenses/'
                  'by-nc-sa/2.0/","id":1,"name":"Attribution-NonCommercial-'
                  'ShareAlike License"}],"annotations":[')
        crowd = rng.random(len(owners)) < 0.009
        points = rng.integers(6, 33, size=len(owners))
        for a in range(len(owners)):
            i = owners[a]
            h, w = heights[i], widths[i]
            x, y = rng.random(2) * (w - 20, h - 20)
            bw, bh = 1 + rng.random(2) * (w - x - 1, h - y - 1)
            if crowd[a]:
                runs = rng.integers(1, 400, size=2 * points[a])
                seg = '{"counts":[%s],"size":[%d,%d]}' % (
                    numbers(runs, "%d"), h, w)
            else:
                xy = np.empty(2 * points[a])
                xy[0::2] = x + rng.random(points[a]) * bw
                xy[1::2] = y + rng.random(points[a]) * bh
                seg = "[[%s]]" % numbers(xy, "%.2f")
            out.write('%s{"segmentation":%s,"area":%.4f,"iscrowd":%d,'
                      '"image_id":%d,"bbox":[%.2f,%.2f,%.2f,%.2f],'
                      '"category_id":%d,"id":%d}' % (
                          "," if a else "", seg, bw * bh * 0.6, crowd[a],
                          image_ids[i], x, y, bw, bh, classes[a], 1000 + a))
        out.write('],"categories":[')
        out.write(",".join('{"supercategory":"thing","id":%d,"name":"%s"}'
                           % c for c in cats))
        out.write("]}")
    os.replace(tmp, args.out)
    if args.jpegs:
        write_jpegs(args.jpegs, [file_name(args.split, i) for i in image_ids],
                    args.seed)
    print("%s: %d images, %d annotations, %.1f MB" % (
        args.out, n, len(owners), os.path.getsize(args.out) / 1e6))


if __name__ == "__main__":
    main()
