/* SPDX-License-Identifier: MIT */
/*
 * Backends that exist only for the tests, to prove the harness and the scenarios can fail:
 *  - ideal: a perfect device (the CPU copies through the process's current mapping);
 *  - cow_bug: a device that keeps the pre-fork page, i.e. the kernel bug forkpin exists to
 *    catch, emulated with a pthread_atfork snapshot;
 *  - crash / hang: cases that die from a signal or never finish (with a grandchild).
 */
#ifndef FORKPIN_TESTS_FAKE_BACKENDS_H
#define FORKPIN_TESTS_FAKE_BACKENDS_H

#include "backend.h"

extern const struct fp_backend fake_ideal_backend;
extern const struct fp_backend fake_cow_bug_backend;
extern const struct fp_backend fake_crash_backend;
extern const struct fp_backend fake_hang_backend;

#endif
