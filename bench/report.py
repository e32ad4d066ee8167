"""Regenerate the results table in bench/README.md from one benchmark run.

    python bench/report.py            # every size (minutes)
    python bench/report.py --quick    # the quick sizes only

Runs ``pytest bench`` (pytest-benchmark), collects the per-case medians that the benchmarks
record, and rewrites the block between the RESULTS markers of bench/README.md with the ratios
against the references measured in the same run, the run's notes, the machine, and the
date.
"""

import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile

from conftest import fmt  # the same formatting as the terminal summary

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN, END = "<!-- RESULTS BEGIN -->", "<!-- RESULTS END -->"


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(rows):
    lines = ["| case | size | circuitxbar | reference | ratio | reference measured |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        ours = row["seconds"].get("circuitxbar")
        for name, ref in row["seconds"].items():
            if name == "circuitxbar" or ours is None:
                continue
            size = f"{row['size']}x{row['size']}" if row["size"] else "-"
            per = "" if row["unit"] == "MB" else f" / {row['unit']}"
            lines.append(f"| {row['case']} | {size} | {fmt(ours, row['unit'])}{per} | "
                         f"{fmt(ref, row['unit'])} | {ref / ours:.1f}x | {name} |")
    return "\n".join(lines)


def main(argv):
    quick = "--quick" in argv
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "results.json")
        env = dict(os.environ, CIRCUITXBAR_BENCH_RESULTS=out)
        cmd = [sys.executable, "-m", "pytest", HERE, "-q", "-p", "no:cacheprovider"]
        if not quick:
            cmd.append("--full")
        subprocess.run(cmd, check=True, env=env)
        with open(out) as fh:
            results = json.load(fh)
    # the run's notes (each process of a median, say) go below the table, as in its summary
    notes = "".join(f"\n- {line}" for line in results["notes"])
    block = (f"{BEGIN}\nMeasured {datetime.date.today().isoformat()} on {machine()}; "
             f"{'quick' if quick else 'full'} run of `python bench/report.py`.\n\n"
             f"{table(results['rows'])}\n{notes}\n{END}")
    path = os.path.join(HERE, "README.md")
    text = open(path).read()
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    with open(path, "w") as fh:
        fh.write(text[:start] + block + text[stop:])
    print(block)


if __name__ == "__main__":
    main(sys.argv[1:])
