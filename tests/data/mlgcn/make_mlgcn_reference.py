#!/usr/bin/python3
"""Reference values for the mlgcn head tests: the released ML-GCN code
(github.com/Megvii-Nanjing/ML-GCN; models.py GraphConvolution and
GCNResnet.forward, util.py gen_A and gen_adj) transcribed with torch in
float64, independent of labrun's C++.

A tiny head: K=4 classes, E=5 word size, hidden 6, C=3 channels, a 3x2 map,
batch 2. Written files:
- cooccurrence.npy, class_counts.npy, words.npy: the head's .npy options;
- mlgcn_reference.json: the parameters, features, an upstream gradient, and
  for the graph as released ("released", gen_A) and as the paper's
  corrected eq. (8) ("paper"), the logits and the gradients of
  sum(logits * upstream) with respect to the features and each parameter;
  "checkpoint": the logits of released_checkpoint.pth.tar;
- released_checkpoint.pth.tar: a checkpoint shaped as the released engine
  saves it ({epoch, arch, state_dict, best_score}, legacy torch.save format
  as torch 0.3 wrote it) with backbone entries (features.*), gc1.weight,
  gc2.weight and the graph A, built at a threshold of 0.3 (not the options'
  0.4), so that the logits show that A comes from the file.

Run from anywhere: /usr/bin/python3 tests/data/mlgcn/make_mlgcn_reference.py
"""
import json
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TAU, P = 0.4, 0.25


def released_graph(cooccurrence, counts, tau, p):
    """util.py gen_A: P(j|i), binarised at tau, columns scaled to p, + I."""
    graph = cooccurrence / counts[:, None]
    graph = np.where(graph < tau, 0.0, 1.0)
    graph = graph * p / (graph.sum(axis=0, keepdims=True) + 1e-6)
    return graph + np.identity(len(counts))


def paper_graph(cooccurrence, counts, tau, p):
    """The corrected eq. (8): off-diagonal rows sum to p, diagonal 1 - p."""
    graph = np.where(cooccurrence / counts[:, None] < tau, 0.0, 1.0)
    np.fill_diagonal(graph, 0)
    graph = p * graph / graph.sum(axis=1, keepdims=True)
    return graph + (1 - p) * np.identity(len(counts))


def logits_of(features, words, graph, w1, w2):
    """GCNResnet.forward after the backbone, term by term."""
    pooled = features.amax(dim=(2, 3))          # MaxPool2d over the map
    d = torch.diag(graph.sum(1).pow(-0.5))      # gen_adj
    adj = torch.matmul(torch.matmul(graph, d).t(), d)
    x = torch.matmul(adj, torch.matmul(words, w1))       # gc1
    x = torch.nn.functional.leaky_relu(x, 0.2)
    x = torch.matmul(adj, torch.matmul(x, w2))           # gc2
    return torch.matmul(pooled, x.transpose(0, 1))


def encode(tensor):
    return {"shape": list(tensor.shape),
            "values": tensor.detach().reshape(-1).tolist()}


def float32(array):
    """As the head stores its graph and embeddings."""
    return torch.tensor(np.asarray(array, np.float32), dtype=torch.float64)


def main():
    rng = np.random.default_rng(2019)
    # Conditional probabilities on both sides of tau, none equal to it.
    cooccurrence = np.array([[0, 30, 5, 12], [30, 0, 20, 2],
                             [5, 20, 0, 9], [12, 2, 9, 0]], np.int64)
    counts = np.array([50, 40, 25, 20], np.int64)
    classes, word_dim, hidden, channels = 4, 5, 6, 3
    words = float32(rng.normal(0, 1, (classes, word_dim)))
    w1 = torch.tensor(rng.normal(0, 0.5, (word_dim, hidden)),
                      requires_grad=True)
    w2 = torch.tensor(rng.normal(0, 0.5, (hidden, channels)),
                      requires_grad=True)
    features = torch.tensor(rng.normal(0, 1, (2, channels, 3, 2)),
                            requires_grad=True)
    upstream = torch.tensor(rng.normal(0, 1, (2, classes)))
    fixture = {"hidden_dim": hidden, "params": {"gc1.weight": encode(w1),
                                                "gc2.weight": encode(w2)},
               "features": encode(features), "upstream": encode(upstream)}
    for mode, build in (("released", released_graph), ("paper", paper_graph)):
        graph = float32(build(cooccurrence, counts, TAU, P))
        logits = logits_of(features, words, graph, w1, w2)
        grads = torch.autograd.grad((logits * upstream).sum(),
                                    [features, w1, w2])
        fixture[mode] = {
            "graph": encode(graph), "logits": encode(logits),
            "grads": {"features": encode(grads[0]),
                      "gc1.weight": encode(grads[1]),
                      "gc2.weight": encode(grads[2])}}

    file_graph = torch.tensor(released_graph(cooccurrence, counts, 0.3, P),
                              dtype=torch.float32)
    state = {"features.0.weight": torch.zeros(2, 3, 1, 1),
             "features.1.running_mean": torch.zeros(2),
             "gc1.weight": w1.detach().float(),
             "gc2.weight": w2.detach().float(), "A": file_graph}
    fixture["checkpoint"] = {"logits": encode(logits_of(
        features, words, file_graph.double(), w1.detach().float().double(),
        w2.detach().float().double()))}
    torch.save({"epoch": 3, "arch": None, "state_dict": state,
                "best_score": 0.5},
               os.path.join(HERE, "released_checkpoint.pth.tar"),
               _use_new_zipfile_serialization=False)
    np.save(os.path.join(HERE, "cooccurrence.npy"), cooccurrence)
    np.save(os.path.join(HERE, "class_counts.npy"), counts)
    np.save(os.path.join(HERE, "words.npy"), words.numpy().astype(np.float32))
    with open(os.path.join(HERE, "mlgcn_reference.json"), "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
