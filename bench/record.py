#!/usr/bin/env python3
"""Replaces the block between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`
in docs/BENCHMARKS.md with stdin (a harness's tables), adding the block at the
end if it is not there yet. Usage: HARNESS | bench/record.py NAME"""
import re
import sys
from pathlib import Path

name = sys.argv[1]
doc = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"
body = sys.stdin.read().strip()
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
