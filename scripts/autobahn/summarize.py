#!/usr/bin/env python3
"""Summarize an Autobahn fuzzingclient report (reports/servers/index.json).
Exit 1 if any case has behavior FAILED (or UNIMPLEMENTED when --no-unimpl),
optionally ignoring case-id prefixes given with --allow 9.3. --allow 9.4. ...
(uws-rs copy of /work/shared/autobahn/summarize.py: UNIMPLEMENTED cases are listed as one line per group.)"""
import json, sys, collections, argparse
ap = argparse.ArgumentParser()
ap.add_argument("index"); ap.add_argument("--allow", nargs="*", default=[])
ap.add_argument("--no-unimpl", action="store_true")
a = ap.parse_args()
d = json.load(open(a.index))
bad_kinds = {"FAILED"} | ({"UNIMPLEMENTED"} if a.no_unimpl else set())
rc = 0
key = lambda k: [int(x) for x in k.split(".")]
for agent, cases in d.items():
    beh = collections.Counter(v["behavior"] for v in cases.values())
    clo = collections.Counter(v["behaviorClose"] for v in cases.values())
    print(f"{agent}: {len(cases)} cases; behavior {dict(beh)}; close {dict(clo)}")
    unimpl = collections.Counter()
    for cid in sorted(cases, key=key):
        v = cases[cid]
        if v["behavior"] == "UNIMPLEMENTED" and v["behaviorClose"] == "OK" and not a.no_unimpl:
            unimpl[".".join(cid.split(".")[:2]) + ".*"] += 1
            continue
        if v["behavior"] != "OK" or v["behaviorClose"] != "OK":
            allowed = any(cid.startswith(p) for p in a.allow)
            flag = "" if allowed or (v["behavior"] not in bad_kinds and v["behaviorClose"] not in bad_kinds) else "  <-- counts as failure"
            print(f"  {cid:8} {v['behavior']:14} close={v['behaviorClose']:14} remoteCloseCode={v.get('remoteCloseCode')} {v['duration']}ms{flag}")
            if flag: rc = 1
    if unimpl:
        print(f"  UNIMPLEMENTED ({sum(unimpl.values())} cases; 12.* and 13.* mean permessage-deflate was not negotiated): "
              + ", ".join(f"{g} ({n})" for g, n in unimpl.items()))
print("FINAL:", "PASS" if rc == 0 else "FAIL")
sys.exit(rc)
