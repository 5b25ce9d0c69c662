#!/usr/bin/python3
"""Sums up a Chrome trace written by `bench_ssgrl --trace FILE` (LibTorch's
profiler, one training step): self time per operator (its duration less
that of the operators it called), the largest first.

    /usr/bin/python3 tools/bench/ssgrl/trace_summary.py FILE [--top 25]
"""
import argparse
import collections
import json


def self_times(events):
    """{name: (self microseconds, calls)} over complete ('X') events."""
    totals = collections.defaultdict(lambda: [0.0, 0])
    by_thread = collections.defaultdict(list)
    for event in events:
        if event.get("ph") == "X":
            by_thread[event.get("tid")].append(event)
    for thread in by_thread.values():
        # Parents first: earlier start, then longer duration.
        thread.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
        stack = []  # [end, name, children's time]
        for event in thread:
            start, duration = float(event["ts"]), float(event["dur"])
            while stack and stack[-1][0] <= start:
                end, name, children = stack.pop()
                totals[name][0] -= children
            if stack:
                stack[-1][2] += duration
            totals[event["name"]][0] += duration
            totals[event["name"]][1] += 1
            stack.append([start + duration, event["name"], 0.0])
        while stack:
            end, name, children = stack.pop()
            totals[name][0] -= children
    return totals


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trace")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with open(args.trace) as f:
        data = json.load(f)
    events = data["traceEvents"] if isinstance(data, dict) else data
    totals = self_times(events)
    overall = sum(time for time, _ in totals.values())
    print(f"{'operator':60} {'self s':>8} {'share':>6} {'calls':>6}")
    for name, (time, calls) in sorted(totals.items(),
                                      key=lambda item: -item[1][0])[:args.top]:
        print(f"{name[:60]:60} {time / 1e6:8.3f} {time / overall:6.1%} "
              f"{calls:6d}")
    print(f"{'all':60} {overall / 1e6:8.3f}")


if __name__ == "__main__":
    main()
