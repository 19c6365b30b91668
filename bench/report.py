#!/usr/bin/env python3
"""Turns the raw results of bench/run into the table of medians, the ratios and the
targets of issue 8, printed and written as JSON (BENCHMARKS.md copies the table)."""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

MIB = 1 << 20


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def timing(results, name):
    """Median, min and max seconds of one hyperfine case, and its run count."""
    data = load(results / f"{name}.json")
    if data is None:
        return None
    r = data["results"][0]
    times = r["times"]
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": len(times), "command": r["command"]}


def peak_rss_mib(results, name):
    """Peak resident memory of each run (warm-up included), from /usr/bin/time -v."""
    path = results / f"{name}.mem"
    if not path.exists():
        return None
    kib = [int(m) for m in re.findall(r"Maximum resident set size \(kbytes\): (\d+)", path.read_text())]
    return {"max_mib": max(kib) / 1024, "median_mib": statistics.median(kib) / 1024, "runs": len(kib)} if kib else None


def layer_bytes(results, name):
    report = load(results / f"{name}.report.json")
    if report is not None:
        return report["stats"]["new_layer_bytes"], report["stats"]["content_bytes"]
    path = results / f"{name}.layer-bytes"
    if path.exists() and path.read_text().strip():
        return int(path.read_text().strip()), None
    return None, None


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""


