"""Oracle for tests/ini_differential.rs: reads one JSON string (INI text) per
line on stdin, parses it with ConfigParser(inline_comment_prefixes=("#", ";"))
as a file opened in text mode would (universal newlines), and writes one JSON
result per line on stdout."""
import configparser
import io
import json
import sys


def value(p, s, k):
    try:
        return {"ok": p.get(s, k)}
    except configparser.Error as e:
        return {"err": type(e).__name__}


def run(text):
    p = configparser.ConfigParser(inline_comment_prefixes=("#", ";"))
    try:
        p.read_file(io.StringIO(text, newline=None), "<case>")
    except configparser.Error as e:
        return {"error": type(e).__name__}
    defaults = [[k, p._defaults[k], value(p, "DEFAULT", k)] for k in p._defaults]
    sections = []
    for s in p.sections():
        own = list(p._sections[s].keys())
        sections.append({
            "name": s,
            "own": [[k, p._sections[s][k]] for k in own],
            "values": [[k, value(p, s, k)] for k in p.options(s)],
        })
    return {"defaults": defaults, "sections": sections}


for line in sys.stdin:
    sys.stdout.write(json.dumps(run(json.loads(line))) + "\n")
    sys.stdout.flush()
