#!/usr/bin/python3
"""Reference values for the Query2Label head tests, from two Python versions
of the released model (github.com/SlongLiu/query2labels; its
lib/models/transformer.py and position_encoding.py are read from the copy
that github.com/Alibaba-MIIL/ASL vendors, commit ae77632):

1. `logits`: the computation written out operation by operation in float64,
   attention included (nn.MultiheadAttention's function: packed in_proj
   rows q|k|v, heads as consecutive channel blocks, scores divided by
   sqrt(head_dim), softmax over the keys, out_proj). Its autograd gradients
   are the reference gradients.
2. `ReleasedQ2L`: the released module tree rebuilt from torch.nn modules
   (nn.MultiheadAttention, nn.LayerNorm, nn.Linear, ...), so that its
   state_dict() has the released names. Version 1 must agree with it.

Written next to this script:
- q2l_reference.{json,bin} (tests/fixtures/ReferenceTensors.h's format),
  float64, per case: CASE/features, CASE/logits, CASE/upstream (the
  gradient fed back), CASE/param/NAME, CASE/grad/features and
  CASE/grad/NAME for every parameter NAME under the released names (the
  parameter gradients for the cases with param_grads, to keep it small);
- q2l_cases.json: each case's head options (the plugin's keys);
- ../q2l_released/: released_head.pth.tar, a checkpoint in the layout
  main_mlc.py's save_checkpoint writes ({'epoch', 'arch', 'state_dict',
  'best_mAP', 'optimizer'}, keys under `module.` as DistributedDataParallel
  saves them, backbone.0.body.* and the position buffer backbone.1.pe
  beside the head's keys), float32, for the "released" case; with
  features.npy and logits.npy (float32, the module's eval-mode output).

Run from anywhere: /usr/bin/python3 tests/data/q2l/make_q2l_reference.py
"""
import copy
import json
import math
import os
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "fixtures"))
from make_model_fixtures import write_reference  # noqa: E402

# Head options per case; "channels" is the backbone's C, "size" the map (h, w)
# (non-square, so that rows and columns cannot be swapped unnoticed).
CASES = {
    # As released for COCO: encoder 1, decoder 2, no decoder self-attention,
    # post-norm, no input projection (C = hidden_dim).
    "released": dict(hidden_dim=8, num_heads=2, enc_layers=1, dec_layers=2,
                     dim_feedforward=8, pre_norm=False,
                     keep_first_self_attn=False, keep_other_self_attn=False,
                     input_proj=False, channels=8, classes=3, size=(3, 2),
                     param_grads=True),
    # The options off the released path: a 1x1 input projection, the first
    # decoder layer's self-attention kept.
    "variants": dict(hidden_dim=4, num_heads=2, enc_layers=1, dec_layers=2,
                     dim_feedforward=6, pre_norm=False,
                     keep_first_self_attn=True, keep_other_self_attn=False,
                     input_proj=True, channels=5, classes=3, size=(2, 3),
                     param_grads=True),
    # Pre-norm (needs every self-attention, as released), 2 encoder layers.
    "pre_norm": dict(hidden_dim=4, num_heads=1, enc_layers=2, dec_layers=2,
                     dim_feedforward=6, pre_norm=True,
                     keep_first_self_attn=True, keep_other_self_attn=True,
                     input_proj=False, channels=4, classes=2, size=(2, 2),
                     param_grads=False),
    # No encoder: the decoder reads the feature map itself.
    "no_encoder": dict(hidden_dim=4, num_heads=2, enc_layers=0, dec_layers=1,
                       dim_feedforward=5, pre_norm=False,
                       keep_first_self_attn=False, keep_other_self_attn=False,
                       input_proj=False, channels=4, classes=3, size=(2, 2),
                     param_grads=False),
}
BATCH = 2


# ---- 1. Operation by operation -------------------------------------------

