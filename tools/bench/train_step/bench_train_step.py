#!/usr/bin/python3
"""Training-step benchmark: labrun's resnet + fc plugins against PyTorch.

One step is forward, backward and an Adam step of ResNet-101 with a
Linear(2048, 80) classifier on global-average-pooled layer4 features (labrun:
the `resnet` backbone and `fc` head plugins in labrun's Model, `bce` loss;
PyTorch: torchvision's resnet101 with its fc replaced, BCEWithLogitsLoss), on
a batch of 2 random 448x448 images, both sides on the same number of
threads and in the same precision (--precision bf16: the forward pass under
CPU autocast to bfloat16, the loss in float32, on both sides). Each side's
layout of images and convolution weights is chosen apart (--memory-format for
labrun's model.memory_format, --peer-memory-format for PyTorch's
`model.to(memory_format=...)`), so that labrun in channels-last can be set
against PyTorch's default eager step as well as against PyTorch in
channels-last. Both models live side by side (labrun's in a child process driven
over a pipe) and their steps alternate one by one, so that each pair of
steps sees the same machine load even on a busy machine. Prints images/s of
each side and the median of the per-pair ratios labrun / PyTorch.

    /usr/bin/python3 tools/bench/train_step/bench_train_step.py \\
        --bench build/bin/bench_train_step --plugins build/plugins
"""
import argparse
import statistics
import subprocess
import time

import torch
import torchvision


class PyTorchSide:
    def __init__(self, args):
        torch.manual_seed(0)
        self.model = torchvision.models.resnet101()
        self.model.fc = torch.nn.Linear(2048, args.classes)
        self.model.train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        self.criterion = torch.nn.BCEWithLogitsLoss()
        self.images = torch.randn(args.batch, 3, args.size, args.size)
        self.targets = (torch.rand(args.batch, args.classes) < 0.1).float()
        self.bf16 = args.precision == "bf16"
        if args.peer_memory_format == "channels_last":
            self.model = self.model.to(memory_format=torch.channels_last)
            self.images = self.images.contiguous(
                memory_format=torch.channels_last)

    def step(self):
        start = time.perf_counter()
        self.optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16,
                            enabled=self.bf16):
            logits = self.model(self.images)
        self.criterion(logits.float(), self.targets).backward()
        self.optimizer.step()
        return time.perf_counter() - start


class LabrunSide:
    def __init__(self, args):
        command = [args.bench, "--plugins", args.plugins]
        for flag in ("size", "batch", "classes", "threads", "precision",
                     "memory_format"):
            command += ["--" + flag.replace("_", "-"),
                        str(getattr(args, flag))]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("bench_train_step failed to start")

    def step(self):
        self.process.stdin.write("step\n")
        self.process.stdin.flush()
        return float(self.process.stdout.readline())

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", default="build/bin/bench_train_step")
    parser.add_argument("--plugins", default="build/plugins")
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=("fp32", "bf16"),
                        default="fp32")
    parser.add_argument("--memory-format",
                        choices=("contiguous", "channels_last"),
                        default="contiguous", help="labrun's side")
    parser.add_argument("--peer-memory-format",
                        choices=("contiguous", "channels_last"),
                        default="contiguous", help="PyTorch's side")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--trace", metavar="FILE",
                        help="after the timed steps, profile one PyTorch step "
                        "and write it as a Chrome trace (for "
                        "tools/bench/ssgrl/trace_summary.py)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    labrun = LabrunSide(args)
    pytorch = PyTorchSide(args)
    times = {"pytorch": [], "labrun": []}
    for step in range(args.warmup + args.steps):
        # Alternate who goes first, so neither always follows the other.
        first, second = ((pytorch, labrun) if step % 2 == 0
                         else (labrun, pytorch))
        took = {id(first): first.step(), id(second): second.step()}
        if step < args.warmup:
            continue
        times["pytorch"].append(took[id(pytorch)])
        times["labrun"].append(took[id(labrun)])
        print("step %d: pytorch %.2f s, labrun %.2f s" %
              (step - args.warmup + 1, times["pytorch"][-1],
               times["labrun"][-1]), flush=True)
    labrun.close()
    if args.trace:
        with torch.autograd.profiler.profile() as profile:
            pytorch.step()
        profile.export_chrome_trace(args.trace)

    def rate(side):
        return args.batch * len(times[side]) / sum(times[side])

    ratio = statistics.median(
        p / l for p, l in zip(times["pytorch"], times["labrun"]))
    print("ResNet-101 + fc, %dx%d, batch %d, %d threads, %s, %d warm-up + "
          "%d timed steps each" % (args.size, args.size, args.batch,
                                   args.threads, args.precision, args.warmup,
                                   args.steps))
    print("pytorch (torch %s, torchvision %s, %s): %.3f images/s" %
          (torch.__version__, torchvision.__version__,
           args.peer_memory_format, rate("pytorch")))
    print("labrun (%s): %.3f images/s" % (args.memory_format, rate("labrun")))
    print("ratio labrun / pytorch (median of step pairs): %.2fx" % ratio)


if __name__ == "__main__":
    main()
