#!/bin/bash
# tests/vm/faults-guest.sh FORKPIN: runs inside the test VM (tests/vm/faults.sh boots it and
# checks what it prints and writes to $FORKPIN_VM_OUT). Four faults, one after the other, each
# landing while a run goes:
#   down    rxe0's netdev goes down after the third finished case
#   delete  `rdma link delete rxe0` after the second finished case (the device goes away)
#   kill    the forked child of a vfio in-flight case is SIGKILLed while the edu DMA is queued
#   unbind  the edu device is unbound from vfio-pci after the second finished case
# After each: what is left behind, as a "<fault> left:" line (forkpin processes, open
# /dev/vfio, /dev/iommu and /dev/infiniband files, pages still pinned (FOLL_PIN) beyond the
# baseline, QPs and MRs in `rdma res`).
fp=$1
out=$FORKPIN_VM_OUT
bdf=${FORKPIN_VFIO_BDF:-}

# Pages pinned with FOLL_PIN right now, system wide (vfio type1 and iommufd, ib_umem and
# io_uring all pin this way): the kernel's counters, not forkpin's word.
pins() {
	awk '$1 == "nr_foll_pin_acquired" { a = $2 } $1 == "nr_foll_pin_released" { r = $2 }
		END { print a - r }' /proc/vmstat
}

device_fds() {
	find /proc/[0-9]*/fd -lname '/dev/vfio/*' -o -lname '/dev/iommu' \
		-o -lname '/dev/infiniband/*' 2>/dev/null | wc -l
}

# The pin count settles once the last case process has been reaped: give it a moment.
pins_over_base() {
	local d
	for _ in 1 2 3 4 5; do
		d=$(($(pins) - base))
		[ "$d" -le 0 ] && break
		sleep 0.5
	done
	echo "$d"
}

leftovers() {
	echo "$1 pinned since boot: $(awk '$1 == "nr_foll_pin_acquired" { print $2 }' /proc/vmstat)"
	echo "$1 left: procs $(pgrep -xc forkpin) fds $(device_fds) pins $(pins_over_base)" \
		"qp $(rdma res show qp 2>/dev/null | grep -c forkpin)" \
		"mr $(rdma res show mr 2>/dev/null | grep -c forkpin)"
}

# Wait until the run $pid streaming to $1 has finished $2 cases (bounded to 60 s); false when
# the run ended first (the fault would land too late: the check then fails on its verdicts).
wait_cases() {
	local n
	for _ in $(seq 600); do
		kill -0 "$pid" 2>/dev/null || return 1
		n=$(grep -c '"result"' "$1.partial" 2>/dev/null)
		[ "${n:-0}" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# SIGKILL a grandchild of the run $pid: the forked child of the running case. Bash builtins
# only (no fork per look): the child lives for one edu DMA, ~100-200 ms under TCG.
kill_case_child() {
	local kids grand c
	for _ in $(seq 5000); do
		kids=()
		read -r -a kids 2>/dev/null <"/proc/$pid/task/$pid/children"
		for c in "${kids[@]}"; do
			grand=()
			read -r -a grand 2>/dev/null <"/proc/$c/task/$c/children"
			[ ${#grand[@]} -gt 0 ] && kill -KILL "${grand[0]}" 2>/dev/null && return 0
		done
		kill -0 "$pid" 2>/dev/null || return 1
	done
	return 1
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

base=$(pins)
echo "baseline pins $base"

# down: the netdev under rxe0 goes down.
"$fp" run -b verbs -m anon,thp-pmd,hugetlb-2m,memfd \
	-s parent-writes,child-alive,device-reads,many-children,nested,fork-exec --timeout 20 \
	--json "$out/down.json" >"$out/down.tap" 2>&1 &
pid=$!
wait_cases "$out/down.json" 3
ip link set fp0 down
wait $pid
echo "down run exit $?"
ip link set fp0 up
leftovers down

# delete: the RDMA device itself goes away. rxe has no disassociate_ucontext, so the kernel's
# unregistration waits until no process holds the device open (ib_uverbs_remove_one).
"$fp" run -b verbs -m anon,memfd -s parent-writes,child-alive,device-reads,in-flight \
	--repeat 8 --timeout 20 --json "$out/delete.json" >"$out/delete.tap" 2>&1 &
pid=$!
wait_cases "$out/delete.json" 2
t0=$(now)
(
	rdma link delete rxe0
	echo "delete: rdma link delete exit $? after $(since "$t0") s"
) &
dpid=$!
wait $pid
echo "delete run exit $? after $(since "$t0") s"
wait $dpid
echo "delete: rxe0 still listed: $(rdma link show 2>/dev/null | grep -c 'link rxe0/')"
leftovers delete
rdma link add rxe0 type rxe netdev fp0 || echo "delete: re-adding rxe0 failed"

# kill: SIGKILL the child of a vfio in-flight case: it exists from fork, with the edu write
# queued (100 ms timer), until the parent has waited for the DMA and let it check.
"$fp" run -b vfio -m anon,memfd -s in-flight --repeat 12 --timeout 20 \
	--json "$out/kill.json" >"$out/kill.tap" 2>&1 &
pid=$!
killed=0
for after in 2 12; do
	wait_cases "$out/kill.json" "$after" && kill_case_child && killed=$((killed + 1))
done
wait $pid
echo "kill run exit $? killed $killed"
leftovers kill

# unbind: the edu device leaves vfio-pci mid-run. The kernel cannot take a device from a
# process that holds it: the write to unbind blocks (vfio_unregister_group_dev) until the
# case holding it has closed it.
if [ -n "$bdf" ]; then
	"$fp" run -b vfio -m anon,memfd -s in-flight,child-alive --repeat 8 --timeout 20 \
		--json "$out/unbind.json" >"$out/unbind.tap" 2>&1 &
	pid=$!
	wait_cases "$out/unbind.json" 2
	lines=$(dmesg | wc -l)
	t0=$(now)
	(
		printf '%s\n' "$bdf" >/sys/bus/pci/drivers/vfio-pci/unbind && st=0 || st=$?
		echo "unbind: write exit $st after $(since "$t0") s"
	) &
	upid=$!
	wait $pid
	echo "unbind run exit $? after $(since "$t0") s"
	wait $upid
	echo "unbind: driver now: $(basename "$(readlink "/sys/bus/pci/devices/$bdf/driver")")"
	dmesg | tail -n +"$((lines + 1))" | grep -i -m 3 "$bdf" | sed 's/^/unbind: dmesg: /'
	leftovers unbind
	# driver_override still names vfio-pci: the device goes back and works again.
	echo "$bdf" >/sys/bus/pci/drivers/vfio-pci/bind
	"$fp" run -b vfio -m anon -s child-alive >"$out/rebind.tap" 2>&1
	echo "rebind run exit $?"
else
	echo "unbind: no FORKPIN_VFIO_BDF in the guest"
fi