def position_embedding(h, w, d, dtype):
    """position_encoding.py:34-51 (_gen_pos_buffer) with normalize=True
    (:69), num_pos_feats = hidden_dim // 2 (:59), maxH x maxW = the map."""
    npf = d // 2
    y = torch.arange(1, h + 1, dtype=dtype)[:, None].expand(h, w)
    x = torch.arange(1, w + 1, dtype=dtype)[None, :].expand(h, w)
    y = y / (h + 1e-6) * 2 * math.pi
    x = x / (w + 1e-6) * 2 * math.pi
    dim_t = 10000 ** (2 * (torch.arange(npf, dtype=dtype) // 2) / npf)
    channels = []
    for axis in (y, x):  # pos_y first (:50)
        for i in range(npf):  # sin on even, cos on odd features (:48-49)
            value = axis / dim_t[i]
            channels.append(torch.sin(value) if i % 2 == 0 else
                            torch.cos(value))
    return torch.stack(channels)  # [d, h, w]


def linear(p, name, x):
    return x @ p[name + ".weight"].T + p[name + ".bias"]


def layer_norm(p, name, x):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + 1e-5) * p[name + ".weight"] + \
        p[name + ".bias"]


def attention(p, name, query, key, value, heads):
    """nn.MultiheadAttention(d, heads)(query, key, value)[0], inputs
    [length, batch, d]."""
    d = query.shape[-1]
    w, b = p[name + ".in_proj_weight"], p[name + ".in_proj_bias"]
    q = query @ w[:d].T + b[:d]
    k = key @ w[d:2 * d].T + b[d:2 * d]
    v = value @ w[2 * d:].T + b[2 * d:]
    hd = d // heads

    def split(t):  # [L, B, d] -> [B, heads, L, hd]
        return t.reshape(t.shape[0], t.shape[1], heads, hd).permute(1, 2, 0, 3)

    q, k, v = split(q), split(k), split(v)
    a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1)
    out = (a @ v).permute(2, 0, 1, 3).reshape(query.shape[0], -1, d)
    return linear(p, name + ".out_proj", out)


def feed_forward(p, name, x):
    return linear(p, name + ".linear2",
                  torch.relu(linear(p, name + ".linear1", x)))


def encoder_layer(p, name, src, pos, heads, pre_norm):
    """transformer.py:209-224 (forward_post), 226-239 (forward_pre)."""
    if pre_norm:
        s = layer_norm(p, name + ".norm1", src)
        src = src + attention(p, name + ".self_attn", s + pos, s + pos, s,
                              heads)
        return src + feed_forward(p, name,
                                  layer_norm(p, name + ".norm2", src))
    src = layer_norm(p, name + ".norm1",
                     src + attention(p, name + ".self_attn", src + pos,
                                     src + pos, src, heads))
    return layer_norm(p, name + ".norm2", src + feed_forward(p, name, src))


def decoder_layer(p, name, tgt, memory, pos, query_pos, heads, pre_norm,
                  self_attn):
    """transformer.py:279-306 (forward_post: the self-attention block only
    where the layer keeps it, :288), 308-331 (forward_pre)."""
    if pre_norm:
        t = layer_norm(p, name + ".norm1", tgt)
        tgt = tgt + attention(p, name + ".self_attn", t + query_pos,
                              t + query_pos, t, heads)
        t = layer_norm(p, name + ".norm2", tgt)
        tgt = tgt + attention(p, name + ".multihead_attn", t + query_pos,
                              memory + pos, memory, heads)
        return tgt + feed_forward(p, name,
                                  layer_norm(p, name + ".norm3", tgt))
    if self_attn:
        tgt = layer_norm(p, name + ".norm1",
                         tgt + attention(p, name + ".self_attn",
                                         tgt + query_pos, tgt + query_pos,
                                         tgt, heads))
    tgt = layer_norm(p, name + ".norm2",
                     tgt + attention(p, name + ".multihead_attn",
                                     tgt + query_pos, memory + pos, memory,
                                     heads))
    return layer_norm(p, name + ".norm3", tgt + feed_forward(p, name, tgt))


