#!/usr/bin/python3
"""Writes focal_reference.txt: the sigmoid focal loss and its gradient on a
fixed 3 x 4 case, computed with torchvision.ops.sigmoid_focal_loss (the
reference implementation of Lin et al. 2017), masked and reduced as the
plugin documents (mean over labels with mask 1, or their sum).

    /usr/bin/python3 make_reference.py > focal_reference.txt
"""
import torch
from torchvision.ops import sigmoid_focal_loss

logits = torch.tensor([[2.5, -1.0, 0.3, -4.0],
                       [-0.7, 3.2, -2.2, 0.05],
                       [8.0, -8.0, 1.1, -0.4]], dtype=torch.float64)
targets = torch.tensor([[1, 0, 1, 0],
                        [1, 1, 0, 0],
                        [0, 1, 1, 0]], dtype=torch.float64)
# Two ignored labels: they must contribute neither loss nor count.
mask = torch.tensor([[1, 1, 1, 1],
                     [1, 0, 1, 1],
                     [1, 1, 1, 0]], dtype=torch.float64)


def flat(t):
    return " ".join(repr(float(v)) for v in t.flatten())


print("# torchvision.ops.sigmoid_focal_loss reference; made by "
      "make_reference.py")
print("shape", *logits.shape)
print("logits", flat(logits))
print("targets", flat(targets))
print("mask", flat(mask))
for alpha, gamma, reduction in [(0.25, 2.0, "mean"), (0.25, 2.0, "sum"),
                                (-1.0, 0.0, "mean"), (0.6, 1.5, "mean")]:
    x = logits.clone().requires_grad_(True)
    per_label = sigmoid_focal_loss(x, targets, alpha=alpha, gamma=gamma,
                                   reduction="none") * mask
    loss = per_label.sum()
    if reduction == "mean":
        loss = loss / mask.sum()
    loss.backward()
    print("case", alpha, gamma, reduction, repr(loss.item()), flat(x.grad))
