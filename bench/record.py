#!/usr/bin/env python3
"""Replaces the block between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`
in docs/BENCHMARKS.md with stdin (a harness's tables) under a line naming the
date, the machine, the commit and COMMAND, adding the block at the end if it is
not there yet. Usage: HARNESS | bench/record.py NAME COMMAND"""
import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

name, command = sys.argv[1], sys.argv[2]
root = Path(__file__).resolve().parent.parent
doc = root / "docs" / "BENCHMARKS.md"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
header = (f"Recorded {datetime.date.today()} on {cpu}, {os.cpu_count()} cores, "
          f"commit {commit}, release build, by `{command}`.")
body = header + "\n\n" + sys.stdin.read().strip()
text = doc.read_text()
start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
block = f"{start}\n{body}\n{end}"
pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
if pattern.search(text):
    text = pattern.sub(lambda _: block, text)
else:
    text = text.rstrip() + f"\n\n### Latest `make bench` run: {name}\n\n{block}\n"
doc.write_text(text)
print(f"recorded {name} in {doc}")