def logits(p, features, c):
    """query2label.py:72-81 (Qeruy2Label.forward) on the backbone's map:
    input_proj (:67; nn.Identity without keep_input_proj, :106-107), the
    transformer (transformer.py:97-116: sequence-first, memory = encoder(src)
    when enc_layers > 0, tgt = 0, query_pos = query_embed, pos added to the
    keys; decoder.norm after the last layer, :172-173; the encoder's norm
    only with pre_norm, :38), GroupWiseLinear (query2label.py:42-47)."""
    src = features
    if c["input_proj"]:
        src = torch.einsum("bchw,dc->bdhw", src,
                           p["input_proj.weight"][:, :, 0, 0]) + \
            p["input_proj.bias"][None, :, None, None]
    batch, d, h, w = src.shape
    pos = position_embedding(h, w, d, src.dtype)
    src = src.flatten(2).permute(2, 0, 1)
    pos = pos.flatten(1).T[:, None, :].expand(-1, batch, -1)
    query_pos = p["query_embed.weight"][:, None, :].expand(-1, batch, -1)
    memory = src
    for i in range(c["enc_layers"]):
        memory = encoder_layer(p, f"transformer.encoder.layers.{i}", memory,
                               pos, c["num_heads"], c["pre_norm"])
    if c["enc_layers"] > 0 and c["pre_norm"]:
        memory = layer_norm(p, "transformer.encoder.norm", memory)
    tgt = torch.zeros_like(query_pos)
    for i in range(c["dec_layers"]):
        tgt = decoder_layer(p, f"transformer.decoder.layers.{i}", tgt, memory,
                            pos, query_pos, c["num_heads"], c["pre_norm"],
                            keeps_self_attn(c, i))
    hs = layer_norm(p, "transformer.decoder.norm", tgt).transpose(0, 1)
    return (p["fc.W"] * hs).sum(-1) + p["fc.b"]


def keeps_self_attn(c, index):
    """transformer.py:60-72 (rm_self_attn_dec_func)."""
    return c["keep_first_self_attn"] if index == 0 else \
        c["keep_other_self_attn"]


# ---- 2. The released module tree ------------------------------------------

class EncoderLayer(nn.Module):
    def __init__(self, d, heads, ff, pre_norm):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads)
        self.linear1, self.linear2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.pre_norm = pre_norm

    def forward(self, src, pos):
        ffn = lambda x: self.linear2(torch.relu(self.linear1(x)))  # noqa
        if self.pre_norm:
            s = self.norm1(src)
            src = src + self.self_attn(s + pos, s + pos, s)[0]
            return src + ffn(self.norm2(src))
        src = self.norm1(src + self.self_attn(src + pos, src + pos, src)[0])
        return self.norm2(src + ffn(src))


class DecoderLayer(nn.Module):
    def __init__(self, d, heads, ff, pre_norm, self_attn):
        super().__init__()
        if self_attn:
            self.self_attn = nn.MultiheadAttention(d, heads)
            self.norm1 = nn.LayerNorm(d)
        self.multihead_attn = nn.MultiheadAttention(d, heads)
        self.linear1, self.linear2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.pre_norm, self.has_self_attn = pre_norm, self_attn

    def forward(self, tgt, memory, pos, query_pos):
        ffn = lambda x: self.linear2(torch.relu(self.linear1(x)))  # noqa
        if self.pre_norm:
            t = self.norm1(tgt)
            tgt = tgt + self.self_attn(t + query_pos, t + query_pos, t)[0]
            t = self.norm2(tgt)
            tgt = tgt + self.multihead_attn(t + query_pos, memory + pos,
                                            memory)[0]
            return tgt + ffn(self.norm3(tgt))
        if self.has_self_attn:
            tgt = self.norm1(tgt + self.self_attn(
                tgt + query_pos, tgt + query_pos, tgt)[0])
        tgt = self.norm2(tgt + self.multihead_attn(
            tgt + query_pos, memory + pos, memory)[0])
        return self.norm3(tgt + ffn(tgt))


