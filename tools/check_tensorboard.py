#!/usr/bin/env python3
"""Check that TensorBoard reads the scalars in strand's event files.

Usage (on a machine with the tensorboard package installed):

    python3 tools/check_tensorboard.py DIR

DIR holds events.out.tfevents.* files written by strand's TensorBoard sink (a file path works too). They are
loaded with TensorBoard's own EventAccumulator, keeping every scalar, and each scalar tag is printed with its
number of points and its first and last (step, value):

    train/loss  points=100  first=(1, 10.8)  last=(100, 2.31)

The last line printed is `tensorboard: OK <n> tags, <m> points` or `tensorboard: FAIL ...`; the exit status is 1
when no scalar was read.
"""

import argparse
import os
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="directory holding the event files (or one event file)")
    args = parser.parse_args()

    from tensorboard.backend.event_processing import event_accumulator as ea

    if not os.path.exists(args.dir):
        print(f"tensorboard: FAIL {args.dir} does not exist")
        return 1
    acc = ea.EventAccumulator(args.dir, size_guidance={ea.SCALARS: 0})  # 0: keep every point
    acc.Reload()

    tags = sorted(acc.Tags()[ea.SCALARS])
    points = 0
    for tag in tags:
        events = acc.Scalars(tag)
        points += len(events)
        first, last = events[0], events[-1]
        print(
            f"{tag}  points={len(events)}  first=({first.step}, {first.value:.6g})  "
            f"last=({last.step}, {last.value:.6g})"
        )
    if points == 0:
        print(f"tensorboard: FAIL no scalars read from {args.dir}")
        return 1
    print(f"tensorboard: OK {len(tags)} tags, {points} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
