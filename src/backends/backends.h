/* SPDX-License-Identifier: MIT */
/* Every backend's table row, for the registry in backends.c. One line per backend file. */
#ifndef FORKPIN_BACKENDS_BACKENDS_H
#define FORKPIN_BACKENDS_BACKENDS_H

#include "../backend.h"

extern const struct fp_backend fp_iouring_backend;
extern const struct fp_backend fp_verbs_backend, fp_verbs_odp_backend;
extern const struct fp_backend fp_vfio_backend;
extern const struct fp_backend fp_ofi_backend, fp_ofi_api_backend;
extern const struct fp_backend fp_vfio_type1_backend;
extern const struct fp_backend fp_vfio_iommufd_backend;
extern const struct fp_backend fp_iommufd_mock_backend;
extern const struct fp_backend fp_guptest_backend;
extern const struct fp_backend fp_guptest_fast_backend;
extern const struct fp_backend fp_vmsplice_backend;

#endif
