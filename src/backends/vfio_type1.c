/* SPDX-License-Identifier: MIT */
/*
 * The VFIO Type1 IOMMU front end: a container (/dev/vfio/vfio) holding the device's group
 * (/dev/vfio/<group>), VFIO_TYPE1v2_IOMMU (VFIO_TYPE1_IOMMU on kernels without v2),
 * VFIO_IOMMU_MAP_DMA / VFIO_IOMMU_UNMAP_DMA. Type1 pins user pages with
 * pin_user_pages(FOLL_LONGTERM), adding FOLL_WRITE only for writable mappings.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "vfio.h"
#include "../util.h"

/* How long open waits for a group still held by an exiting process (the previous case). */
#define TYPE1_GROUP_BUSY_MS 3000

struct type1_state {
	int container; /* /dev/vfio/vfio */
	int group;     /* /dev/vfio/<n> */
	int group_id;
};

static struct type1_state *to_type1(struct vfio_iommu *iommu)
{
	return iommu->priv;
}

/* The IOMMU group number of @bdf from sysfs. */
static int type1_group_id(struct vfio_iommu *iommu, const char *bdf, int *id)
{
	char link[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return fp_dev_error(
		    iommu->dev, -ENODEV,
		    "readlink(%s): %s: the device has no IOMMU group; enable the "
		    "IOMMU (intel_iommu=on / amd_iommu=on) and bind it with " FP_SETUP(
			"vfio-bind") " %s",
		    link, strerror(errno), bdf);
	target[n] = '\0';
	base = strrchr(target, '/');
	*id = atoi(base ? base + 1 : target);
	return 0;
}

/* open() the group, retrying while a previous case's process still holds it. */
static int type1_open_group(struct vfio_iommu *iommu, int group_id, int *fd)
{
	char path[64];
	struct timespec pause = {.tv_nsec = 20 * 1000 * 1000};
	int waited_ms = 0;

	snprintf(path, sizeof(path), "/dev/vfio/%d", group_id);
	for (;;) {
		*fd = open(path, O_RDWR | O_CLOEXEC);
		if (*fd >= 0)
			return 0;
		if (errno != EBUSY || waited_ms >= TYPE1_GROUP_BUSY_MS)
			break;
		nanosleep(&pause, NULL);
		waited_ms += 20;
	}
	if (errno == ENOENT) {
		char noiommu[64];

		snprintf(noiommu, sizeof(noiommu), "/dev/vfio/noiommu-%d", group_id);
		if (access(noiommu, F_OK) == 0)
			return fp_dev_error(iommu->dev, -ENODEV,
					    "IOMMU group %d is a no-IOMMU group (%s): DMA is not "
					    "pinned through an IOMMU; boot with the IOMMU enabled",
					    group_id, noiommu);
	}
	if (errno == EBUSY)
		return fp_dev_error(iommu->dev, -EBUSY,
				    "open(%s): %s for %d ms: another process uses the device's "
				    "IOMMU group; stop it",
				    path, strerror(errno), TYPE1_GROUP_BUSY_MS);
	return fp_dev_error(iommu->dev, errno == ENOENT || errno == EACCES ? -ENODEV : -errno,
			    "open(%s): %s: run as root with the device bound to vfio-pci "
			    "(" FP_SETUP("vfio-bind") ")",
			    path, strerror(errno));
}

/* VFIO_IOMMU_GET_INFO with its capability chain; free() the result. */
static struct vfio_iommu_type1_info *type1_get_info(struct vfio_iommu *iommu, int container)
{
	struct vfio_iommu_type1_info *info;
	size_t argsz = sizeof(*info);

	for (int tries = 0; tries < 3; tries++) {
		info = calloc(1, argsz);
		if (!info) {
			fp_dev_error(iommu->dev, -ENOMEM, "calloc(%zu) failed", argsz);
			return NULL;
		}
		info->argsz = argsz;
		if (ioctl(container, VFIO_IOMMU_GET_INFO, info)) {
			fp_dev_error(iommu->dev, -errno, "VFIO_IOMMU_GET_INFO: %s",
				     strerror(errno));
			free(info);
			return NULL;
		}
		if (info->argsz <= argsz)
			return info;
		argsz = info->argsz;
		free(info);
	}
	fp_dev_error(iommu->dev, -EOVERFLOW, "VFIO_IOMMU_GET_INFO: argsz keeps growing");
	return NULL;
}

static int range_cmp(const void *a, const void *b)
{
	const struct vfio_iova_span *ra = a, *rb = b;

	return ra->start < rb->start ? -1 : ra->start > rb->start;
}

/* Fill pgsize_min and the usable IOVA ranges from VFIO_IOMMU_GET_INFO. */
static int type1_read_info(struct vfio_iommu *iommu, int container)
{
	struct vfio_iommu_type1_info *info = type1_get_info(iommu, container);
	uint32_t off, depth = 0;

	if (!info)
		return -EIO;
	iommu->pgsize_min = 4096;
	if ((info->flags & VFIO_IOMMU_INFO_PGSIZES) && info->iova_pgsizes)
		iommu->pgsize_min = info->iova_pgsizes & -info->iova_pgsizes;

	/* Without the IOVA range capability (kernels before 5.4) the whole space is usable. */
	iommu->nranges = 1;
	iommu->ranges[0] = (struct vfio_iova_span){.start = 0, .last = UINT64_MAX};
	off = (info->flags & VFIO_IOMMU_INFO_CAPS) ? info->cap_offset : 0;
	while (off) {
		struct vfio_info_cap_header *hdr;

		if (off < sizeof(*info) || off + sizeof(*hdr) > info->argsz || ++depth > 64) {
			free(info);
			return fp_dev_error(iommu->dev, -EPROTO,
					    "VFIO_IOMMU_GET_INFO: malformed capability chain");
		}
		hdr = (struct vfio_info_cap_header *)((char *)info + off);
		if (hdr->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			struct vfio_iommu_type1_info_cap_iova_range *cap = (void *)hdr;
			uint32_t n = cap->nr_iovas;

			if (n == 0 ||
			    off + sizeof(*cap) + n * sizeof(cap->iova_ranges[0]) > info->argsz) {
				free(info);
				return fp_dev_error(iommu->dev, -EPROTO,
						    "VFIO_IOMMU_GET_INFO: bad IOVA range "
						    "capability (%u ranges)",
						    n);
			}
			if (n > VFIO_MAX_IOVA_RANGES)
				n = VFIO_MAX_IOVA_RANGES;
			for (uint32_t i = 0; i < n; i++)
				iommu->ranges[i] = (struct vfio_iova_span){
				    .start = cap->iova_ranges[i].start,
				    .last = cap->iova_ranges[i].end,
				};
			iommu->nranges = n;
		}
		off = hdr->next;
	}
	free(info);
	qsort(iommu->ranges, iommu->nranges, sizeof(iommu->ranges[0]), range_cmp);
	return 0;
}

static void type1_release(struct type1_state *st)
{
	if (st->group >= 0)
		close(st->group);
	if (st->container >= 0)
		close(st->container);
	free(st);
}

static int type1_open(struct vfio_iommu *iommu, const char *bdf, int *device_fd)
{
	struct vfio_group_status status = {.argsz = sizeof(status)};
	struct type1_state *st;
	int type, ret, fd;
	bool want_v1;

	st = calloc(1, sizeof(*st));
	if (!st)
		return fp_dev_error(iommu->dev, -ENOMEM, "calloc failed");
	st->container = st->group = -1;

	ret = type1_group_id(iommu, bdf, &st->group_id);
	if (ret)
		goto err;
	st->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (st->container < 0) {
		ret = fp_dev_error(iommu->dev, -ENODEV,
				   "open(/dev/vfio/vfio): %s: load vfio_iommu_type1 and vfio-pci "
				   "(modprobe vfio-pci) and run as root",
				   strerror(errno));
		goto err;
	}
	ret = ioctl(st->container, VFIO_GET_API_VERSION);
	if (ret != VFIO_API_VERSION) {
		ret = fp_dev_error(iommu->dev, -ENODEV, "VFIO_GET_API_VERSION: %d, expected %d",
				   ret, VFIO_API_VERSION);
		goto err;
	}
	want_v1 = iommu->mode && !strcmp(iommu->mode, "type1");
	if (!want_v1 && ioctl(st->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0) {
		type = VFIO_TYPE1v2_IOMMU;
		iommu->mode = "type1v2";
	} else if (ioctl(st->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0) {
		type = VFIO_TYPE1_IOMMU;
		iommu->mode = "type1";
	} else {
		ret = fp_dev_error(iommu->dev, -ENODEV,
				   "the VFIO container offers neither VFIO_TYPE1v2_IOMMU nor "
				   "VFIO_TYPE1_IOMMU: modprobe vfio_iommu_type1");
		goto err;
	}

	ret = type1_open_group(iommu, st->group_id, &st->group);
	if (ret)
		goto err;
	if (ioctl(st->group, VFIO_GROUP_GET_STATUS, &status)) {
		ret = fp_dev_error(iommu->dev, -errno, "VFIO_GROUP_GET_STATUS(group %d): %s",
				   st->group_id, strerror(errno));
		goto err;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		ret = fp_dev_error(iommu->dev, -ENODEV,
				   "IOMMU group %d is not viable: bind every device in "
				   "/sys/kernel/iommu_groups/%d/devices to vfio-pci "
				   "(" FP_SETUP("vfio-bind") " BDF)",
				   st->group_id, st->group_id);
		goto err;
	}
	if (ioctl(st->group, VFIO_GROUP_SET_CONTAINER, &st->container)) {
		ret = fp_dev_error(iommu->dev, -errno, "VFIO_GROUP_SET_CONTAINER(group %d): %s",
				   st->group_id, strerror(errno));
		goto err;
	}
	if (ioctl(st->container, VFIO_SET_IOMMU, type)) {
		if (errno == EPERM) /* type1 refuses an IOMMU that cannot isolate MSIs */
			ret = fp_dev_error(iommu->dev, -ENODEV,
					   "VFIO_SET_IOMMU(%s): %s: the IOMMU has no interrupt "
					   "remapping (virtio-iommu on x86, or intremap off); on a "
					   "test machine allow it with echo 1 > /sys/module/"
					   "vfio_iommu_type1/parameters/allow_unsafe_interrupts",
					   iommu->mode, strerror(errno));
		else
			ret = fp_dev_error(iommu->dev, -errno, "VFIO_SET_IOMMU(%s): %s",
					   iommu->mode, strerror(errno));
		goto err;
	}
	ret = type1_read_info(iommu, st->container);
	if (ret)
		goto err;
	fd = ioctl(st->group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (fd < 0) {
		ret = fp_dev_error(iommu->dev, -errno, "VFIO_GROUP_GET_DEVICE_FD(%s): %s", bdf,
				   strerror(errno));
		goto err;
	}
	*device_fd = fd;
	iommu->priv = st;
	return 0;
err:
	type1_release(st);
	return ret;
}

static int type1_map(struct vfio_iommu *iommu, void *vaddr, size_t len, uint64_t iova,
		     bool writable)
{
	struct vfio_iommu_type1_dma_map map = {
	    .argsz = sizeof(map),
	    .flags = VFIO_DMA_MAP_FLAG_READ | (writable ? VFIO_DMA_MAP_FLAG_WRITE : 0),
	    .vaddr = (uintptr_t)vaddr,
	    .iova = iova,
	    .size = len,
	};

	if (ioctl(to_type1(iommu)->container, VFIO_IOMMU_MAP_DMA, &map)) {
		int err = errno;

		return fp_dev_error(
		    iommu->dev, -err,
		    "VFIO_IOMMU_MAP_DMA(vaddr %p, iova 0x%llx, %zu bytes, %s): %s%s", vaddr,
		    (unsigned long long)iova, len, writable ? "rw" : "ro", strerror(err),
		    err == ENOMEM ? ": RLIMIT_MEMLOCK too low? raise it with "
				    "ulimit -l"
				  : "");
	}
	return 0;
}

static int type1_unmap(struct vfio_iommu *iommu, uint64_t iova, size_t len)
{
	struct vfio_iommu_type1_dma_unmap unmap = {
	    .argsz = sizeof(unmap),
	    .iova = iova,
	    .size = len,
	};

	if (ioctl(to_type1(iommu)->container, VFIO_IOMMU_UNMAP_DMA, &unmap))
		return fp_dev_error(iommu->dev, -errno,
				    "VFIO_IOMMU_UNMAP_DMA(iova 0x%llx, %zu bytes): %s",
				    (unsigned long long)iova, len, strerror(errno));
	if (unmap.size != len)
		return fp_dev_error(iommu->dev, -EIO,
				    "VFIO_IOMMU_UNMAP_DMA(iova 0x%llx): unmapped %llu of %zu bytes",
				    (unsigned long long)iova, (unsigned long long)unmap.size, len);
	return 0;
}

static void type1_close(struct vfio_iommu *iommu)
{
	/* Closing the container unmaps and unpins whatever is left. */
	type1_release(to_type1(iommu));
	iommu->priv = NULL;
}

const struct vfio_iommu_ops vfio_type1_ops = {
    .name = "type1",
    .open = type1_open,
    .map = type1_map,
    .unmap = type1_unmap,
    .close = type1_close,
};
