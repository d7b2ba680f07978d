#!/usr/bin/env python3
"""Prints the dtype promotion table of docs/DTYPES.md from its written rules.

This is an independent statement of the rules; tests/core/test_dtype.cpp checks
emily::promote against the table in the docs, so code, docs and rules must agree.
"""
NAMES = ["bool", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64",
         "f16", "bf16", "f32", "f64", "c64"]
SIZE = {"bool": 1, "u8": 1, "u16": 2, "u32": 4, "u64": 8, "s8": 1, "s16": 2, "s32": 4,
        "s64": 8, "f16": 2, "bf16": 2, "f32": 4, "f64": 8, "c64": 8}


def kind(n):
    return {"bool": "b", "bf16": "f"}.get(n, n[0])


def promote(a, b):
    if a == b:
        return a
    ka, kb = kind(a), kind(b)
    if ka == "b":
        return b
    if kb == "b":
        return a
    if "c" in (ka, kb):
        return "c64"
    if ka == "f" and kb == "f":
        if {a, b} == {"f16", "bf16"}:
            return "f32"
        return a if SIZE[a] > SIZE[b] else b
    if ka == "f":
        return a
    if kb == "f":
        return b
    if ka == kb:
        return a if SIZE[a] > SIZE[b] else b
    u, s = (a, b) if ka == "u" else (b, a)
    if SIZE[s] > SIZE[u]:
        return s
    return "s" + str(min(8, 2 * SIZE[u]) * 8)


if __name__ == "__main__":
    print("| | " + " | ".join(NAMES) + " |")
    print("|" + "---|" * (len(NAMES) + 1))
    for a in NAMES:
        print("| **" + a + "** | " + " | ".join(promote(a, b) for b in NAMES) + " |")
