/* SPDX-License-Identifier: MIT */
/*
 * Two commands that run outside the case matrix:
 *
 * `forkpin stress`: the pin-vs-fork race stressor (docs/stress.md). Worker threads register,
 * device-write, verify and deregister their own buffers in a loop while a forker thread forks
 * continuously and a writer thread takes copy-on-write faults on the same buffers. Sequence
 * counters around fork() and around each registration count the registrations that
 * overlapped a fork in progress, so a run reports its power as well as its verdict.
 *
 * `forkpin forkcost`: fork() latency and the child's extra memory as registered memory grows,
 * for pinned, unpinned, MADV_DONTFORK, MAP_SHARED and hugetlb memory, beside memcpy
 * bandwidth measured in the same run.
 *
 * Both reach devices only through the fp_dev_*() dispatcher and pick backends by capability.
 */
#ifndef FORKPIN_STRESS_H
#define FORKPIN_STRESS_H

/* argv[1] is the command word; returns the exit code (0, 1, 2 usage, 4 nothing ran). */
int fp_cmd_stress(int argc, char **argv);
int fp_cmd_forkcost(int argc, char **argv);

#endif
