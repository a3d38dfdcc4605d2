/* SPDX-License-Identifier: MIT */
/*
 * The backends' table rows, for the registry fp_backends[] in src/backends.c: one line per
 * backend file. The interface they implement is src/backend.h; src/backends.c is the
 * registry and the dispatcher over it.
 */
#ifndef FORKPIN_BACKENDS_REGISTRY_H
#define FORKPIN_BACKENDS_REGISTRY_H

#include "../backend.h"

extern const struct fp_backend fp_iouring_backend;
extern const struct fp_backend fp_verbs_backend, fp_verbs_odp_backend;
extern const struct fp_backend fp_verbs_remote_backend;
extern const struct fp_backend fp_vfio_backend;
extern const struct fp_backend fp_ofi_backend, fp_ofi_api_backend, fp_ofi_remote_backend;
extern const struct fp_backend fp_vfio_type1_backend;
extern const struct fp_backend fp_vfio_iommufd_backend;
extern const struct fp_backend fp_iommufd_mock_backend;
extern const struct fp_backend fp_guptest_backend;
extern const struct fp_backend fp_guptest_fast_backend;
extern const struct fp_backend fp_vmsplice_backend;

#endif
