#!/bin/bash
# bench/vm-boot.sh: how long the test VM takes to start a command and to power off, or, with
# -n, how often a boot does not finish (a kernel panic or a hang) across the guest kernels.
# Usage: bench/vm-boot.sh [RUNS] [setup/vm/run options...]   (default 3 runs, cached kernel)
#        bench/vm-boot.sh -n N [--kernels LIST] [--load K] [--log DIR] [setup/vm/run options...]
# Timing columns: wall seconds from invoking setup/vm/run until the command's first output line
# reaches the host (±0.2 s: the host polls the output), the guest's uptime when the command
# started, and wall seconds until setup/vm/run returned (boot, command, poweroff).
# -n N: N boots in all, taking the kernels of LIST in turn (default 5.10,6.1,6.12,7.2,stock;
# a name that is not a Debian release is a custom kernel setup/kernel/build has built: it is
# never built here). Each boot runs a command that succeeds only if the guest kernel was
# booted with no_timer_check (the fix for the TCG timer-check panic), bounded by --timeout
# (default 180 s here). --load K runs K CPU-bound loops beside the boots (the panic came on
# a loaded host). One line per boot, then per kernel: boots, finished, panics (timer-check
# panics among them), hangs, other failures; a failed boot's whole console is kept beside
# its log (--log DIR, BOOT.console). Exit 0 when every boot finished.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)

now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
usage() {
	echo "usage: bench/vm-boot.sh [RUNS] [setup/vm/run options...]" >&2
	echo "       bench/vm-boot.sh -n N [--kernels LIST] [--load K] [--log DIR] [setup/vm/run options...]" >&2
	exit 2
}

# kernel_args NAME: setup/vm/run's kernel options for a Debian release or a built custom kernel.
kernel_args() {
	case $1 in
	5.10 | 6.1 | 6.12 | 7.2) echo "--kernel-release $1" ;;
	*)
		local img
		img=$("$top/setup/kernel/build" --list 2>/dev/null |
			awk -v k="$1" '$1 == k { if (match($0, /built: [^)]*/)) print substr($0, RSTART + 7, RLENGTH - 7) }')
		[ -n "$img" ] || return 1
		echo "--kernel $img"
		;;
	esac
}

# classify RC ERRFILE: finished, panic-timer, panic, hang or other-RC.
classify() {
	if [ "$1" = 0 ]; then
		echo finished
	elif [ "$1" = 3 ] && grep -q "timer doesn't work" "$2"; then
		echo panic-timer
	elif [ "$1" = 3 ] && grep -q 'guest kernel panicked' "$2"; then
		echo panic
	elif [ "$1" = 3 ] && grep -q 'guest did not finish within' "$2"; then
		echo hang
	else
		echo "other-$1"
	fi
}

# keep_console RC NAME: the whole guest console of a boot that failed goes to NAME.console
# (stderr has only its last 20 lines); setup/vm/run's kept directory is removed.
keep_console() {
	local dir
	dir=$(sed -n 's/^vm: kept //p' "$2.err" | tail -n 1)
	[ -n "$dir" ] && [ -d "$dir" ] || return 0
	[ "$1" = 0 ] || tr -d '\r' <"$dir/console.log" >"$2.console"
	rm -rf "$dir"
}

count_boots() {
	local n=$1 kernels=5.10,6.1,6.12,7.2,stock load=0 log="" timeout=180
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--kernels) kernels=${2:?} && shift ;;
		--load) load=${2:?} && shift ;;
		--log) log=${2:?} && shift ;;
		--timeout) timeout=${2:?} && shift ;;
		*) break ;;
		esac
		shift
	done
	[[ $n =~ ^[1-9][0-9]*$ && $load =~ ^[0-9]+$ ]] || usage
	[ -n "$log" ] || log=$(mktemp -d "${TMPDIR:-/tmp}/forkpin-vm-boot.XXXXXX")
	mkdir -p "$log" || exit 2
	local -a klist kargs
	local k i burners=() name rc t0 what
	IFS=, read -ra klist <<<"$kernels"
	for k in "${klist[@]}"; do
		kernel_args "$k" >/dev/null || {
			echo "bench: no kernel '$k': a Debian release (5.10, 6.1, 6.12, 7.2) or a built custom kernel (setup/kernel/build --list)" >&2
			exit 2
		}
	done
	for ((i = 0; i < load; i++)); do
		(while :; do :; done) &
		burners+=($!)
	done
	# shellcheck disable=SC2064 # the burners' pids are known now
	trap "kill ${burners[*]} 2>/dev/null" EXIT
	trap 'exit 130' INT TERM HUP
	declare -A total=() fin=() pt=() pa=() hang=() other=()
	echo "# $n boots over ${kernels}, $load load loop(s), --timeout $timeout s; logs in $log"
	printf '%-5s | %-8s | %-12s | %-8s | %s\n' boot kernel result "wall (s)" "load (1 min)"
	for ((i = 0; i < n; i++)); do
		k=${klist[i % ${#klist[@]}]}
		read -ra kargs <<<"$(kernel_args "$k")"
		name=$log/boot-$((i + 1))-$k
		t0=$(now)
		"$top/setup/vm/run" --keep --timeout "$timeout" "${kargs[@]}" "$@" -- \
			grep -qw no_timer_check /proc/cmdline >"$name.out" 2>"$name.err"
		rc=$?
		what=$(classify "$rc" "$name.err")
		keep_console "$rc" "$name"
		printf '%-5s | %-8s | %-12s | %-8s | %s\n' $((i + 1)) "$k" "$what" \
			"$(sub "$(now)" "$t0")" "$(cut -d' ' -f1 /proc/loadavg)"
		total[$k]=$((${total[$k]:-0} + 1))
		case $what in
		finished) fin[$k]=$((${fin[$k]:-0} + 1)) ;;
		panic-timer) pt[$k]=$((${pt[$k]:-0} + 1)) pa[$k]=$((${pa[$k]:-0} + 1)) ;;
		panic) pa[$k]=$((${pa[$k]:-0} + 1)) ;;
		hang) hang[$k]=$((${hang[$k]:-0} + 1)) ;;
		*) other[$k]=$((${other[$k]:-0} + 1)) ;;
		esac
	done
	local bad=0
	echo
	printf '%-8s | %-5s | %-8s | %-16s | %-5s | %s\n' kernel boots finished "panics (timer)" hangs other
	for k in "${klist[@]}"; do
		[ -n "${total[$k]:-}" ] || continue
		printf '%-8s | %-5s | %-8s | %-16s | %-5s | %s\n' "$k" "${total[$k]}" "${fin[$k]:-0}" \
			"${pa[$k]:-0} (${pt[$k]:-0})" "${hang[$k]:-0}" "${other[$k]:-0}"
		[ "${fin[$k]:-0}" = "${total[$k]}" ] || bad=1
	done
	return "$bad"
}

if [ "${1:-}" = -n ]; then
	[ $# -ge 2 ] || usage
	n=$2
	shift 2
	count_boots "$n" "$@"
	exit
fi

runs=${1:-3}
shift || true
[[ $runs =~ ^[1-9][0-9]*$ ]] || usage

# Warm the kernel cache first so that a download does not count as boot time.
"$top/setup/vm/run" "$@" -- true 2>/dev/null || {
	echo "bench: setup/vm/run -- true failed" >&2
	exit 1
}

printf '%-4s | %-18s | %-19s | %s\n' run "first command (s)" "guest uptime (s)" "total (s)"
for i in $(seq "$runs"); do
	start=$(now)
	first="" uptime=""
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
