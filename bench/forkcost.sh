#!/bin/bash
# bench/forkcost.sh: the fork() cost curve (table, CSV, JSON, plot) into OUT_DIR.
#   bench/forkcost.sh [BUILD_DIR] [OUT_DIR] [MAX_SIZE] [REPEAT]
#   default: build/, docs/forkcost/, 512M, 5
# Hugetlb rows need a pool of 2 x MAX_SIZE (sudo setup/hugetlb reserve N); they SKIP otherwise.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
out=${2:-$top/docs/forkcost}
max=${3:-512M}
repeat=${4:-5}
mkdir -p "$out"
host=$(uname -r)
"$build/forkpin" forkcost --max-size "$max" --repeat "$repeat" --csv "$out/forkcost-$host.csv" \
	--json "$out/forkcost-$host.json" --plot "$out/forkcost-$host.png" |
	tee "$out/forkcost-$host.txt"
