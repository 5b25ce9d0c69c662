#!/usr/bin/python3
"""Reference values for the SSGRL head tests, written with plain NumPy loops
that follow the paper's equations one pair at a time (independent of the
vectorised C++ code), into ssgrl_reference.json.

- "ggnn": a 3-node graph, node size 2, 2 steps; outputs with the paper's
  reset gate and with the first released code's (U_r := U_z).
- "head": a whole tiny head (K=3 classes, C=4 channels, 2x2 locations,
  E=3 word size, D=5 attention size, output size 3, 2 steps); parameters
  under the released model's state_dict names, logits for both modes, and
  "pooled": the paper's logits without semantic decoupling (every node
  starts from the mean feature over the locations; word_semantic unused). Its
  word embeddings and graph are also written as head_words.npy and
  head_adjacency.npy, for the plugin's .npy options.

Run from anywhere: /usr/bin/python3 tests/data/ssgrl/make_ssgrl_reference.py
"""
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def linear(p, name, x):
    y = p[name + ".weight"] @ x
    return y + p[name + ".bias"] if name + ".bias" in p else y


def ggnn(p, prefix, adjacency, nodes, steps, released):
    """nodes: [K, dim] of one image; returns h^T."""
    h = nodes.copy()
    k = len(h)
    for _ in range(steps):
        new = np.empty_like(h)
        for c in range(k):
            incoming = sum(adjacency[c, j] * h[j] for j in range(k))
            outgoing = sum(adjacency[j, c] * h[j] for j in range(k))
            a = np.concatenate([incoming, outgoing])
            z = sigmoid(linear(p, prefix + "fc_eq3_w", a) +
                        linear(p, prefix + "fc_eq3_u", h[c]))
            reset_u = "fc_eq3_u" if released else "fc_eq4_u"
            r = sigmoid(linear(p, prefix + "fc_eq4_w", a) +
                        linear(p, prefix + reset_u, h[c]))
            candidate = np.tanh(linear(p, prefix + "fc_eq5_w", a) +
                                linear(p, prefix + "fc_eq5_u", r * h[c]))
            new[c] = (1 - z) * h[c] + z * candidate
        h = new
    return h


def head(p, features, words, adjacency, steps, released, decoupling=True):
    """features: [B, C, h, w]; words: [K, E] -> logits [B, K]."""
    batch, channels = features.shape[:2]
    locations = features.reshape(batch, channels, -1)
    classes = len(words)
    logits = np.empty((batch, classes))
    for b in range(batch):
        nodes = np.empty((classes, channels))
        for c in range(classes):
            if not decoupling:
                nodes[c] = locations[b].mean(axis=1)
                continue
            scores = []
            for s in range(locations.shape[2]):
                f = locations[b, :, s]
                t = np.tanh(linear(p, "word_semantic.fc_1", f) *
                            linear(p, "word_semantic.fc_2", words[c]))
                scores.append(linear(p, "word_semantic.fc_a",
                                     linear(p, "word_semantic.fc_3", t))[0])
            weights = np.exp(np.array(scores) - max(scores))
            weights /= weights.sum()
            nodes[c] = locations[b] @ weights
        final = ggnn(p, "graph_net.", adjacency, nodes, steps, released)
        for c in range(classes):
            o = np.tanh(linear(p, "fc_output",
                               np.concatenate([final[c], nodes[c]])))
            logits[b, c] = (p["classifiers.weight"][c] @ o +
                            p["classifiers.bias"][c])
    return logits


def ggnn_params(rng, prefix, dim, scale):
    p = {}
    for eq in ("3", "4", "5"):
        p[f"{prefix}fc_eq{eq}_w.weight"] = rng.normal(0, scale, (dim, 2 * dim))
        p[f"{prefix}fc_eq{eq}_w.bias"] = rng.normal(0, scale, dim)
        p[f"{prefix}fc_eq{eq}_u.weight"] = rng.normal(0, scale, (dim, dim))
        p[f"{prefix}fc_eq{eq}_u.bias"] = rng.normal(0, scale, dim)
    return p


def encode(params):
    return {name: {"shape": list(value.shape),
                   "values": value.reshape(-1).tolist()}
            for name, value in params.items()}


def main():
    rng = np.random.default_rng(1907)
    # Exact in float32, as the head stores its graph.
    adjacency3 = np.array([[0.0, 0.5, 0.25], [1.0, 0.0, 0.0],
                           [0.125, 0.75, 0.0]])
    nodes = rng.normal(0, 1, (3, 2))
    p = ggnn_params(rng, "", 2, 0.8)
    fixture = {"ggnn": {
        "steps": 2, "adjacency": adjacency3.tolist(), "nodes": nodes.tolist(),
        "params": encode(p),
        "paper": ggnn(p, "", adjacency3, nodes, 2, False).tolist(),
        "released": ggnn(p, "", adjacency3, nodes, 2, True).tolist()}}

    classes, channels, side, word_dim, attention, output = 3, 4, 2, 3, 5, 3
    q = {
        "word_semantic.fc_1.weight": rng.normal(0, 0.6, (attention, channels)),
        "word_semantic.fc_2.weight": rng.normal(0, 0.6, (attention, word_dim)),
        "word_semantic.fc_3.weight": rng.normal(0, 0.6, (attention, attention)),
        "word_semantic.fc_3.bias": rng.normal(0, 0.6, attention),
        "word_semantic.fc_a.weight": rng.normal(0, 0.6, (1, attention)),
        "word_semantic.fc_a.bias": rng.normal(0, 0.6, 1),
        "fc_output.weight": rng.normal(0, 0.5, (output, 2 * channels)),
        "fc_output.bias": rng.normal(0, 0.5, output),
        "classifiers.weight": rng.normal(0, 0.8, (classes, output)),
        "classifiers.bias": rng.normal(0, 0.8, classes),
    }
    q.update(ggnn_params(rng, "graph_net.", channels, 0.5))
    features = rng.normal(0, 1, (2, channels, side, side))
    # Rounded to float32, as the head stores its embeddings.
    words = rng.normal(0, 1, (classes, word_dim)).astype(np.float32).astype(
        np.float64)
    fixture["head"] = {
        "steps": 2, "attention_dim": attention, "output_dim": output,
        "features": features.reshape(-1).tolist(),
        "features_shape": list(features.shape),
        "words": words.tolist(), "adjacency": adjacency3.tolist(),
        "params": encode(q),
        "paper": head(q, features, words, adjacency3, 2, False).tolist(),
        "released": head(q, features, words, adjacency3, 2, True).tolist(),
        "pooled": head(q, features, words, adjacency3, 2, False,
                       decoupling=False).tolist()}
    np.save(os.path.join(HERE, "head_words.npy"), words.astype(np.float32))
    np.save(os.path.join(HERE, "head_adjacency.npy"), adjacency3)
    with open(os.path.join(HERE, "ssgrl_reference.json"), "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
