#!/usr/bin/python3
"""Reference values for the `asl` loss test: the asymmetric loss written as
the paper's authors' code computes it (clipped negative probability
xs_neg = min(1 - p + clip, 1), pt = p or xs_neg, weight (1 - pt)^gamma with a
per-label exponent), in float64 with PyTorch autograd for the gradient with
respect to the logits, into asl_reference.json.

Run from anywhere: /usr/bin/python3 tests/data/asl/make_asl_reference.py
"""
import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def asymmetric_loss(logits, targets, mask, gamma_neg, gamma_pos, clip, eps,
                    focusing_grad, mean):
    xs_pos = torch.sigmoid(logits)
    xs_neg = 1 - xs_pos
    if clip > 0:
        xs_neg = (xs_neg + clip).clamp(max=1)
    loss = (targets * torch.log(xs_pos.clamp(min=eps)) +
            (1 - targets) * torch.log(xs_neg.clamp(min=eps)))
    with torch.set_grad_enabled(focusing_grad):
        pt = xs_pos * targets + xs_neg * (1 - targets)
        gamma = gamma_pos * targets + gamma_neg * (1 - targets)
        weight = torch.pow(1 - pt, gamma)
    total = -(loss * weight * mask).sum()
    return total / mask.sum().clamp(min=1) if mean else total


def main():
    generator = torch.Generator().manual_seed(2021)
    logits = torch.randn(4, 5, generator=generator, dtype=torch.float64) * 2
    logits[0, 0] = -30.0  # p below eps: the clamp inside the log matters
    logits[1, 1] = -3.0   # p < clip: an easy negative, discarded by clipping
    targets = (torch.rand(4, 5, generator=generator) < 0.4).double()
    targets[0, 0], targets[1, 1] = 1.0, 0.0
    mask = (torch.rand(4, 5, generator=generator) > 0.2).double()
    mask[0, 0] = mask[1, 1] = 1.0
    configs = [
        dict(gamma_neg=4.0, gamma_pos=0.0, clip=0.05, eps=1e-8,
             focusing_grad=True, mean=False),
        dict(gamma_neg=4.0, gamma_pos=1.0, clip=0.05, eps=1e-8,
             focusing_grad=True, mean=False),
        dict(gamma_neg=2.0, gamma_pos=1.0, clip=0.0, eps=1e-8,
             focusing_grad=False, mean=True),
        dict(gamma_neg=4.0, gamma_pos=0.0, clip=0.05, eps=1e-4,
             focusing_grad=False, mean=False),
    ]
    cases = []
    for config in configs:
        x = logits.clone().requires_grad_(True)
        loss = asymmetric_loss(x, targets, mask, **config)
        loss.backward()
        cases.append({"options": config, "loss": loss.item(),
                      "grad": x.grad.tolist()})
    fixture = {"logits": logits.tolist(), "targets": targets.tolist(),
               "mask": mask.tolist(), "cases": cases}
    with open(os.path.join(HERE, "asl_reference.json"), "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
