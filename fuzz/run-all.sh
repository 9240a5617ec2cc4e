#!/usr/bin/env bash
# Runs every fuzz target (or those named after the duration) for SECONDS each, sequentially,
# one libFuzzer job at a time. Corpora grow in fuzz/corpus/<target>, crashes land in
# fuzz/artifacts/<target>/, logs in fuzz/logs/<target>.log.
#   bash fuzz/run-all.sh 600                  # all targets, 10 min each
#   bash fuzz/run-all.sh 60 ws_receiver chunked
set -u
cd "$(dirname "$0")"
secs=${1:-600}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(grep -A1 '^\[\[bin\]\]' Cargo.toml | sed -n 's/^name = "\(.*\)"/\1/p')
fi
[ -d corpus ] || node seeds.js
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O >/dev/null 2>logs.build || { cat logs.build; exit 1; }
mkdir -p logs
bin=target/x86_64-unknown-linux-gnu/release
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  start=$(date +%s)
  "$bin/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" -max_total_time="$secs" -max_len=8192 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"logs/$t.log" 2>&1
  rc=$?
  runs=$(grep -o 'Done [0-9]* runs' "logs/$t.log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "logs/$t.log" | tail -1)
  echo "$t: rc=$rc $(( $(date +%s) - start ))s ${runs:-no Done line} ${cov}"
  [ $rc -eq 0 ] || status=1
done
rm -f logs.build
exit $status
