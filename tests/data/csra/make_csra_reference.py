#!/usr/bin/python3
"""Reference values for the csra head tests: the released CSRA code
(github.com/Kevinz-code/CSRA, pipeline/csra.py: CSRA.forward and
MHA.temp_settings) transcribed with torch in float64, independent of
labrun's C++.

A tiny head: K=3 classes, C=4 channels, a 3x2 map, batch 2, lambda 0.3.
Written files:
- csra_reference.json: the features, an upstream gradient and, for 1, 2 and
  4 heads (temperatures 1; 1, max; 1, 2, 4, max), the parameters under the
  released names, the logits and the gradients of sum(logits * upstream)
  with respect to the features and each parameter; "checkpoint": the
  logits of released_checkpoint.pth (4 heads, float32 weights);
- released_checkpoint.pth: a state dict shaped as the released ResNet_CSRA
  model's (torchvision backbone names at the top level, here one tiny
  conv1.weight, and classifier.multi_head.{i}.head.weight), torch.save's
  zip format.

Run from anywhere: /usr/bin/python3 tests/data/csra/make_csra_reference.py
"""
import json
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPERATURES = {1: [1], 2: [1, 99], 4: [1, 2, 4, 99]}
LAMBDA = 0.3


def block(features, weight, temperature, lam):
    """csra.py CSRA.forward: one head's logits [B, K]."""
    norms = torch.norm(weight, dim=1, keepdim=True).transpose(0, 1)
    score = torch.nn.functional.conv2d(features, weight) / norms
    score = score.flatten(2)
    base_logit = score.mean(dim=2)
    if temperature == 99:
        att_logit = score.max(dim=2)[0]
    else:
        soft = torch.softmax(score * temperature, dim=2)
        att_logit = (score * soft).sum(dim=2)
    return base_logit + lam * att_logit


def heads_logits(features, weights, temperatures):
    """csra.py MHA.forward: the heads' sum."""
    return sum(block(features, w, t, LAMBDA)
               for w, t in zip(weights, temperatures))


def encode(tensor):
    return {"shape": list(tensor.shape),
            "values": tensor.detach().reshape(-1).tolist()}


def main():
    rng = np.random.default_rng(2021)
    classes, channels = 3, 4
    features = torch.tensor(rng.normal(0, 1, (2, channels, 3, 2)),
                            requires_grad=True)
    upstream = torch.tensor(rng.normal(0, 1, (2, classes)))
    fixture = {"lam": LAMBDA, "features": encode(features),
               "upstream": encode(upstream)}
    for heads, temperatures in TEMPERATURES.items():
        weights = [torch.tensor(rng.normal(0, 0.5, (classes, channels, 1, 1)),
                                requires_grad=True) for _ in temperatures]
        logits = heads_logits(features, weights, temperatures)
        grads = torch.autograd.grad((logits * upstream).sum(),
                                    [features] + weights)
        names = [f"multi_head.{i}.head.weight" for i in range(heads)]
        fixture[str(heads)] = {
            "params": {n: encode(w) for n, w in zip(names, weights)},
            "logits": encode(logits),
            "grads": dict([("features", encode(grads[0]))] +
                          [(n, encode(g)) for n, g in zip(names, grads[1:])])}
    saved = [w.detach().float() for w in weights]  # the 4-head weights
    state = {"conv1.weight": torch.zeros(2, 3, 1, 1)}
    for i, weight in enumerate(saved):
        state[f"classifier.multi_head.{i}.head.weight"] = weight
    torch.save(state, os.path.join(HERE, "released_checkpoint.pth"))
    fixture["checkpoint"] = {"logits": encode(heads_logits(
        features, [w.double() for w in saved], TEMPERATURES[4]))}
    with open(os.path.join(HERE, "csra_reference.json"), "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
