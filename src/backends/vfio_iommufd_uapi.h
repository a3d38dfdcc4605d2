/* SPDX-License-Identifier: MIT */
/*
 * The few iommufd and VFIO cdev definitions the iommufd front end (vfio_iommufd.c) uses.
 * Debian 12's linux-libc-dev (6.1) predates both: iommufd arrived in 6.2, the VFIO device
 * cdev ioctls in 6.6. Where the build host's uapi headers have them they are used;
 * otherwise these copies apply. They are kernel ABI, copied from the 6.12 uapi headers
 * include/uapi/linux/iommufd.h and include/uapi/linux/vfio.h (comments there).
 */
#ifndef FORKPIN_BACKENDS_VFIO_IOMMUFD_UAPI_H
#define FORKPIN_BACKENDS_VFIO_IOMMUFD_UAPI_H

#include <linux/types.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>

#if defined(__has_include) && __has_include(<linux/iommufd.h>)
#include <linux/iommufd.h>
#else
/* include/uapi/linux/iommufd.h */
#define IOMMUFD_TYPE	       (';')
enum {
	IOMMUFD_CMD_BASE = 0x80,
	IOMMUFD_CMD_DESTROY = IOMMUFD_CMD_BASE,
	IOMMUFD_CMD_IOAS_ALLOC = 0x81,
	IOMMUFD_CMD_IOAS_IOVA_RANGES = 0x84,
	IOMMUFD_CMD_IOAS_MAP = 0x85,
	IOMMUFD_CMD_IOAS_UNMAP = 0x86,
};

struct iommu_destroy {
	__u32 size;
	__u32 id;
};
#define IOMMU_DESTROY	       _IO(IOMMUFD_TYPE, IOMMUFD_CMD_DESTROY)

struct iommu_ioas_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_ioas_id;
};
#define IOMMU_IOAS_ALLOC       _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_ALLOC)

struct iommu_iova_range {
	__aligned_u64 start;
	__aligned_u64 last;
};

struct iommu_ioas_iova_ranges {
	__u32 size;
	__u32 ioas_id;
	__u32 num_iovas;
	__u32 __reserved;
	__aligned_u64 allowed_iovas;
	__aligned_u64 out_iova_alignment;
};
#define IOMMU_IOAS_IOVA_RANGES _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_IOVA_RANGES)

enum iommufd_ioas_map_flags {
	IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0,
	IOMMU_IOAS_MAP_WRITEABLE = 1 << 1,
	IOMMU_IOAS_MAP_READABLE = 1 << 2,
};

struct iommu_ioas_map {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova;
};
#define IOMMU_IOAS_MAP	       _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_MAP)

struct iommu_ioas_unmap {
	__u32 size;
	__u32 ioas_id;
	__aligned_u64 iova;
	__aligned_u64 length;
};
#define IOMMU_IOAS_UNMAP       _IO(IOMMUFD_TYPE, IOMMUFD_CMD_IOAS_UNMAP)
#endif

#ifndef VFIO_DEVICE_BIND_IOMMUFD
/* include/uapi/linux/vfio.h */
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD _IO(VFIO_TYPE, VFIO_BASE + 18)

struct vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
	__u32 pt_id;
};
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT _IO(VFIO_TYPE, VFIO_BASE + 19)
#endif

#endif
