#!/usr/bin/python3
"""SSGRL head benchmark: labrun's `ssgrl` head (fast and released-style
direct semantic decoupling) against labrun's `fc` head on the same backbone,
with the released SSGRL PyTorch code's computation (re-implemented below:
semantic.py, ggnn.py with its reset-gate quirk, Element_Wise_Layer) against
a PyTorch fc head as the peer.

One step is forward, backward and an Adam step over every parameter, on a
batch of random images (ResNet-101 at 448x448, batch 2 by default) or, with
--backbone features, on a fixed [batch, 2048, size/32, size/32] feature
tensor (the head's own cost). Every configuration runs in a process of its
own (peak RSS is per process), all children of this one; rounds alternate
the configurations so that they share the machine's load. Reports wall and
CPU seconds per step (median over steps, then over rounds), peak RSS, and
the ratios to the fc head of the same side: CPU time and peak RSS on the
CPU; with --device cuda, wall time (each step ends with a synchronisation)
and the CUDA caching allocator's peak. Also checks that labrun's fast and
direct SSGRL computations give the same first loss (same weights).

    /usr/bin/python3 tools/bench/ssgrl/bench_ssgrl.py \\
        --bench build/bin/bench_ssgrl --plugins build/plugins
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torchvision

LABRUN = [("labrun fc", ["--head", "fc"]),
          ("labrun ssgrl", ["--head", "ssgrl", "--impl", "fast"]),
          ("labrun ssgrl direct", ["--head", "ssgrl", "--impl", "direct"])]
PYTORCH = [("pytorch fc", "fc"), ("pytorch ssgrl released", "released")]


class ReleasedSemantic(torch.nn.Module):
    """The released semantic.py computation (non-square maps allowed)."""

    def __init__(self, classes, image_dim, word_dim, dim=1024):
        super().__init__()
        self.classes, self.image_dim, self.dim = classes, image_dim, dim
        self.fc_1 = torch.nn.Linear(image_dim, dim, bias=False)
        self.fc_2 = torch.nn.Linear(word_dim, dim, bias=False)
        self.fc_3 = torch.nn.Linear(dim, dim)
        self.fc_a = torch.nn.Linear(dim, 1)

    def forward(self, features, words):
        b, c, h, w = features.shape
        k, s = self.classes, h * w
        image = features.permute(0, 2, 3, 1).contiguous()
        u = self.fc_1(image.view(-1, c)).view(b * s, 1, -1).repeat(1, k, 1)
        v = self.fc_2(words).view(1, k, -1).repeat(b * s, 1, 1)
        pairs = self.fc_3(torch.tanh(u * v).view(-1, self.dim))
        scores = self.fc_a(pairs).view(b, h, w, k).permute(0, 3, 1, 2)
        attention = torch.softmax(scores.reshape(b, k, s), dim=2)
        attention = attention.view(b, k, h, w).permute(0, 2, 3, 1)
        attention = attention.reshape(b, h, w, k, 1).repeat(1, 1, 1, 1, c)
        weighted = image.view(b, h, w, 1, c).repeat(1, 1, 1, k, 1) * attention
        return weighted.sum(1).sum(1)


class ReleasedGgnn(torch.nn.Module):
    """The first released ggnn.py: the reset gate reuses fc_eq3_u."""

    def __init__(self, dim, steps, adjacency):
        super().__init__()
        self.steps = steps
        self.register_buffer("in_matrix", adjacency)
        for eq in ("3", "4", "5"):
            setattr(self, "fc_eq%s_w" % eq, torch.nn.Linear(2 * dim, dim))
            setattr(self, "fc_eq%s_u" % eq, torch.nn.Linear(dim, dim))

    def forward(self, nodes):
        b, k, c = nodes.shape
        in_matrix = self.in_matrix.repeat(b, 1).view(b, k, -1)
        out_matrix = self.in_matrix.t().repeat(b, 1).view(b, k, -1)
        for _ in range(self.steps):
            a = torch.cat((torch.bmm(in_matrix, nodes),
                           torch.bmm(out_matrix, nodes)), 2).view(b * k, -1)
            h = nodes.view(b * k, -1)
            z = torch.sigmoid(self.fc_eq3_w(a) + self.fc_eq3_u(h))
            r = torch.sigmoid(self.fc_eq4_w(a) + self.fc_eq3_u(h))
            candidate = torch.tanh(self.fc_eq5_w(a) + self.fc_eq5_u(r * h))
            nodes = ((1 - z) * h + z * candidate).view(b, k, -1)
        return nodes


class ReleasedSsgrlHead(torch.nn.Module):
    def __init__(self, classes, image_dim, words, adjacency, output_dim=2048):
        super().__init__()
        self.register_buffer("words", words)
        self.word_semantic = ReleasedSemantic(classes, image_dim,
                                              words.shape[1])
        self.graph_net = ReleasedGgnn(image_dim, 3, adjacency)
        self.fc_output = torch.nn.Linear(2 * image_dim, output_dim)
        self.classifier_weight = torch.nn.Parameter(
            torch.empty(classes, output_dim).uniform_(-0.02, 0.02))
        self.classifier_bias = torch.nn.Parameter(torch.zeros(classes))

    def forward(self, features):
        nodes = self.word_semantic(features, self.words)
        output = torch.tanh(self.fc_output(
            torch.cat((self.graph_net(nodes), nodes), 2)))
        return (output * self.classifier_weight).sum(2) + self.classifier_bias


def status_mib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def pytorch_worker(args):
    """One PyTorch configuration; prints the same JSON as bench_ssgrl."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    start_rss = status_mib("VmRSS")
    if args.backbone == "resnet":
        resnet = torchvision.models.resnet101()
        layers = list(resnet.children())[:-2]  # up to layer4
        if args.extra_pool:
            layers.append(torch.nn.AvgPool2d(2, stride=2))
        backbone = torch.nn.Sequential(*layers)
        inputs = torch.randn(args.batch, 3, args.size, args.size)
    else:
        backbone = torch.nn.Identity()
        side = args.size // (64 if args.extra_pool else 32)
        inputs = torch.randn(args.batch, 2048, side, side, requires_grad=True)
    if args.worker == "fc":
        head = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1),
                                   torch.nn.Flatten(),
                                   torch.nn.Linear(2048, args.classes))
    else:
        labels = (torch.rand(1000, args.classes) < 0.05).float()
        counts = labels.t() @ labels
        adjacency = counts / counts.diagonal().clamp(min=1).unsqueeze(1)
        adjacency.fill_diagonal_(0)
        head = ReleasedSsgrlHead(args.classes, 2048,
                                 torch.randn(args.classes, 300), adjacency)
    model = torch.nn.Sequential(backbone, head).to(device).train()
    inputs = inputs.to(device).detach().requires_grad_(inputs.requires_grad)
    if args.memory_format == "channels_last":
        model = model.to(memory_format=torch.channels_last)
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    criterion = torch.nn.BCEWithLogitsLoss()
    # PyTorch's own mixed precision: autocast, and GradScaler for fp16
    # (disabled, it passes the step through).
    autocast_dtype = {"bf16": torch.bfloat16,
                      "fp16": torch.float16}.get(args.precision)
    tf32 = args.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    scaler = torch.cuda.amp.GradScaler(enabled=args.precision == "fp16")
    targets = (torch.rand(args.batch, args.classes) < 0.1).float().to(device)
    step_s, step_cpu_s, losses, first_loss = [], [], [], None
    for step in range(args.warmup + args.steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        optimizer.zero_grad()
        with torch.autocast(device.type, dtype=autocast_dtype,
                            enabled=autocast_dtype is not None):
            logits = model(inputs)
        loss = criterion(logits.float(), targets)
        scaler.scale(loss).backward()
        loss_value = loss.item()
        del loss, logits  # the graph must not live into the next step's peak
        scaler.step(optimizer)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step == 0:
            first_loss = loss_value
        if step >= args.warmup:
            step_s.append(time.perf_counter() - start)
            step_cpu_s.append(time.process_time() - start_cpu)
            losses.append(loss_value)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    result = {"step_s": step_s, "step_cpu_s": step_cpu_s, "loss": losses,
              "first_loss": first_loss, "start_rss_mib": start_rss,
              "peak_rss_mib": peak}
    if device.type == "cuda":
        result["cuda_peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
        result["cuda_reserved_mib"] = (
            torch.cuda.max_memory_reserved(device) / 2**20)
    print(json.dumps(result))


def common_flags(args):
    flags = []
    for name in ("backbone", "size", "batch", "classes", "threads", "warmup",
                 "steps", "device", "precision", "memory_format"):
        flags += ["--" + name.replace("_", "-"), str(getattr(args, name))]
    return flags + ["--extra-pool", str(args.extra_pool)]


def run(command):
    done = subprocess.run(command, capture_output=True, text=True,
                          errors="replace")
    if done.returncode != 0:
        sys.exit("%s failed (exit %d):\n%s" % (" ".join(command),
                                              done.returncode, done.stderr))
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", default="build/bin/bench_ssgrl")
    parser.add_argument("--plugins", default="build/plugins")
    parser.add_argument("--backbone", default="resnet",
                        choices=["resnet", "features"])
    parser.add_argument("--extra-pool", type=int, default=0, choices=[0, 2])
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="fp32",
                        choices=["fp32", "tf32", "bf16", "fp16"],
                        help="both sides: autocast of the forward pass (bf16, "
                        "fp16 with loss scaling: labrun's LossScaler, "
                        "PyTorch's GradScaler), TF32 (tf32) or none")
    parser.add_argument("--memory-format", default="contiguous",
                        choices=["contiguous", "channels_last"],
                        help="both sides: the layout of the images and "
                        "convolution weights (labrun's model.memory_format)")
    parser.add_argument("--adam", default="fused",
                        choices=["fused", "libtorch"],
                        help="labrun's optimizer (train/FusedAdam.h) or "
                        "LibTorch's Adam, for labrun's configurations")
    parser.add_argument("--skip", default="",
                        help="comma-separated configurations to leave out")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        pytorch_worker(args)
        return

    skip = set(filter(None, args.skip.split(",")))
    # On the CPU, process CPU time is the steadier measure of a step; on a
    # GPU the host mostly waits, so wall time (synchronised) is the measure.
    on_gpu = args.device == "cuda"
    peak_field = "cuda_peak_mib" if on_gpu else "peak_rss_mib"
    peak_name = "CUDA peak MiB" if on_gpu else "peak RSS MiB"
    time_name = "wall" if on_gpu else "CPU"

    commands = [(name, [args.bench, "--plugins", args.plugins,
                        "--adam", args.adam] + flags + common_flags(args))
                for name, flags in LABRUN]
    commands += [(name, [sys.executable, os.path.abspath(__file__),
                         "--worker", worker] + common_flags(args))
                 for name, worker in PYTORCH]
    results = {name: [] for name, _ in commands if name not in skip}
    for round_index in range(args.rounds):
        for name, command in commands:
            if name in skip:
                continue
            result = run(command)
            results[name].append(result)
            print("round %d: %-24s wall %7.4f s  cpu %7.3f s  peak %7.0f MiB"
                  % (round_index + 1, name,
                     statistics.median(result["step_s"]),
                     statistics.median(result["step_cpu_s"]),
                     result[peak_field]), flush=True)

    def summary(name):
        rounds = results[name]
        return (statistics.median(statistics.median(r["step_s"])
                                  for r in rounds),
                statistics.median(statistics.median(r["step_cpu_s"])
                                  for r in rounds),
                max(r[peak_field] for r in rounds))

    def measure(name):
        wall, cpu, peak = summary(name)
        return (wall if on_gpu else cpu), peak

    print("\n%s, %dx%d, batch %d, %d classes, %d thread(s), %d steps x %d "
          "rounds, %s, %s, %s; torch %s; labrun with %s Adam" % (
              "ResNet-101" if args.backbone == "resnet" else "features only",
              args.size, args.size, args.batch, args.classes, args.threads,
              args.steps, args.rounds, device_name(args.device),
              args.precision, args.memory_format, torch.__version__,
              args.adam))

    def optimizer_s(name):
        """Seconds of the optimizer step (labrun's configurations only)."""
        if "optimizer_s" not in results[name][0]:
            return "-"
        return "%.4f" % statistics.median(
            statistics.median(r["optimizer_s"]) for r in results[name])

    print("| configuration | wall s/step | CPU s/step | Adam s | %s | "
          "%s vs fc | peak vs fc |" % (peak_name, time_name))
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in results:
        side_fc = "labrun fc" if name.startswith("labrun") else "pytorch fc"
        wall, cpu, peak = summary(name)
        if side_fc in results:
            time_ratio = measure(name)[0] / measure(side_fc)[0]
            ratios = "%.2fx | %.2fx" % (time_ratio, peak / summary(side_fc)[2])
        else:
            ratios = "- | -"
        print("| %s | %.4f | %.3f | %s | %.0f | %s |" % (
            name, wall, cpu, optimizer_s(name), peak, ratios))
    for slow in ("labrun ssgrl direct", "pytorch ssgrl released"):
        if "labrun ssgrl" in results and slow in results:
            fast_time, peak = measure("labrun ssgrl")
            slow_time, slow_peak = measure(slow)
            print("labrun ssgrl / %s: %s %.2fx, peak %.2fx (%+.0f MiB)"
                  % (slow, time_name, fast_time / slow_time, peak / slow_peak,
                     peak - slow_peak))
    if "labrun ssgrl" in results and "labrun ssgrl direct" in results:
        gap = max(abs(fast["first_loss"] - direct["first_loss"]) /
                  abs(direct["first_loss"])
                  for fast, direct in zip(results["labrun ssgrl"],
                                          results["labrun ssgrl direct"]))
        print("labrun ssgrl fast vs direct: first losses (same weights) "
              "agree to %.2e (relative)" % gap)


def device_name(device):
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    return "CPU"


if __name__ == "__main__":
    main()
