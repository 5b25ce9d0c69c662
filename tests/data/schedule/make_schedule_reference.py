"""Learning rates of PyTorch's own schedulers, step by step, for the
schedules labrun says it follows (runner/src/train/LrSchedule.h): 100
optimizer steps, 10 per epoch, a base lr of 0.1.

Run with Debian's python3-torch:
    /usr/bin/python3 tests/data/schedule/make_schedule_reference.py
writes schedule_reference.json beside this file.
"""
import json
import pathlib

import torch

BASE = 0.1
STEPS = 100
PER_EPOCH = 10


def optimizer():
    weight = torch.nn.Parameter(torch.zeros(1))
    # momentum 0 and no cycling: only the learning rate is compared.
    return torch.optim.SGD([weight], lr=BASE)


def per_step(make, stepped_per="step"):
    """The lr in effect at each optimizer step 0..STEPS-1."""
    opt = optimizer()
    scheduler = make(opt)
    rates = []
    for step in range(STEPS):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        if stepped_per == "step" or (step + 1) % PER_EPOCH == 0:
            scheduler.step()
    return rates


def plateau(values):
    """The lr after each epoch's evaluation (ReduceLROnPlateau, rel mode)."""
    opt = optimizer()
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="max", factor=0.1, patience=2, threshold=1e-4)
    rates = []
    for value in values:
        scheduler.step(value)
        rates.append(opt.param_groups[0]["lr"])
    return rates


sched = torch.optim.lr_scheduler
plateau_values = [50.0, 60.0, 59.0, 60.001, 58.0, 61.0, 60.0, 60.0, 60.0,
                  62.0, 62.0, 61.0, 61.5, 61.9]
reference = {
    "base_lr": BASE,
    "steps": STEPS,
    "steps_per_epoch": PER_EPOCH,
    "torch": torch.__version__,
    "step": per_step(lambda o: sched.StepLR(o, step_size=2, gamma=0.1),
                     stepped_per="epoch"),
    "multistep": per_step(
        lambda o: sched.MultiStepLR(o, milestones=[3, 5], gamma=0.5),
        stepped_per="epoch"),
    "cosine": per_step(
        lambda o: sched.CosineAnnealingLR(o, T_max=STEPS, eta_min=0.2 * BASE)),
    "onecycle": per_step(lambda o: sched.OneCycleLR(
        o, max_lr=BASE, total_steps=STEPS, pct_start=0.3, div_factor=25.0,
        final_div_factor=1e4, anneal_strategy="cos", cycle_momentum=False)),
    "warmup": per_step(lambda o: sched.LinearLR(
        o, start_factor=0.01, end_factor=1.0, total_iters=7)),
    "plateau_values": plateau_values,
    "plateau": plateau(plateau_values),
}
out = pathlib.Path(__file__).with_name("schedule_reference.json")
out.write_text(json.dumps(reference, indent=1) + "\n")
print(f"wrote {out}")