class ReleasedQ2L(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, heads, ff = c["hidden_dim"], c["num_heads"], c["dim_feedforward"]
        self.c = c
        # Joiner(Backbone(body=...), PositionEmbeddingSine(pe buffer)):
        # stand-ins with the released key names (backbone.py).
        body = nn.Module()
        body.conv1 = nn.Conv2d(3, c["channels"], 1, bias=False)
        stem = nn.Module()
        stem.body = body
        pos = nn.Module()
        pos.register_buffer(
            "pe", position_embedding(*c["size"], d, torch.float32)[None])
        self.backbone = nn.Sequential(stem, pos)
        self.transformer = nn.Module()
        self.transformer.encoder = nn.Module()
        self.transformer.encoder.layers = nn.ModuleList(
            EncoderLayer(d, heads, ff, c["pre_norm"])
            for _ in range(c["enc_layers"]))
        if c["pre_norm"]:
            self.transformer.encoder.norm = nn.LayerNorm(d)
        self.transformer.decoder = nn.Module()
        self.transformer.decoder.layers = nn.ModuleList(
            DecoderLayer(d, heads, ff, c["pre_norm"], keeps_self_attn(c, i))
            for i in range(c["dec_layers"]))
        self.transformer.decoder.norm = nn.LayerNorm(d)
        self.input_proj = nn.Conv2d(c["channels"], d, 1) \
            if c["input_proj"] else nn.Identity()
        self.query_embed = nn.Embedding(c["classes"], d)
        self.fc = nn.Module()
        self.fc.W = nn.Parameter(torch.empty(1, c["classes"], d))
        self.fc.b = nn.Parameter(torch.empty(1, c["classes"]))

    def head(self, features):
        src = self.input_proj(features)
        batch, d, h, w = src.shape
        # The released buffer is float32 (Joiner casts it to the map's
        # dtype); recomputed here so that the float64 check is exact.
        pos = position_embedding(h, w, d, src.dtype)[None].repeat(
            batch, 1, 1, 1)
        src = src.flatten(2).permute(2, 0, 1)
        pos = pos.flatten(2).permute(2, 0, 1)
        query_pos = self.query_embed.weight.unsqueeze(1).repeat(1, batch, 1)
        memory = src
        for layer in self.transformer.encoder.layers:
            memory = layer(memory, pos)
        if len(self.transformer.encoder.layers) and self.c["pre_norm"]:
            memory = self.transformer.encoder.norm(memory)
        tgt = torch.zeros_like(query_pos)
        for layer in self.transformer.decoder.layers:
            tgt = layer(tgt, memory, pos, query_pos)
        hs = self.transformer.decoder.norm(tgt).transpose(0, 1)
        return (self.fc.W * hs).sum(-1) + self.fc.b


def head_parameters(model):
    """The head's parameters (not the backbone stand-in's)."""
    return {name: p for name, p in model.named_parameters()
            if not name.startswith("backbone.")}


def main():
    torch.manual_seed(2021)
    tensors, options = {}, {}
    released = None
    for case, c in CASES.items():
        model = ReleasedQ2L(c)
        with torch.no_grad():
            # Every parameter random (LayerNorm and biases included), large
            # enough that no attention is near uniform.
            for p in model.parameters():
                p.uniform_(-0.9, 0.9)
        features = torch.randn(BATCH, c["channels"], *c["size"])
        if case == "released":
            released = (copy.deepcopy(model), features)
        model = model.double()
        params = {name: p.detach().clone().requires_grad_()
                  for name, p in head_parameters(model).items()}
        x = features.double().requires_grad_()
        out = logits(params, x, c)
        with torch.no_grad():
            module_out = model.head(x)
        gap = (out - module_out).abs().max().item()
        assert gap < 1e-12, (case, gap)
        upstream = torch.randn_like(out)
        names = sorted(params)
        grads = torch.autograd.grad(out, [x] + [params[n] for n in names],
                                    upstream)
        tensors[case + "/features"] = x.detach()
        tensors[case + "/logits"] = out.detach()
        tensors[case + "/upstream"] = upstream
        tensors[case + "/grad/features"] = grads[0]
        for name, grad in zip(names, grads[1:]):
            tensors[case + "/param/" + name] = params[name].detach()
            if c["param_grads"]:
                tensors[case + "/grad/" + name] = grad
        options[case] = {k: v for k, v in c.items() if k != "size"}
        options[case]["size"] = list(c["size"])
    stem = os.path.join(HERE, "q2l_reference")
    write_reference(stem, tensors)
    with open(stem + ".json") as f:  # one line: a third of the size
        manifest = json.load(f)
    with open(stem + ".json", "w") as f:
        json.dump(manifest, f, separators=(",", ":"))
    with open(os.path.join(HERE, "q2l_cases.json"), "w") as f:
        json.dump(options, f, indent=1)
        f.write("\n")

    model, features = released
    model.eval()
    out_dir = os.path.join(HERE, "..", "q2l_released")
    os.makedirs(out_dir, exist_ok=True)
    state = {"module." + k: v for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4,
                                  weight_decay=1e-2)
    torch.save({"epoch": 9, "arch": "Q2L-R101-448", "state_dict": state,
                "best_mAP": 84.9, "optimizer": optimizer.state_dict()},
               os.path.join(out_dir, "released_head.pth.tar"))
    with torch.no_grad():
        np.save(os.path.join(out_dir, "features.npy"), features.numpy())
        np.save(os.path.join(out_dir, "logits.npy"),
                model.head(features).numpy())


if __name__ == "__main__":
    main()
