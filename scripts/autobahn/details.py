#!/usr/bin/env python3
"""For every Autobahn case that is not OK, print what the case does and what the server did,
from the per-case report JSON files. usage: details.py REPORTS_DIR [--max N]"""
import json, os, re, sys, argparse, textwrap
ap = argparse.ArgumentParser()
ap.add_argument("reports"); ap.add_argument("--max", type=int, default=60)
a = ap.parse_args()
index = json.load(open(os.path.join(a.reports, "index.json")))
key = lambda k: [int(x) for x in k.split(".")]
strip = lambda s: re.sub(r"<[^>]+>", "", s or "").strip()
shown = 0
for agent, cases in index.items():
    bad = [c for c in sorted(cases, key=key) if cases[c]["behavior"] != "OK" or cases[c]["behaviorClose"] != "OK"]
    # UNIMPLEMENTED (an extension the server did not negotiate) is summarized by summarize.py.
    bad = [c for c in bad if not (cases[c]["behavior"] == "UNIMPLEMENTED" and cases[c]["behaviorClose"] == "OK")]
    if not bad:
        continue
    print(f"details of the {len(bad)} cases that are not OK (UNIMPLEMENTED aside):")
    for cid in bad:
        if shown >= a.max:
            print(f"  ... {len(bad) - shown} more (see {a.reports}/index.html)"); break
        shown += 1
        v = cases[cid]
        try:
            r = json.load(open(os.path.join(a.reports, v["reportfile"])))
        except (OSError, ValueError, KeyError):
            r = {}
        print(f"- {cid} {v['behavior']} (close {v['behaviorClose']}, remote close code {v.get('remoteCloseCode')})")
        for label, field in (("case", "description"), ("expected", "expectation"),
                             ("result", "result"), ("close", "resultClose")):
            text = strip(r.get(field))
            if text:
                print(textwrap.indent(textwrap.fill(f"{label}: {text}", 110, subsequent_indent="    "), "    "))
