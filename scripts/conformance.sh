#!/usr/bin/env bash
# WebSocket conformance: runs the Autobahn|Testsuite fuzzingclient against the uws-rs echo server
# (scripts/autobahn-server.js). Builds nothing: expects uws_rs.node to be built (npm install / npm run build).
# usage: scripts/conformance.sh [fast|full]    (npm run conformance [-- full])
#   fast  ~420 cases, skips the slowest permessage-deflate cases (12.*.11-18, 13.*.11-18)
#   full  all 517 cases
# Exits 1 if any case FAILED (or the server crashed), 0 otherwise; exits 0 with "SKIPPED" when there
# is no Python 2.7 for the fuzzer.
# Env: AUTOBAHN_DIR (the Autobahn scripts; default scripts/autobahn, else ../shared/autobahn),
#      CONFORMANCE_OUT (reports; default target/conformance-MODE), AUTOBAHN_DEFLATE=0 (no deflate).
set -euo pipefail
MODE=${1:-fast}
case $MODE in fast|full) ;; *) echo "usage: $0 [fast|full]" >&2; exit 2 ;; esac
REPO=$(cd "$(dirname "$0")/.." && pwd)

AB=${AUTOBAHN_DIR:-}
if [[ -z $AB ]]; then
  for d in "$REPO/scripts/autobahn" "$(dirname "$REPO")/shared/autobahn"; do
    [[ -x $d/run.sh ]] && { AB=$d; break; }
  done
fi
[[ -n $AB && -x $AB/run.sh ]] || { echo "conformance: Autobahn scripts not found (scripts/autobahn or ../shared/autobahn; set AUTOBAHN_DIR)" >&2; exit 1; }
[[ -f $REPO/uws_rs.node ]] || { echo "conformance: $REPO/uws_rs.node is missing: run \`npm run build\` first" >&2; exit 1; }
command -v python3 >/dev/null || { echo "conformance: SKIPPED (python3 is needed to summarize the reports)"; exit 0; }

# The fuzzer needs Python 2.7: setup.sh builds (or reuses) its virtualenv and exits 3 without one.
set +e
WSTEST=$("$AB/setup.sh" 2>"${TMPDIR:-/tmp}/conformance-setup.$$.log")
rc=$?
set -e
if [[ $rc -eq 3 ]]; then
  echo "conformance: SKIPPED: no Python 2.7 interpreter found (Autobahn|Testsuite runs on Python 2.7 only; set PY27=/path/to/python2.7)"
  rm -f "${TMPDIR:-/tmp}/conformance-setup.$$.log"; exit 0
elif [[ $rc -ne 0 ]]; then
  cat "${TMPDIR:-/tmp}/conformance-setup.$$.log" >&2
  echo "conformance: installing the Autobahn testsuite failed (exit $rc)" >&2; exit 1
fi
rm -f "${TMPDIR:-/tmp}/conformance-setup.$$.log"

OUT=${CONFORMANCE_OUT:-$REPO/target/conformance-$MODE}
rm -rf "$OUT"; mkdir -p "$OUT"
SERVER_LOG=$OUT/server.log
PORT=0 node "$REPO/scripts/autobahn-server.js" >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true' EXIT
PORT=
for _ in $(seq 100); do
  PORT=$(sed -n 's/^listening on \([0-9]*\)$/\1/p' "$SERVER_LOG")
  [[ -n $PORT ]] && break
  kill -0 $SERVER_PID 2>/dev/null || break
  sleep 0.1
done
if [[ -z $PORT ]]; then cat "$SERVER_LOG" >&2; echo "conformance: the echo server did not start" >&2; exit 1; fi

echo "conformance: Autobahn $MODE against ws://127.0.0.1:$PORT (uws-rs echo server, pid $SERVER_PID); reports in $OUT"
start=$(date +%s)
set +e
timeout "${CONFORMANCE_TIMEOUT:-1800}" "$AB/run.sh" "ws://127.0.0.1:$PORT" "$MODE" "$OUT"
rc=$?
set -e
echo "conformance: fuzzer finished in $(( $(date +%s) - start )) s"

if ! kill -0 $SERVER_PID 2>/dev/null; then
  echo "conformance: FAIL: the echo server died during the run; its output:" >&2
  tail -50 "$SERVER_LOG" >&2
  exit 1
fi
if [[ -s $SERVER_LOG && $(wc -l <"$SERVER_LOG") -gt 1 ]]; then
  echo "conformance: echo server output (first 20 lines):"; sed -n '2,21p' "$SERVER_LOG"
fi
if [[ -f $OUT/reports/index.json && -f $REPO/scripts/autobahn/details.py ]]; then
  python3 "$REPO/scripts/autobahn/details.py" "$OUT/reports" || true
fi
if [[ $rc -eq 124 ]]; then echo "conformance: FAIL: timed out" >&2; exit 1; fi
if [[ $rc -ne 0 && ! -f $OUT/reports/index.json ]]; then
  echo "conformance: FAIL: the fuzzer did not produce a report (exit $rc); last lines of its log:" >&2
  tail -30 "$OUT/wstest.log" >&2 || true
fi
exit $rc
