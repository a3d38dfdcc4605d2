/* SPDX-License-Identifier: MIT */
/*
 * Backends that exist only for the tests, to prove the harness and the scenarios can fail:
 *  - ideal: a perfect device (the CPU copies through the process's current mapping);
 *  - cow_bug: a device that keeps the pre-fork page, i.e. the kernel bug forkpin exists to
 *    catch, emulated with a pthread_atfork snapshot;
 *  - eager: a perfect device whose queued writes land at once (before a fork that follows);
 *  - child_maps: the device's writes land in the parent's page and in the last child's copy
 *    too (process_vm_writev), as if the child mapped the pinned page;
 *  - dontfork: a perfect device whose registration is MADV_DONTFORK (ibv_fork_init);
 *  - stale_pin: a registration made after a fork pins a page the parent's next write leaves
 *    (no COW break or unshare at pin time: R/W pins before the GUP fixes, R/O pins before
 *    5.19/6.2);
 *  - remap_bug: a write-protect (mprotect, soft-dirty, uffd-wp), MADV_PAGEOUT or MADV_COLLAPSE
 *    of the registered range moves the parent to another page and leaves the device on the
 *    old one (do_wp_page copying a pinned page, 5.9-5.18; reclaim or collapse of a pinned
 *    page). The events reach it through the link-time wrappers of fake_wrap.c;
 *  - crash / hang: cases that die from a signal or never finish (with a grandchild);
 *  - absent: no device unless FAKE_PRESENT is set, found out once per run by its plan op
 *    (backend.h); absent_unplanned is the same without the plan. Plans, opens (and the
 *    tests' own maps) are logged to the file FAKE_PLAN_LOG names, one byte each.
 */
#ifndef FORKPIN_TESTS_FAKE_BACKENDS_H
#define FORKPIN_TESTS_FAKE_BACKENDS_H

#include "backend.h"

extern const struct fp_backend fake_ideal_backend;
extern const struct fp_backend fake_cow_bug_backend;
extern const struct fp_backend fake_eager_backend;
extern const struct fp_backend fake_child_maps_backend;
extern const struct fp_backend fake_dontfork_backend;
extern const struct fp_backend fake_stale_pin_backend;
extern const struct fp_backend fake_remap_bug_backend;
extern const struct fp_backend fake_crash_backend;

/* The wrappers' entry: [addr, addr+len) was write-protected, paged out or collapsed. */
void fake_remap_event(const void *addr, size_t len);
extern const struct fp_backend fake_hang_backend;
extern const struct fp_backend fake_absent_backend;
extern const struct fp_backend fake_absent_unplanned_backend;
/* Log one event ('P' plan, 'O' open, a test's own letters) to FAKE_PLAN_LOG. */
void fake_plan_log(char what);

#endif
