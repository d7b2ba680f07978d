#!/usr/bin/env python3
"""Sums an `ncu --csv --metrics gpu__time_duration.sum` log per kernel name.

Usage: kernel-times.py NCU_CSV [TOP]. Prints, per kernel name (templates cut at the first
'<' or '(') and launch shape, the launches, the total and mean time, and the share of the whole: where the
GPU time of a captured window (e.g. one decode step) goes.
"""
import csv
import sys
from collections import defaultdict


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    with open(path, newline="") as f:
        lines = [l for l in f if l.startswith('"')]  # ncu's own notes are not CSV
    total = defaultdict(float)
    count = defaultdict(int)
    for row in csv.DictReader(lines):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        name = row["Kernel Name"]
        for cut in ("<", "("):
            name = name.split(cut)[0]
        name += " grid" + row["Grid Size"] + " block" + row["Block Size"]
        unit = row["Metric Unit"]
        scale = {"ns": 1e-3, "nsecond": 1e-3, "us": 1.0, "usecond": 1.0, "ms": 1e3, "msecond": 1e3}[unit]
        total[name] += float(row["Metric Value"].replace(",", "")) * scale
        count[name] += 1
    whole = sum(total.values())
    print(f"{sum(count.values())} launches, {whole:.1f} us of kernel time")
    for name, t in sorted(total.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{count[name]:6d} {t:10.1f} us {t / count[name]:8.2f} us/launch "
              f"{100 * t / whole:5.1f}%  {name}")


if __name__ == "__main__":
    main()
