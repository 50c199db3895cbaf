#!/usr/bin/env python3
"""Records bench/faults.sh's output: the fault table (and the reconnect
table) between `<!-- faults:results -->` and `<!-- /faults:results -->` in
docs/RELIABILITY.md, and the reconnect table in docs/BENCHMARKS.md under
`<!-- bench:reconnect -->` (through bench/record.py), each under a line
naming the date, the machine, the commit, the build and COMMAND.
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
commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
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
    note = (f"Run: {meta.group(1) if meta else ''}. Real agents (`airlock agent run`, each its own process and "
            "backoff) on loopback; the server is killed with SIGKILL, stays down the time shown, and a new one "
            "starts on the same state directory. \"Back\" is the server's `agent online` log line (Hello "
            "acknowledged) after the new server first accepted a connection.\n\n")
    subprocess.run([str(root / "bench" / "record.py"), "reconnect", command], input=note + reconnect,
                   text=True, check=True)
