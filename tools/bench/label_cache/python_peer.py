#!/usr/bin/python3
"""The Python peer of labrun's COCO label loading: what ML-GCN/ASL-style data
loaders do with an instances file (json.load, then one pass over the
annotations into a NumPy label matrix, categories ordered by id).

  /usr/bin/python3 tools/bench/label_cache/python_peer.py INSTANCES.json
      [--dump FILE]

Prints "python: <wall> s wall, <cpu> s cpu, <images> images x <classes>
classes, <positives> positives" for the load itself (after interpreter start).
--dump writes one line per image, "file_name<TAB>k,k,...", the reference
that labrun's tests compare their own parse with.
"""
import argparse
import json
import time

import numpy as np


def load_labels(path):
    with open(path) as f:
        data = json.load(f)
    cat_ids = sorted(c["id"] for c in data["categories"])
    column = {cid: k for k, cid in enumerate(cat_ids)}
    row = {image["id"]: i for i, image in enumerate(data["images"])}
    paths = [image["file_name"] for image in data["images"]]
    targets = np.zeros((len(row), len(cat_ids)), dtype=np.float32)
    for ann in data["annotations"]:
        targets[row[ann["image_id"]], column[ann["category_id"]]] = 1.0
    return paths, targets


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("instances")
    parser.add_argument("--dump")
    args = parser.parse_args()
    wall, cpu = time.perf_counter(), time.process_time()
    paths, targets = load_labels(args.instances)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print("python: %.3f s wall, %.3f s cpu, %d images x %d classes, "
          "%d positives" % (wall, cpu, targets.shape[0], targets.shape[1],
                            int(targets.sum())))
    if args.dump:
        with open(args.dump, "w") as out:
            for path, row in zip(paths, targets):
                out.write("%s\t%s\n" % (
                    path, ",".join(str(k) for k in np.flatnonzero(row))))


if __name__ == "__main__":
    main()
