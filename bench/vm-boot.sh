#!/bin/bash
# bench/vm-boot.sh: how long the test VM takes to start a command and to power off.
# Usage: bench/vm-boot.sh [RUNS] [setup/vm/run options...]   (default 3 runs, cached kernel)
# Columns: wall seconds from invoking setup/vm/run until the command's first output line
# reaches the host (±0.2 s: the host polls the output), the guest's uptime when the command
# started, and wall seconds until setup/vm/run returned (boot, command, poweroff).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-3}
shift || true
[[ $runs =~ ^[1-9][0-9]*$ ]] || {
	echo "usage: bench/vm-boot.sh [RUNS] [setup/vm/run options...]" >&2
	exit 2
}

now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }

# Warm the kernel cache first so that a download does not count as boot time.
"$top/setup/vm/run" "$@" -- true 2>/dev/null || {
	echo "bench: setup/vm/run -- true failed" >&2
	exit 1
}

printf '%-4s | %-18s | %-19s | %s\n' run "first command (s)" "guest uptime (s)" "total (s)"
for i in $(seq "$runs"); do
	start=$(now)
	first= uptime=
	while read -r line; do
		if [ -z "$first" ]; then
			first=$(now)
			uptime=${line%% *}
		fi
	done < <("$top/setup/vm/run" "$@" -- cat /proc/uptime 2>/dev/null)
	end=$(now)
	if [ -z "$first" ]; then
		echo "bench: run $i printed nothing" >&2
		exit 1
	fi
	printf '%-4s | %-18s | %-19s | %s\n' "$i" "$(sub "$first" "$start")" "$uptime" \
		"$(sub "$end" "$start")"
done
