#!/usr/bin/env bash
# Build flash-attn from its PyPI sdist on the GPU machine and time it (bench/flash_attn_build.md says why).
# Subcommands (chain them in one device call):
#   info                                    print the machine: cores, memory, nvcc, gcc, torch
#   launch LABEL ARCHS MAX_JOBS NVCC_THREADS start a build in the background (setsid), log under /tmp/fa-LABEL
#   wait LABEL SECONDS                      wait for that build, printing progress every 20 s
#   check LABEL                             install the wheel into /tmp/site-LABEL, compare with PyTorch SDPA
#   collect LABEL                           copy the result, the memory samples and the log tail to $OUT
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SDIST=${SDIST:-$HERE/flash_attn-2.8.3.post2.tar.gz}
PY=${PY:-python3}

info() {
  echo "== machine"; nproc; grep -E 'MemTotal|MemAvailable' /proc/meminfo
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader
  (command -v nvcc && nvcc --version | tail -2) || echo "no nvcc on PATH; /usr/local/cuda/bin/nvcc: $(/usr/local/cuda/bin/nvcc --version 2>/dev/null | tail -1)"
  (gcc --version | head -1) || echo "no gcc"
  command -v /usr/bin/time || echo "no /usr/bin/time"
  $PY -c 'import torch,sys;print("python",sys.version.split()[0],"torch",torch.__version__,"cuda",torch.version.cuda,"abi",torch._C._GLIBCXX_USE_CXX11_ABI)'
  $PY -m pip --version
  $PY -c 'import setuptools,wheel,packaging,psutil,ninja;print("setuptools",setuptools.__version__,"wheel",wheel.__version__,"packaging",packaging.__version__,"psutil",psutil.__version__,"ninja",ninja.__version__)'
}

launch() {
  local label=$1 archs=$2 jobs=$3 threads=$4 d=/tmp/fa-$1
  rm -rf "$d"; mkdir -p "$d/wheel"
  tar xzf "$SDIST" -C "$d"
  local src; src=$(ls -d "$d"/flash_attn-*/)
  cat >"$d/run.sh" <<RUN
#!/usr/bin/env bash
cd "$src"
( while [ ! -e "$d/done" ]; do
    echo "\$(date +%s) \$(awk '/MemTotal/{t=\$2}/MemAvailable/{a=\$2}END{print t-a, t}' /proc/meminfo) \$(pgrep -c cicc) \$(pgrep -c ptxas)"
    sleep 1
  done ) >"$d/mem.log" 2>/dev/null &
start=\$(date +%s.%N)
env FLASH_ATTENTION_FORCE_BUILD=TRUE FLASH_ATTN_CUDA_ARCHS="$archs" MAX_JOBS="$jobs" NVCC_THREADS="$threads" \
  $PY -m pip wheel --no-build-isolation --no-deps --no-cache-dir -v . -w "$d/wheel" >"$d/build.log" 2>&1
rc=\$?
end=\$(date +%s.%N)
echo "{\"label\": \"$label\", \"archs\": \"$archs\", \"max_jobs\": $jobs, \"nvcc_threads\": $threads, \"rc\": \$rc, \"start\": \$start, \"end\": \$end, \"wall_s\": \$(awk "BEGIN{print \$end - \$start}")}" >"$d/result.json"
touch "$d/done"
RUN
  chmod +x "$d/run.sh"
  setsid nohup "$d/run.sh" >"$d/run.out" 2>&1 < /dev/null &
  echo "launched $label archs=$archs MAX_JOBS=$jobs NVCC_THREADS=$threads at $(date +%s)"
}

progress() {
  local d=/tmp/fa-$1
  local step; step=$(grep -aoE '\[[0-9]+/[0-9]+\]' "$d/build.log" 2>/dev/null | tail -1)
  local mem; mem=$(tail -1 "$d/mem.log" 2>/dev/null)
  local peak; peak=$(awk 'BEGIN{m=0}{if($2>m)m=$2}END{printf "%.1f", m/1048576}' "$d/mem.log" 2>/dev/null)
  echo "$(date +%T) $1 step=${step:-none} mem_used_kib/total/cicc/ptxas=[$mem] peak_used_gib=$peak"
}

wait_build() {
  local label=$1 secs=$2 d=/tmp/fa-$1 t=0
  while [ ! -e "$d/done" ] && [ "$t" -lt "$secs" ]; do
    sleep 5; t=$((t + 5))
    [ $((t % 20)) -eq 0 ] && progress "$label"
  done
  if [ -e "$d/done" ]; then cat "$d/result.json"; tail -3 "$d/build.log"; ls -la "$d/wheel"; else echo "still running: $label"; fi
}

check() {
  local d=/tmp/fa-$1
  rm -rf /tmp/site-$1
  $PY -m pip install -q --no-deps --no-index --target /tmp/site-$1 "$d"/wheel/flash_attn-*.whl || return 1
  PYTHONPATH=/tmp/site-$1 $PY "$HERE/fa_check.py" | tee "$d/check.txt"
}

collect() {
  local d=/tmp/fa-$1
  [ -n "${OUT:-}" ] || return 0
  cp "$d/result.json" "$OUT/$1-result.json" 2>/dev/null
  gzip -c "$d/mem.log" >"$OUT/$1-mem.log.gz" 2>/dev/null
  (grep -aE 'Time|Maximum resident|MAX_JOBS|gencode' "$d/build.log" | head -5; tail -40 "$d/build.log") >"$OUT/$1-build-tail.log" 2>/dev/null
  cp "$d/check.txt" "$OUT/$1-check.txt" 2>/dev/null
  true
}

cmd=$1; shift
case $cmd in
  info) info ;;
  launch) launch "$@" ;;
  wait) wait_build "$@" ;;
  progress) progress "$@" ;;
  check) check "$@" ;;
  collect) collect "$@" ;;
  *) echo "unknown: $cmd"; exit 2 ;;
esac
