#!/usr/bin/python3
"""Writes the .npy files NpyTest reads, with NumPy's own writer, and
expected.json holding each array's shape, dtype and C-order values.

Run from anywhere: /usr/bin/python3 tests/data/npy/make_npy_fixtures.py
"""
import json
import os

import numpy as np
from numpy.lib import format as npy_format

HERE = os.path.dirname(os.path.abspath(__file__))


def cases():
    yield "f4_le_c_v1", np.arange(6, dtype="<f4").reshape(2, 3) * 0.5 - 1, (1, 0)
    yield "f8_be_c_v1", (np.arange(6, dtype=">f8").reshape(3, 2) - 2.5) / 3, (1, 0)
    yield "f4_le_fortran_3d_v1", np.asfortranarray(
        np.arange(24, dtype="<f4").reshape(2, 3, 4) / 8), (1, 0)
    yield "i4_be_fortran_v2", np.asfortranarray(
        np.array([[1, -2], [300000, 4], [-5, 6]], dtype=">i4")), (2, 0)
    yield "i8_le_c_v3", np.array([2**40 + 1, -5, 0, 7], dtype="<i8"), (3, 0)
    yield "u1_c_v1", np.array([[0, 255], [17, 3]], dtype="|u1"), (1, 0)
    yield "b1_c_v1", np.array([True, False, False, True, True]), (1, 0)
    yield "f8_scalar_v1", np.array(2.75, dtype="<f8"), (1, 0)
    yield "f4_empty_v1", np.zeros((0, 3), dtype="<f4"), (1, 0)


def main():
    expected = {}
    for name, array, version in cases():
        with open(os.path.join(HERE, name + ".npy"), "wb") as f:
            npy_format.write_array(f, array, version=version)
        expected[name] = {
            "shape": list(array.shape),
            "dtype": str(array.dtype.newbyteorder("=")),
            "values": np.ascontiguousarray(array).reshape(-1).tolist(),
        }
    # Types the reader must refuse, with a message naming the dtype.
    for name, array in [("c8_unsupported", np.ones(2, dtype="<c8")),
                        ("f2_unsupported", np.ones(2, dtype="<f2"))]:
        with open(os.path.join(HERE, name + ".npy"), "wb") as f:
            npy_format.write_array(f, array, version=(1, 0))
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
