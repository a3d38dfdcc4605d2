/* SPDX-License-Identifier: MIT */
/*
 * The subcommands that run outside the case matrix, each in its own file of the program
 * (not of the core library). argv[1] is the command word; each returns an enum fp_exit.
 *
 * `forkpin vm`: the selection inside the test VM (setup/vm/run), see vm.c and docs/vm.md.
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
 * stress and forkcost reach devices only through the fp_dev_*() dispatcher and pick backends by
 * capability.
 */
#ifndef FORKPIN_SUBCOMMANDS_H
#define FORKPIN_SUBCOMMANDS_H

int fp_cmd_stress(int argc, char **argv);
int fp_cmd_forkcost(int argc, char **argv);
int fp_cmd_vm(int argc, char **argv);
/* `forkpin compare BASE.json NEW.json`: what changed between two reports (compare.c). */
int fp_cmd_compare(int argc, char **argv);
/* `forkpin peer`: node B of two-node mode, serving RDMA to verbs-remote cases (peer.c). */
int fp_cmd_peer(int argc, char **argv);
/* `forkpin merge REPORT...`: a fleet's reports as one table, nodes x cases (merge.c). */
int fp_cmd_merge(int argc, char **argv);

#endif
