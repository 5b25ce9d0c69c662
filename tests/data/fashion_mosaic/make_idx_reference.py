#!/usr/bin/python3
"""Writes idx_reference.json: facts about Debian's Fashion-MNIST files read
independently of labrun (Python's gzip and struct), for the IDX reader test.

    /usr/bin/python3 tests/data/fashion_mosaic/make_idx_reference.py
"""
import gzip
import json
import os
import struct

SOURCE = "/usr/share/datasets/fashion-mnist"
HERE = os.path.dirname(os.path.abspath(__file__))


def read_idx(name):
    with gzip.open(os.path.join(SOURCE, name), "rb") as f:
        raw = f.read()
    magic, = struct.unpack(">I", raw[:4])
    rank = magic & 0xFF
    shape = list(struct.unpack(">" + "I" * rank, raw[4:4 + 4 * rank]))
    return shape, raw[4 + 4 * rank:]


def facts(name, samples):
    shape, data = read_idx(name)
    item = 1
    for size in shape[1:]:
        item *= size
    return {
        "file": name,
        "shape": shape,
        "byte_sum": sum(data),
        # Order-sensitive: sum of byte * (position mod 251).
        "weighted_sum": sum(b * (i % 251) for i, b in enumerate(data)),
        "samples": {str(i): list(data[i * item:(i + 1) * item])
                    for i in samples},
    }


def main():
    reference = [
        facts("train-images-idx3-ubyte.gz", [0, 59999]),
        facts("train-labels-idx1-ubyte.gz", range(20)),
        facts("t10k-images-idx3-ubyte.gz", [0]),
        facts("t10k-labels-idx1-ubyte.gz", range(20)),
    ]
    with open(os.path.join(HERE, "idx_reference.json"), "w") as f:
        json.dump(reference, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