def machine(results):
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    load = {}
    for when in ("before", "after"):
        p = results / f"load-{when}.txt"
        if p.exists():
            m = re.search(r"load average: ([\d.]+), ([\d.]+), ([\d.]+)", p.read_text())
            if m:
                load[when] = [float(x) for x in m.groups()]
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / (1 << 20), 1),
        "kernel": platform.release(),
        "load_average": load,
        "versions": {
            "ocicompose_commit": sh("git", "rev-parse", "--short", "HEAD"),
            "umoci": sh("umoci", "--version"),
            "pigz": sh("pigz", "--version") or subprocess.run(["pigz", "--version"], capture_output=True, text=True).stderr.strip(),
            "hyperfine": sh("hyperfine", "--version"),
        },
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--quick", default="0")
    ap.add_argument("--synth-mib", type=int, default=1024)
    ap.add_argument("--workdir", default="")
    ap.add_argument("--command", action="append", default=[])
    args = ap.parse_args()
    R = args.results

    rows = []
    names = [
        ("a", "ocicompose", "a-ocicompose"),
        ("a", "ocicompose, cold cache", "a-ocicompose-cold"),
        ("a", "ocicompose, cold cache, ISA-L build", "a-ocicompose-cold-isal"),
        ("a", "ocicompose, cold cache, zstd base", "a-ocicompose-cold-zstd-base"),
        ("a", "umoci workflow", "a-umoci"),
        ("a", "tar|pigz|sha256sum", "a-pipeline"),
        ("b", "ocicompose", "b-ocicompose"),
        ("b", "umoci workflow", "b-umoci"),
        ("b", "tar|pigz|sha256sum", "b-pipeline"),
        ("b", "ocicompose, ISA-L build", "b-ocicompose-isal"),
        ("b", "ocicompose, zstd level 3", "b-ocicompose-zstd"),
        ("b", "ocicompose, zstd level 3, zstd base and artifact", "b-ocicompose-zstd-in"),
        ("b", "tar|zstd -3|sha256sum", "b-zstd-pipeline"),
        ("b/4", "ocicompose (same files, 1/4 bytes)", "bq-ocicompose"),
        ("c", "ocicompose", "c-ocicompose"),
        ("c", "ocicompose, cold cache", "c-ocicompose-cold"),
        ("c", "ocicompose, cold cache, ISA-L build", "c-ocicompose-cold-isal"),
        ("c", "ocicompose, cold cache, zstd base", "c-ocicompose-cold-zstd-base"),
        ("c", "umoci workflow", "c-umoci"),
    ]
    by_name = {}
    for case, tool, name in names:
        t = timing(R, name)
        if t is None:
            continue
        layer, content = layer_bytes(R, name)
        row = {"case": case, "tool": tool, "name": name, **t, "peak_rss": peak_rss_mib(R, name), "new_layer_bytes": layer, "content_bytes": content}
        rows.append(row)
        by_name[name] = row

    def med(name):
        return by_name[name]["median_s"] if name in by_name else None

    def ratio(a, b):
        return med(a) / med(b) if med(a) is not None and med(b) else None

    ratios = {
        "a_ocicompose_over_umoci": ratio("a-ocicompose", "a-umoci"),
        "a_ocicompose_over_pipeline": ratio("a-ocicompose", "a-pipeline"),
        "b_ocicompose_over_umoci": ratio("b-ocicompose", "b-umoci"),
        "b_ocicompose_over_pipeline": ratio("b-ocicompose", "b-pipeline"),
        "c_ocicompose_over_umoci": ratio("c-ocicompose", "c-umoci"),
        "c_over_a": ratio("c-ocicompose", "a-ocicompose"),
        "c_over_a_cold_cache": ratio("c-ocicompose-cold", "a-ocicompose-cold"),
        "b_zstd_over_b_gzip6": ratio("b-ocicompose-zstd", "b-ocicompose"),
        "b_zstd_over_zstd_pipeline": ratio("b-ocicompose-zstd", "b-zstd-pipeline"),
        "b_zstd_in_over_zstd_pipeline": ratio("b-ocicompose-zstd-in", "b-zstd-pipeline"),
        "b_isal_over_pipeline": ratio("b-ocicompose-isal", "b-pipeline"),
        "a_cold_zstd_base_over_gzip_base": ratio("a-ocicompose-cold-zstd-base", "a-ocicompose-cold"),
        "c_cold_over_umoci": ratio("c-ocicompose-cold", "c-umoci"),
        "c_cold_isal_over_umoci": ratio("c-ocicompose-cold-isal", "c-umoci"),
        "c_cold_zstd_base_over_umoci": ratio("c-ocicompose-cold-zstd-base", "c-umoci"),
    }
    floor = {k: load(R / f"floor-{k}.json") for k in ("c", "c-zstd")}
    floor_s = {
        "c_gzip_zlib_rs": floor["c"]["seconds"]["zlib_rs_or_zstd"] if floor["c"] else None,
        "c_gzip_isal": floor["c"]["seconds"]["isal_or_zstd"] if floor["c"] else None,
        "c_zstd": floor["c-zstd"]["seconds"]["zlib_rs_or_zstd"] if floor["c-zstd"] else None,
    }

    def over_floor(name, key):
        return med(name) / floor_s[key] if med(name) is not None and floor_s[key] else None

    floor_ratios = {
        "c_cold_over_its_floor (zlib-rs)": over_floor("c-ocicompose-cold", "c_gzip_zlib_rs"),
        "c_cold_isal_over_its_floor (ISA-L)": over_floor("c-ocicompose-cold-isal", "c_gzip_isal"),
        "c_cold_zstd_base_over_its_floor (zstd)": over_floor("c-ocicompose-cold-zstd-base", "c_zstd"),
    }
    hashing = load(R / "hash.json")
    mem_b = by_name.get("b-ocicompose", {}).get("peak_rss")
    mem_bq = by_name.get("bq-ocicompose", {}).get("peak_rss")
    mem_bz = by_name.get("b-ocicompose-zstd", {}).get("peak_rss")

    def target(name, value, limit, better, unit=""):
        met = None if value is None else (value <= limit if better == "<=" else value >= limit)
        return {"target": name, "value": value, "limit": limit, "want": better, "unit": unit, "met": met}

    per_core_all = None
    if hashing:
        g = hashing["gb_per_s"]
        per_core_all = g["memory_all_cores"] / hashing["threads"]
    targets = [
        target("a: ocicompose/umoci (>= 4x faster)", ratios["a_ocicompose_over_umoci"], 0.25, "<="),
        target("b: ocicompose/umoci (>= 1.5x faster)", ratios["b_ocicompose_over_umoci"], 1 / 1.5, "<="),
        target("b: ocicompose/pipeline", ratios["b_ocicompose_over_pipeline"], 0.8, "<="),
        target("c/a (warm index cache)", ratios["c_over_a"], 1.2, "<="),
        target("sha256, one core, GB/s", hashing["gb_per_s"]["memory_one_core"] if hashing else None, 1.5, ">=", "GB/s"),
        target("sha256, all cores, GB/s per core", per_core_all, 1.5, ">=", "GB/s"),
        target("b: peak memory, MiB", mem_b["max_mib"] if mem_b else None, 64, "<=", "MiB"),
        target("b vs b/4 (4x the bytes): peak memory growth, MiB", (mem_b["max_mib"] - mem_bq["max_mib"]) if mem_b and mem_bq else None, 8, "<=", "MiB"),
        # issue 15: zstd, cold reads, and the gzip targets with a margin
        target("b zstd-3 / b gzip-6", ratios["b_zstd_over_b_gzip6"], 0.45, "<="),
        target("b zstd-3 / tar|zstd -3 pipeline", ratios["b_zstd_over_zstd_pipeline"], 1.0, "<="),
        target("b zstd-3 from zstd inputs / tar|zstd -3 pipeline", ratios["b_zstd_in_over_zstd_pipeline"], 1.0, "<="),
        target("b zstd: peak memory, MiB", mem_bz["max_mib"] if mem_bz else None, 64, "<=", "MiB"),
        target("a cold: zstd base / gzip base", ratios["a_cold_zstd_base_over_gzip_base"], 1.0, "<="),
        target("c cold from gzip, ISA-L build / umoci", ratios["c_cold_isal_over_umoci"], 1.5, "<="),
        target("c cold from gzip, default build / umoci", ratios["c_cold_over_umoci"], 1.5, "<="),
        target("c cold from zstd base / umoci", ratios["c_cold_zstd_base_over_umoci"], 1.0, "<="),
        target("b: ocicompose/pipeline (aim, margin)", ratios["b_ocicompose_over_pipeline"], 0.75, "<="),
        target("b: peak memory, MiB (aim, margin)", mem_b["max_mib"] if mem_b else None, 56, "<=", "MiB"),
    ]

    out = {
        "quick": args.quick == "1",
        "synthetic_artifact_mib": args.synth_mib,
        "machine": machine(R),
        "commands": dict(c.split("=", 1) for c in args.command),
        "cases": rows,
        "ratios": ratios,
        "sha256": hashing,
        "targets": targets,
        "floor_seconds": floor_s,
        "over_floor": floor_ratios,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")

    m = out["machine"]
    print(f"\nmachine: {m['nproc']} cores, {m['cpu']}, {m['memory_gib']} GiB; load before {m['load_average'].get('before')}, after {m['load_average'].get('after')}")
    if out["quick"]:
        print("QUICK RUN (small artifact, 2 runs): checks the harness, the numbers are not a result")
    print(f"\n| case | tool | median s | min s | max s | runs | peak RSS MiB | new layer MiB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        rss = f"{r['peak_rss']['max_mib']:.1f}" if r["peak_rss"] else ""
        layer = f"{r['new_layer_bytes'] / MIB:.1f}" if r["new_layer_bytes"] else ""
        print(f"| {r['case']} | {r['tool']} | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['max_s']:.3f} | {r['runs']} | {rss} | {layer} |")
    print("\n| ratio of medians | value |")
    print("|---|---:|")
    for k, v in ratios.items():
        print(f"| {k} | {'' if v is None else f'{v:.3f}'} |")
    if hashing:
        g = hashing["gb_per_s"]
        print(f"\nsha256 over {hashing['blobs']} layer blobs ({hashing['bytes'] / 1e9:.2f} GB), SHA extensions: {hashing['sha_extensions']}, {hashing['threads']} threads")
        for k, v in g.items():
            print(f"  {k}: {v:.2f} GB/s")
    print("\n| cold read floor (base10: read, hash, inflate, one layer per core) | s |")
    print("|---|---:|")
    for k, v in floor_s.items():
        print(f"| {k} | {'' if v is None else f'{v:.3f}'} |")
    print("\n| cold compose / its floor | value |")
    print("|---|---:|")
    for k, v in floor_ratios.items():
        print(f"| {k} | {'' if v is None else f'{v:.3f}'} |")
    print("\n| target | value | limit | met |")
    print("|---|---:|---:|---|")
    for t in targets:
        v = "" if t["value"] is None else f"{t['value']:.3f}"
        met = {True: "yes", False: "NO", None: "not measured"}[t["met"]]
        print(f"| {t['target']} | {v} | {t['want']} {t['limit']:.3g} | {met} |")
    print(f"\nwritten: {os.path.relpath(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
