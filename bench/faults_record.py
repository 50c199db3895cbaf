#!/usr/bin/env python3
"""Records bench/faults.sh's output: the fault table (and the reconnect
table) between `<!-- faults:results -->` and `<!-- /faults:results -->` in
docs/RELIABILITY.md, and the reconnect table in docs/BENCHMARKS.md under
`<!-- bench:reconnect -->` (in bench/record.py's format), each under a line
naming the date, the machine, the commit (FAULTS_COMMIT, else HEAD), the build
and COMMAND.
Usage: bench/faults_record.py FAULTS_MD COMMAND"""
import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

src, command = Path(sys.argv[1]).read_text(), sys.argv[2]
root = Path(__file__).resolve().parent.parent
meta = re.search(r"<!-- (took .*?) -->", src)
sections = dict(re.findall(r"^## (\w+)\n(.*?)(?=^## |\Z)", src, re.S | re.M))
faults, reconnect = sections.get("faults", "").strip(), sections.get("reconnect", "").strip()
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
# The commit the binary was built from (FAULTS_COMMIT), else HEAD: others may commit during a run.
commit = os.environ.get("FAULTS_COMMIT") or subprocess.run(
    ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
build = "release build" if "release build" in (meta.group(1) if meta else "") else "debug build"
header = (f"Recorded {datetime.date.today()} on {cpu}, {os.cpu_count()} cores, commit {commit}, "
          f"by `{command}` ({meta.group(1) if meta else 'no run metadata'}).")
body = header + "\n\n" + faults
if reconnect:
    body += "\n\nAgents back after successive server restarts (kill -9, then a new server on the same state directory):\n\n" + reconnect
doc = root / "docs" / "RELIABILITY.md"
text = doc.read_text()
start, end = "<!-- faults:results -->", "<!-- /faults:results -->"
pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
block = f"{start}\n{body}\n{end}"
text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + f"\n\n{block}\n"
doc.write_text(text)
print(f"recorded the fault table in {doc}")
if reconnect:
    # The same block bench/record.py writes, with this run's commit and build.
    bench = root / "docs" / "BENCHMARKS.md"
    text = bench.read_text()
    start, end = "<!-- bench:reconnect -->", "<!-- /bench:reconnect -->"
    body = (f"Recorded {datetime.date.today()} on {cpu}, {os.cpu_count()} cores, commit {commit}, {build}, "
            f"by `{command}`.\n\n" + reconnect)
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    block = f"{start}\n{body}\n{end}"
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + f"\n\n{block}\n"
    bench.write_text(text)
    print(f"recorded the reconnect table in {bench}")
