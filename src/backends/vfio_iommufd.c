/* SPDX-License-Identifier: MIT */
/*
 * The iommufd IOMMU front end: /dev/iommu, an I/O address space (IOMMU_IOAS_ALLOC), the
 * device's VFIO cdev (/dev/vfio/devices/vfioN, CONFIG_VFIO_DEVICE_CDEV) bound to the iommufd
 * (VFIO_DEVICE_BIND_IOMMUFD) and attached to the IOAS (VFIO_DEVICE_ATTACH_IOMMUFD_PT),
 * IOMMU_IOAS_MAP / IOMMU_IOAS_UNMAP at fixed IOVAs. iommufd pins user pages with
 * pin_user_pages_fast(FOLL_LONGTERM) (GUP-fast, unlike Type1), adding FOLL_WRITE only for
 * writable mappings. Kernels: iommufd 6.2+, the VFIO cdev 6.6+; neither is in Debian's
 * kernels (setup/kernel/build stock has both).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vfio.h"
#include "../util.h"
#include "vfio_iommufd_uapi.h"

/* How long open waits for a cdev still held by an exiting process (the previous case). */
#define IOMMUFD_DEVICE_BUSY_MS 3000

struct iommufd_state {
	int iommufd; /* /dev/iommu */
	uint32_t ioas_id;
};

static struct iommufd_state *to_iommufd(struct vfio_iommu *iommu)
{
	return iommu->priv;
}

/* The device's cdev name ("vfio0") from /sys/bus/pci/devices/BDF/vfio-dev/. */
static int iommufd_cdev_name(struct vfio_iommu *iommu, const char *bdf, char *name, size_t size)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	d = opendir(path);
	if (!d)
		return fp_dev_error(iommu->dev, -ENODEV,
				    "%s: %s: no VFIO device cdev; needs a kernel with "
				    "CONFIG_VFIO_DEVICE_CDEV (6.6+) and %s bound to vfio-pci",
				    path, strerror(errno), bdf);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "vfio", 4) && strlen(de->d_name) < size) {
			strcpy(name, de->d_name);
			closedir(d);
			return 0;
		}
	closedir(d);
	return fp_dev_error(iommu->dev, -ENODEV, "%s holds no vfioN entry", path);
}

/* open() the cdev, retrying while a previous case's process still holds it. */
static int iommufd_open_cdev(struct vfio_iommu *iommu, const char *name, int *fd)
{
	struct timespec pause = {.tv_nsec = 20 * 1000 * 1000};
	char path[PATH_MAX];
	int waited_ms = 0;

	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", name);
	for (;;) {
		*fd = open(path, O_RDWR | O_CLOEXEC);
		if (*fd >= 0)
			return 0;
		if (errno != EBUSY || waited_ms >= IOMMUFD_DEVICE_BUSY_MS)
			break;
		nanosleep(&pause, NULL);
		waited_ms += 20;
	}
	if (errno == EBUSY)
		return fp_dev_error(iommu->dev, -EBUSY,
				    "open(%s): %s for %d ms: another process uses the device; "
				    "stop it",
				    path, strerror(errno), IOMMUFD_DEVICE_BUSY_MS);
	return fp_dev_error(iommu->dev, errno == ENOENT || errno == EACCES ? -ENODEV : -errno,
			    "open(%s): %s: run as root with the device bound to vfio-pci "
			    "(" FP_SETUP("vfio-bind") ")",
			    path, strerror(errno));
}

/* Fill ranges and pgsize_min from IOMMU_IOAS_IOVA_RANGES (two calls: count, then fetch). */
static int iommufd_read_ranges(struct vfio_iommu *iommu, struct iommufd_state *st)
{
	struct iommu_iova_range ranges[VFIO_MAX_IOVA_RANGES];
	struct iommu_ioas_iova_ranges q = {
	    .size = sizeof(q),
	    .ioas_id = st->ioas_id,
	    .num_iovas = VFIO_MAX_IOVA_RANGES,
	    .allowed_iovas = (uintptr_t)ranges,
	};

	if (ioctl(st->iommufd, IOMMU_IOAS_IOVA_RANGES, &q)) {
		/* EMSGSIZE: more ranges than fit; the first VFIO_MAX_IOVA_RANGES are filled */
		if (errno != EMSGSIZE)
			return fp_dev_error(iommu->dev, -errno, "IOMMU_IOAS_IOVA_RANGES: %s",
					    strerror(errno));
		q.num_iovas = VFIO_MAX_IOVA_RANGES;
	}
	if (q.num_iovas == 0)
		return fp_dev_error(iommu->dev, -ENODEV,
				    "IOMMU_IOAS_IOVA_RANGES: the IOAS has no usable IOVA");
	iommu->nranges = q.num_iovas;
	for (uint32_t i = 0; i < q.num_iovas; i++)
		iommu->ranges[i] = (struct vfio_iova_span){
		    .start = ranges[i].start,
		    .last = ranges[i].last,
		};
	iommu->pgsize_min = q.out_iova_alignment ? q.out_iova_alignment : 4096;
	return 0; /* the kernel returns them sorted */
}

static void iommufd_release(struct iommufd_state *st)
{
	if (st->iommufd >= 0)
		close(st->iommufd);
	free(st);
}

