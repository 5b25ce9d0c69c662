#!/usr/bin/python3
"""Writes the loader test fixtures next to this script, from torchvision and
PIL as the independent references (run again only to change them):

- input.png: a 23x37 RGB image (smooth waves plus noise);
- one PNG per resize case in fixtures.json, computed by torchvision's
  tensor path (F.resize, bilinear, antialias=False, rounded to uint8) and
  F.center_crop;
- cmyk.jpg: an Adobe CMYK JPEG of four flat quadrants, with the RGB that PIL
  decodes at the quadrant centres.
"""
import json
import os

import numpy as np
import torch
import torchvision.transforms.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))

# (steps as labrun writes them, torchvision ops)
RESIZE_CASES = [
    (["resize 50x70"], [("resize", [50, 70])]),
    (["resize 15x20"], [("resize", [15, 20])]),
    (["resize 31x29"], [("resize", [31, 29])]),
    (["resize 16", "center_crop 16x25"],
     [("resize", [16]), ("center_crop", [16, 25])]),
    (["resize 40x40", "center_crop 33"],
     [("resize", [40, 40]), ("center_crop", [33, 33])]),
    (["resize 12", "center_crop 11x16"],
     [("resize", [12]), ("center_crop", [11, 16])]),
]


def main():
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:23, 0:37].astype(np.float64)
    rgb = np.stack([128 + 80 * np.sin(x / (3 + c) + y / 5 + c) for c in range(3)],
                   axis=-1)
    rgb += rng.normal(0, 10, rgb.shape)
    rgb = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(os.path.join(HERE, "input.png"))

    source = torch.from_numpy(rgb).permute(2, 0, 1).contiguous()
    cases = []
    for steps, ops in RESIZE_CASES:
        image = source
        for op, size in ops:
            if op == "resize":
                image = F.resize(image, size,
                                 interpolation=F.InterpolationMode.BILINEAR,
                                 antialias=False)
            else:
                image = F.center_crop(image, size)
        name = "_".join(s.replace(" ", "_") for s in steps) + ".png"
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(
            os.path.join(HERE, name))
        cases.append({"steps": steps, "expected": name})

    colours = [(230, 40, 30), (20, 200, 60), (40, 50, 220), (240, 230, 200)]
    quadrants = np.zeros((16, 16, 3), np.uint8)
    for i, colour in enumerate(colours):
        quadrants[(i // 2) * 8:(i // 2) * 8 + 8, (i % 2) * 8:(i % 2) * 8 + 8] = colour
    Image.fromarray(quadrants).convert("CMYK").save(
        os.path.join(HERE, "cmyk.jpg"), quality=100)
    with Image.open(os.path.join(HERE, "cmyk.jpg")) as cmyk:
        assert cmyk.mode == "CMYK"
        decoded = np.asarray(cmyk.convert("RGB"))
    pixels = [[x, y] + decoded[y, x].tolist() for y in (4, 12) for x in (4, 12)]

    with open(os.path.join(HERE, "fixtures.json"), "w") as out:
        json.dump({"input": "input.png", "resize": cases,
                   "cmyk": {"file": "cmyk.jpg", "pixels_xy_rgb": pixels}},
                  out, indent=1)
        out.write("\n")


if __name__ == "__main__":
    main()
