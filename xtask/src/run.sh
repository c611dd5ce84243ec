#!/usr/bin/env bash
# Runs the GPU tests (or benches) of this bundle; made by `cargo xtask gpu-bundle`.
# Needs no Rust: an NVIDIA driver, and NVRTC 13 findable by the dynamic loader.
#
# usage: ./run.sh [--sanitize] [--bench] [LOG_DIR] [-- ARGS...]
#   (default)   every test executable in tests/ with --ignored --test-threads=1
#   --sanitize  then each again under compute-sanitizer --tool memcheck and --tool racecheck
#   --bench     instead of the tests, every bench executable in benches/ with --bench
#   LOG_DIR     where each run's stdout+stderr goes (default ./logs)
#   ARGS        passed on to every executable (e.g. a test-name filter)
# Exits non-zero if any run fails, after a summary of all of them.
set -u

here=$(cd "$(dirname "$0")" && pwd)
sanitize=0 bench=0 logdir=./logs extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) sanitize=1 ;;
    --bench) bench=1 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) logdir=$1 ;;
  esac
  shift
done
mkdir -p "$logdir" && logdir=$(cd "$logdir" && pwd) || exit 2

# NVRTC may sit outside the loader's default path; a CUDA toolkit's lib folder is a fine fallback.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
done
export LD_LIBRARY_PATH RUST_BACKTRACE=1
if [ "$sanitize" = 1 ] && ! command -v compute-sanitizer >/dev/null; then
  [ -x /usr/local/cuda/bin/compute-sanitizer ] && PATH="$PATH:/usr/local/cuda/bin"
  command -v compute-sanitizer >/dev/null || { echo "run.sh: compute-sanitizer not found" >&2; exit 2; }
fi
{ nvidia-smi; echo; uname -a; } >"$logdir/system.txt" 2>&1

results=() failed=0
# run LABEL LOG COMMAND...: runs COMMAND with its output in LOG and records the outcome.
run() {
  local label=$1 log=$2; shift 2
  local start=$SECONDS status verdict counts
  "$@" >"$log" 2>&1
  status=$?
  counts=$(grep -h '^test result:' "$log" | sed 's/^test result: //; s/; finished.*//' | paste -sd'|' -)
  if [ $status -eq 0 ]; then verdict=PASS; else verdict="FAIL($status)"; failed=$((failed + 1)); fi
  results+=("$(printf '%-9s %-48s %4ss  %s' "$verdict" "$label" $((SECONDS - start)) "$counts")")
  printf '%-9s %s\n' "$verdict" "$label"
}

if [ "$bench" = 1 ]; then
  for exe in "$here"/benches/*; do
    [ -x "$exe" ] || continue
    name=$(basename "$exe")
    run "$name (bench)" "$logdir/$name.bench.log" "$exe" --bench ${extra[@]+"${extra[@]}"}
  done
else
  for exe in "$here"/tests/*; do
    [ -x "$exe" ] || continue
    name=$(basename "$exe")
    run "$name" "$logdir/$name.log" "$exe" --ignored --test-threads=1 ${extra[@]+"${extra[@]}"}
    if [ "$sanitize" = 1 ]; then
      for tool in memcheck racecheck; do
        run "$name ($tool)" "$logdir/$name.$tool.log" \
          compute-sanitizer --tool "$tool" --error-exitcode 1 \
          "$exe" --ignored --test-threads=1 ${extra[@]+"${extra[@]}"}
      done
    fi
  done
fi

echo
echo "== summary (logs in $logdir) =="
[ ${#results[@]} -gt 0 ] && printf '%s\n' "${results[@]}"
echo "${#results[@]} runs, $failed failed"
[ ${#results[@]} -gt 0 ] || { echo "run.sh: nothing to run" >&2; exit 1; }
[ "$failed" -eq 0 ]