/*
 * /dev/iommu opened into *@fd, or -ENODEV described. Open checks it before anything that
 * names the device, so the reason a kernel without iommufd gives is the same for every device
 * and the per-run plan can give it once.
 */
static int iommufd_open_iommu(struct vfio_iommu *iommu, int *fd)
{
	*fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (*fd >= 0)
		return 0;
	return fp_dev_error(iommu->dev, -ENODEV,
			    "open(/dev/iommu): %s: needs a kernel with CONFIG_IOMMUFD "
			    "(6.2+; not in Debian's kernels: setup/kernel/build stock) and root",
			    strerror(errno));
}

static int iommufd_plan(struct vfio_iommu *iommu)
{
	int fd, ret = iommufd_open_iommu(iommu, &fd);

	if (!ret)
		close(fd);
	return ret;
}

static int iommufd_open(struct vfio_iommu *iommu, const char *bdf, int *device_fd)
{
	struct vfio_device_bind_iommufd bind = {.argsz = sizeof(bind)};
	struct vfio_device_attach_iommufd_pt attach = {.argsz = sizeof(attach)};
	struct iommu_ioas_alloc alloc = {.size = sizeof(alloc)};
	struct iommufd_state *st;
	char name[64];
	int ret, fd = -1;

	st = calloc(1, sizeof(*st));
	if (!st)
		return fp_dev_error(iommu->dev, -ENOMEM, "calloc failed");
	st->iommufd = -1;
	iommu->mode = "iommufd";

	ret = iommufd_open_iommu(iommu, &st->iommufd);
	if (!ret)
		ret = iommufd_cdev_name(iommu, bdf, name, sizeof(name));
	if (ret)
		goto err;
	ret = iommufd_open_cdev(iommu, name, &fd);
	if (ret)
		goto err;

	bind.iommufd = st->iommufd;
	if (ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
		ret = fp_dev_error(iommu->dev, -errno, "VFIO_DEVICE_BIND_IOMMUFD(%s): %s", name,
				   strerror(errno));
		goto err;
	}
	if (ioctl(st->iommufd, IOMMU_IOAS_ALLOC, &alloc)) {
		ret = fp_dev_error(iommu->dev, -errno, "IOMMU_IOAS_ALLOC: %s", strerror(errno));
		goto err;
	}
	st->ioas_id = alloc.out_ioas_id;
	attach.pt_id = st->ioas_id;
	if (ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) {
		ret = fp_dev_error(iommu->dev, -errno,
				   "VFIO_DEVICE_ATTACH_IOMMUFD_PT(%s, IOAS %u): %s", name,
				   st->ioas_id, strerror(errno));
		goto err;
	}
	ret = iommufd_read_ranges(iommu, st);
	if (ret)
		goto err;
	*device_fd = fd;
	iommu->priv = st;
	return 0;
err:
	if (fd >= 0)
		close(fd);
	iommufd_release(st);
	return ret;
}

static int iommufd_map(struct vfio_iommu *iommu, void *vaddr, size_t len, uint64_t iova,
		       bool writable)
{
	struct iommufd_state *st = to_iommufd(iommu);
	struct iommu_ioas_map map = {
	    .size = sizeof(map),
	    .flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
		     (writable ? IOMMU_IOAS_MAP_WRITEABLE : 0),
	    .ioas_id = st->ioas_id,
	    .user_va = (uintptr_t)vaddr,
	    .length = len,
	    .iova = iova,
	};

	if (ioctl(st->iommufd, IOMMU_IOAS_MAP, &map)) {
		int err = errno;

		return fp_dev_error(
		    iommu->dev, -err, "IOMMU_IOAS_MAP(vaddr %p, iova 0x%llx, %zu bytes, %s): %s%s",
		    vaddr, (unsigned long long)iova, len, writable ? "rw" : "ro", strerror(err),
		    err == ENOMEM ? ": RLIMIT_MEMLOCK too low? raise it with "
				    "ulimit -l"
				  : "");
	}
	return 0;
}

static int iommufd_unmap(struct vfio_iommu *iommu, uint64_t iova, size_t len)
{
	struct iommufd_state *st = to_iommufd(iommu);
	struct iommu_ioas_unmap unmap = {
	    .size = sizeof(unmap),
	    .ioas_id = st->ioas_id,
	    .iova = iova,
	    .length = len,
	};

	if (ioctl(st->iommufd, IOMMU_IOAS_UNMAP, &unmap))
		return fp_dev_error(iommu->dev, -errno,
				    "IOMMU_IOAS_UNMAP(iova 0x%llx, %zu bytes): %s",
				    (unsigned long long)iova, len, strerror(errno));
	if (unmap.length != len)
		return fp_dev_error(
		    iommu->dev, -EIO, "IOMMU_IOAS_UNMAP(iova 0x%llx): unmapped %llu of %zu bytes",
		    (unsigned long long)iova, (unsigned long long)unmap.length, len);
	return 0;
}

static void iommufd_close(struct vfio_iommu *iommu)
{
	/* The device fd (closed by vfio.c first) detaches; closing the iommufd unpins. */
	iommufd_release(to_iommufd(iommu));
	iommu->priv = NULL;
}

const struct vfio_iommu_ops vfio_iommufd_ops = {
    .name = "iommufd",
    .open = iommufd_open,
    .map = iommufd_map,
    .unmap = iommufd_unmap,
    .close = iommufd_close,
    .plan = iommufd_plan,
};
