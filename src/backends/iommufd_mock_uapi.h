/* SPDX-License-Identifier: MIT */
/*
 * The few IOMMUFD_TEST definitions the iommufd-mock backend (iommufd_mock.c) uses. They are
 * not exported uapi: they are copied from the kernel's drivers/iommu/iommufd/iommufd_test.h
 * (6.12; the ops used here and their numbering are unchanged since 6.2). The layout of
 * struct iommu_test_cmd is ABI: the kernel requires at least its size up to @last, so the
 * union keeps its largest 6.12 member (dirty) for the size.
 */
#ifndef FORKPIN_BACKENDS_IOMMUFD_MOCK_UAPI_H
#define FORKPIN_BACKENDS_IOMMUFD_MOCK_UAPI_H

#include "vfio_iommufd_uapi.h"

enum {
	IOMMU_TEST_OP_MOCK_DOMAIN = 2,
	IOMMU_TEST_OP_MD_CHECK_MAP = 3,
	IOMMU_TEST_OP_CREATE_ACCESS = 5,
	IOMMU_TEST_OP_ACCESS_RW = 8,
};

enum {
	MOCK_APERTURE_START = 1ul << 24,
	MOCK_APERTURE_LAST = (1ul << 31) - 1,
};

enum {
	MOCK_ACCESS_RW_WRITE = 1 << 0,
	MOCK_ACCESS_RW_SLOW_PATH = 1 << 2,
};

struct iommu_test_cmd {
	__u32 size;
	__u32 op;
	__u32 id;
	__u32 __reserved;
	union {
		struct {
			__u32 out_stdev_id;
			__u32 out_hwpt_id;
			__u32 out_idev_id;
		} mock_domain;
		struct {
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 uptr;
		} check_map;
		struct {
			__u32 out_access_fd;
			__u32 flags;
		} create_access;
		struct {
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 uptr;
			__u32 flags;
		} access_rw;
		struct {
			__u32 flags;
			__aligned_u64 iova;
			__aligned_u64 length;
			__aligned_u64 page_size;
			__aligned_u64 uptr;
			__aligned_u64 out_nr_dirty;
		} dirty;
	};
	__u32 last;
};
#define IOMMU_TEST_CMD _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32)

#endif
