#!/bin/bash
# bench/kernel-build.sh: how long setup/kernel/build takes: a cold build of `stock` (source
# package already downloaded: unpack, configure, compile) and the rebuild of the
# `no-early-cow` mutant on top of it, in a throw-away cache so the real one is untouched.
# Usage: bench/kernel-build.sh [--jobs N]   (default: all CPUs; the build runs niced)
# Prints one line per build: seconds, and the machine's load average at the start (a shared
# machine's load stretches the figures; compare runs at similar load).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
jobs=(--jobs "$(nproc)")
[ "${1:-}" = --jobs ] && jobs=(--jobs "${2:?--jobs N}")

real_cache=${FORKPIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/forkpin}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/forkpin-kbench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/kernels/custom/dl"
# Reuse a downloaded source package: the download is not what this measures.
cp "$real_cache"/kernels/custom/dl/*.deb "$tmp/kernels/custom/dl/" 2>/dev/null

printf '%-34s | %-9s | %s\n' build seconds "load at start"
for k in stock no-early-cow; do
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	start=$(date +%s)
	if ! FORKPIN_CACHE=$tmp "$top/setup/kernel/build" "${jobs[@]}" "$k" >/dev/null; then
		echo "bench: setup/kernel/build $k failed" >&2
		exit 1
	fi
	what="$k (cold)"
	[ "$k" = stock ] || what="$k (rebuild after stock)"
	printf '%-34s | %-9s | %s\n' "$what" "$(($(date +%s) - start))" "$load"
done
