/* SPDX-License-Identifier: MIT */
/*
 * The vfio backend: a buffer is registered with VFIO_IOMMU_MAP_DMA (the IOMMU front end pins
 * it with FOLL_LONGTERM and maps it at an IOVA), and a real PCI device bound to vfio-pci
 * DMAs into and out of it through the IOMMU. In the test VM the device is QEMU's edu behind
 * intel-iommu or virtio-iommu: emulated hardware, but the kernel's pinning and the IOMMU
 * translation are the real ones.
 *
 * Per case (its own process): open the IOMMU context and the device, map a staging buffer
 * for the device's other end, probe the driver; reg/dereg map and unmap the case's buffer.
 * The device is named with --vfio-device BDF (or FORKPIN_VFIO_BDF); there is no auto-pick:
 * driving the wrong device could wreck a machine.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "../util.h"
#include "vfio.h"

/* The drivers, probed in order by PCI vendor:device. One line per driver file. */
static const struct vfio_driver *const vfio_drivers[] = {
    &vfio_edu_driver,
};

/*
 * The IOMMU modes, one backend row each (as the kernel's vfio selftests cross every test with
 * their iommu_mode): the same device and driver behind each front end. All run by default;
 * a mode the kernel lacks SKIPs and says which kernel option it needs.
 */
static const struct vfio_mode {
	const struct fp_backend *be;
	const struct vfio_iommu_ops *ops;
	const char *mode; /* requested mode; NULL: the front end's best */
} vfio_modes[] = {
    {&fp_vfio_backend, &vfio_type1_ops, NULL}, /* type1v2, else type1 */
    {&fp_vfio_type1_backend, &vfio_type1_ops, "type1"},
    {&fp_vfio_iommufd_backend, &vfio_iommufd_ops, "iommufd"},
};

/* IOVAs below this are never used: an IOVA of 0 or near it is more likely a bug. */
#define VFIO_IOVA_FLOOR (1ull << 20)
#define VFIO_MAX_ALLOCS 4

struct vfio_alloc {
	uint64_t iova, len; /* len 0: free slot */
};

struct vfio_state {
	struct vfio_iommu iommu;
	bool iommu_open;
	struct vfio_pci pci;
	bool driver_ready;
	char bdf[16];
	size_t page;	     /* granule of every mapping: max(system page, IOMMU page) */
	uint64_t iova_limit; /* last IOVA the device can reach */
	struct vfio_alloc allocs[VFIO_MAX_ALLOCS];
	/* staging: the device's other end of every transfer; MAP_SHARED and MADV_DONTFORK so
	 * that fork can never move it, whatever the kernel under test does with COW */
	void *staging;
	size_t staging_len;
	uint64_t staging_iova;
	bool staging_mapped;
	void *region; /* the driver's region (descriptors), mapped like staging */
	size_t region_len;
	/* an outstanding from-host transfer: copy staging out to here in dma_wait */
	void *pending_dst;
	size_t pending_len;
	uint64_t open_ns; /* for FORKPIN_VFIO_STATS */
};

struct vfio_reg {
	void *map;	/* page-aligned start of the mapping */
	size_t map_len; /* page-rounded length */
	uint64_t iova;	/* IOVA of map */
	size_t lead;	/* offset of the registered address inside the mapping */
};

static const struct fp_option vfio_options[] = {
    {
	.name = "vfio-device",
	.arg = "BDF[,BDF...]",
	.env = "FORKPIN_VFIO_BDF",
	.help = "PCI device(s) bound to vfio-pci that the vfio backends drive, one per "
		"case running at once (e.g. 0000:00:03.0; bind with " FP_SETUP("vfio-bind") " BDF)",
    },
    {0},
};

bool vfio_bdf_parse(const char *text, char *out, size_t size)
{
	unsigned domain = 0, bus, slot, fn;
	int n = 0;

	if (!text)
		return false;
	if (sscanf(text, "%4x:%2x:%2x.%1u%n", &domain, &bus, &slot, &fn, &n) != 4 ||
	    text[n] != '\0') {
		domain = 0;
		n = 0;
		if (sscanf(text, "%2x:%2x.%1u%n", &bus, &slot, &fn, &n) != 3 || text[n] != '\0')
			return false;
	}
	/* sscanf accepts signs and spaces inside %x: insist on the plain form. */
	for (const char *p = text; *p; p++)
		if (!strchr("0123456789abcdefABCDEF:.", *p))
			return false;
	if (slot > 0x1f || fn > 7)
		return false;
	return snprintf(out, size, "%04x:%02x:%02x.%u", domain, bus, slot, fn) < (int)size;
}

/* The name of the kernel driver bound to @bdf into @buf, "" when none; -errno. */
static int vfio_bound_driver(const char *bdf, char *buf, size_t size)
{
	char link[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0) {
		if (errno != ENOENT)
			return -errno;
		buf[0] = '\0';
		return 0;
	}
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= size)
		return -ENAMETOOLONG;
	memcpy(buf, base, strlen(base) + 1);
	return 0;
}

/* Set by the option check when the device is on vfio-pci as the run starts; the case
 * processes inherit it, so losing the device later is a fault, not "cannot run here". */
#define VFIO_BOUND_AT_START "FORKPIN_VFIO_BOUND_AT_START"

/*
 * After a failed open: when the run started with @bdf on vfio-pci and it is not there now
 * (unbound, rebound to another driver, removed), say so and make it an error (-EIO): a node
 * whose device goes away mid-qualification must not read as "nothing to test here".
 */
static int vfio_lost_since_start(struct fp_dev *dev, const char *bdf, int ret)
{
	const char *at_start = getenv(VFIO_BOUND_AT_START);
	char drv[256] = "", why[sizeof(dev->error)];

	if (!at_start || strcmp(at_start, bdf))
		return ret;
	if (vfio_bound_driver(bdf, drv, sizeof(drv)) == 0 && !strcmp(drv, "vfio-pci"))
		return ret;
	snprintf(why, sizeof(why), "%s", dev->error);
	return fp_dev_error(dev, -EIO,
			    "%s was bound to vfio-pci when the run started and is %s%s now: the "
			    "device was unbound or removed during the run (open failed: %s)",
			    bdf, drv[0] ? "bound to " : "not bound", drv, why);
}

/* ---- PCI access through the device fd ---- */

static int vfio_pci_rw(struct vfio_pci *pci, bool write, uint64_t off, void *val, size_t size,
		       const char *what)
{
	ssize_t n =
	    write ? pwrite(pci->fd, val, size, (off_t)off) : pread(pci->fd, val, size, (off_t)off);

	if (n == (ssize_t)size)
		return 0;
	return fp_dev_error(pci->dev, n < 0 ? -errno : -EIO, "%s %s of %s (%zu bytes): %s",
			    write ? "pwrite" : "pread", what, pci->bdf, size,
			    n < 0 ? strerror(errno) : "short transfer");
}

int vfio_pci_config_read(struct vfio_pci *pci, unsigned off, void *val, size_t size)
{
	return vfio_pci_rw(pci, false, pci->config_off + off, val, size, "config space");
}

int vfio_pci_config_write(struct vfio_pci *pci, unsigned off, const void *val, size_t size)
{
	return vfio_pci_rw(pci, true, pci->config_off + off, (void *)val, size, "config space");
}

static int vfio_pci_bar_check(struct vfio_pci *pci, int bar, uint64_t off)
{
	if (bar < 0 || bar > 5 || off + 4 > pci->bar[bar].size)
		return fp_dev_error(pci->dev, -EINVAL, "%s: BAR%d offset 0x%llx out of range",
				    pci->bdf, bar, (unsigned long long)off);
	return 0;
}

int vfio_pci_bar_read32(struct vfio_pci *pci, int bar, uint64_t off, uint32_t *val)
{
	int ret = vfio_pci_bar_check(pci, bar, off);

	return ret ? ret : vfio_pci_rw(pci, false, pci->bar[bar].off + off, val, 4, "BAR");
}

int vfio_pci_bar_write32(struct vfio_pci *pci, int bar, uint64_t off, uint32_t val)
{
	int ret = vfio_pci_bar_check(pci, bar, off);

	return ret ? ret : vfio_pci_rw(pci, true, pci->bar[bar].off + off, &val, 4, "BAR");
}

int vfio_pci_enable_bus_master(struct vfio_pci *pci)
{
	uint16_t cmd;
	int ret;

	ret = vfio_pci_config_read(pci, PCI_COMMAND, &cmd, sizeof(cmd));
	if (ret)
		return ret;
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	ret = vfio_pci_config_write(pci, PCI_COMMAND, &cmd, sizeof(cmd));
	if (ret)
		return ret;
	ret = vfio_pci_config_read(pci, PCI_COMMAND, &cmd, sizeof(cmd));
	if (ret)
		return ret;
	if (!(cmd & PCI_COMMAND_MASTER))
		return fp_dev_error(pci->dev, -EIO, "%s: bus mastering did not stick (0x%04x)",
				    pci->bdf, cmd);
	return 0;
}

/* Region offsets and sizes: config space and the six BARs. */
static int vfio_pci_regions(struct vfio_pci *pci)
{
	struct vfio_device_info info = {.argsz = sizeof(info)};

	if (ioctl(pci->fd, VFIO_DEVICE_GET_INFO, &info))
		return fp_dev_error(pci->dev, -errno, "VFIO_DEVICE_GET_INFO(%s): %s", pci->bdf,
				    strerror(errno));
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) ||
	    info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX)
		return fp_dev_error(pci->dev, -ENODEV, "%s is not a VFIO PCI device", pci->bdf);
	for (unsigned i = VFIO_PCI_BAR0_REGION_INDEX; i <= VFIO_PCI_CONFIG_REGION_INDEX; i++) {
		struct vfio_region_info reg = {.argsz = sizeof(reg), .index = i};

		if (ioctl(pci->fd, VFIO_DEVICE_GET_REGION_INFO, &reg))
			return fp_dev_error(pci->dev, -errno,
					    "VFIO_DEVICE_GET_REGION_INFO(%s, %u): %s", pci->bdf, i,
					    strerror(errno));
		if (i == VFIO_PCI_CONFIG_REGION_INDEX)
			pci->config_off = reg.offset;
		else if (i <= VFIO_PCI_BAR5_REGION_INDEX &&
			 (reg.flags & (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE)))
			pci->bar[i].off = reg.offset, pci->bar[i].size = reg.size;
	}
	return 0;
}

/* ---- IOVA allocation: first fit inside the IOMMU's ranges and the driver's DMA mask ---- */

static int vfio_iova_alloc(struct fp_dev *dev, struct vfio_state *st, uint64_t len, uint64_t align,
			   uint64_t *iova)
{
	struct vfio_alloc *slot = NULL;

	for (size_t i = 0; i < VFIO_MAX_ALLOCS; i++)
		if (!st->allocs[i].len) {
			slot = &st->allocs[i];
			break;
		}
	if (!slot)
		return fp_dev_error(dev, -ENOSPC, "vfio: more than %d live IOVA allocations",
				    VFIO_MAX_ALLOCS);
	for (size_t r = 0; r < st->iommu.nranges; r++) {
		uint64_t start = st->iommu.ranges[r].start, last = st->iommu.ranges[r].last;
		uint64_t cand;

		if (last > st->iova_limit)
			last = st->iova_limit;
		if (start < VFIO_IOVA_FLOOR)
			start = VFIO_IOVA_FLOOR;
		cand = (start + align - 1) & ~(align - 1);
		/* Move past every live allocation it overlaps; at most VFIO_MAX_ALLOCS moves
		 * each, so bounded. */
		for (size_t pass = 0; pass <= VFIO_MAX_ALLOCS; pass++) {
			bool moved = false;

			for (size_t i = 0; i < VFIO_MAX_ALLOCS; i++) {
				const struct vfio_alloc *a = &st->allocs[i];

				if (a->len && cand < a->iova + a->len && a->iova < cand + len) {
					cand = (a->iova + a->len + align - 1) & ~(align - 1);
					moved = true;
				}
			}
			if (!moved)
				break;
		}
		if (cand >= start && cand <= last && len - 1 <= last - cand) {
			*slot = (struct vfio_alloc){.iova = cand, .len = len};
			*iova = cand;
			return 0;
		}
	}
	return fp_dev_error(dev, -ENOSPC,
			    "vfio: no free IOVA range of %llu bytes below 0x%llx (the %s device's "
			    "DMA mask) in the %zu range(s) the IOMMU reports",
			    (unsigned long long)len, (unsigned long long)st->iova_limit + 1,
			    st->pci.driver ? st->pci.driver->name : "", st->iommu.nranges);
}

static void vfio_iova_free(struct vfio_state *st, uint64_t iova)
{
	for (size_t i = 0; i < VFIO_MAX_ALLOCS; i++)
		if (st->allocs[i].len && st->allocs[i].iova == iova)
			st->allocs[i].len = 0;
}

/* Map a backend-owned buffer (staging, driver region): shared, never inherited by fork. */
static int vfio_map_own(struct fp_dev *dev, struct vfio_state *st, size_t len, void **buf,
			uint64_t *iova)
{
	int ret;

	*buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (*buf == MAP_FAILED) {
		*buf = NULL;
		return fp_dev_error(dev, -errno, "mmap(%zu bytes of staging): %s", len,
				    strerror(errno));
	}
	if (madvise(*buf, len, MADV_DONTFORK)) {
		ret = fp_dev_error(dev, -errno, "madvise(staging, MADV_DONTFORK): %s",
				   strerror(errno));
		goto err_unmap;
	}
	memset(*buf, 0, len);
	ret = vfio_iova_alloc(dev, st, len, st->page, iova);
	if (ret)
		goto err_unmap;
	ret = st->iommu.ops->map(&st->iommu, *buf, len, *iova, true);
	if (ret) {
		vfio_iova_free(st, *iova);
		goto err_unmap;
	}
	return 0;
err_unmap:
	munmap(*buf, len);
	*buf = NULL;
	return ret;
}

static void vfio_unmap_own(struct vfio_state *st, void **buf, size_t len, uint64_t iova)
{
	if (!*buf)
		return;
	st->iommu.ops->unmap(&st->iommu, iova, len);
	vfio_iova_free(st, iova);
	munmap(*buf, len);
	*buf = NULL;
}

/* ---- backend ops ---- */

static size_t vfio_round_up(size_t v, size_t to)
{
	return (v + to - 1) / to * to;
}

static void vfio_close(struct fp_dev *dev)
{
	struct vfio_state *st = dev->priv;

	if (!st)
		return;
	if (st->driver_ready)
		st->pci.driver->remove(&st->pci);
	if (st->iommu_open) {
		vfio_unmap_own(st, &st->region, st->region_len, st->pci.region_iova);
		if (st->staging_mapped)
			vfio_unmap_own(st, &st->staging, st->staging_len, st->staging_iova);
	}
	if (st->pci.fd >= 0)
		close(st->pci.fd);
	if (st->iommu_open)
		st->iommu.ops->close(&st->iommu);
	if (getenv("FORKPIN_VFIO_STATS"))
		fprintf(stderr, "vfio-stats: backend open to close %.1f ms\n",
			(fp_now_ns() - st->open_ns) / 1e6);
	free(st);
	dev->priv = NULL;
}

static const struct vfio_driver *vfio_driver_probe(uint16_t vendor, uint16_t device)
{
	for (size_t i = 0; i < FP_ARRAY_SIZE(vfio_drivers); i++)
		if (vfio_drivers[i]->vendor == vendor && vfio_drivers[i]->device == device)
			return vfio_drivers[i];
	return NULL;
}

/* Entry @i of the --vfio-device list, canonical, into @out (16 bytes); false when the list
 * has no such entry or it is not a PCI address (@out then holds the entry as given). */
static bool vfio_bdf_at(const char *list, unsigned i, char *out, size_t size)
{
	size_t len;

	for (; i > 0 && list; i--)
		list = strchr(list, ',') ? strchr(list, ',') + 1 : NULL;
	if (!list)
		return false;
	len = strcspn(list, ",");
	snprintf(out, size, "%.*s", (int)len, list);
	return len < size && vfio_bdf_parse(out, out, size);
}

/* The devices listed, one unit of vfio_devices each: cases with different units drive
 * different devices (each in its own IOMMU group: a group has one user at a time). */
static unsigned vfio_device_count(void)
{
	const char *p = fp_option_get("vfio-device");
	unsigned n = 1;

	for (; p && (p = strchr(p, ',')); p++)
		n++;
	return n;
}

static const struct fp_resource vfio_devices = {.name = "a --vfio-device",
						.units = vfio_device_count};

/* The --vfio-device list, or NULL with -ENODEV described: open and the plan share it. */
static const char *vfio_devices_given(struct fp_dev *dev)
{
	const char *opt = fp_option_get("vfio-device");

	if (!opt)
		fp_dev_error(dev, -ENODEV,
			     "no VFIO device given: pass --vfio-device BDF or set "
			     "FORKPIN_VFIO_BDF; bind one with " FP_SETUP("vfio-bind") " BDF");
	return opt;
}

/* The IOMMU front end of @dev's row (vfio_modes[]); Type1v2 for the plain vfio row. */
static void vfio_pick_iommu(struct fp_dev *dev, struct vfio_iommu *iommu)
{
	iommu->dev = dev;
	iommu->ops = &vfio_type1_ops;
	for (size_t i = 0; i < FP_ARRAY_SIZE(vfio_modes); i++)
		if (vfio_modes[i].be == dev->be) {
			iommu->ops = vfio_modes[i].ops;
			iommu->mode = vfio_modes[i].mode;
		}
}

/* No device given for this run, or a front end this kernel lacks (iommufd): every open fails
 * alike before it acquires anything. */
static int vfio_plan(struct fp_dev *dev)
{
	struct vfio_iommu iommu = {0};

	if (!vfio_devices_given(dev))
		return -ENODEV;
	vfio_pick_iommu(dev, &iommu);
	return iommu.ops->plan ? iommu.ops->plan(&iommu) : 0;
}

static int vfio_open(struct fp_dev *dev)
{
	const char *opt = vfio_devices_given(dev);
	const struct vfio_driver *drv;
	struct vfio_state *st;
	uint16_t ids[2];
	int ret;

	if (!opt)
		return -ENODEV;
	st = calloc(1, sizeof(*st));
	if (!st)
		return fp_dev_error(dev, -ENOMEM, "calloc failed");
	dev->priv = st;
	st->open_ns = fp_now_ns();
	st->pci.fd = -1;
	st->pci.dev = dev;
	st->pci.bdf = st->bdf;
	vfio_pick_iommu(dev, &st->iommu);
	if (!vfio_bdf_at(opt, dev->unit, st->bdf, sizeof(st->bdf))) {
		ret = fp_dev_error(dev, -EINVAL,
				   "--vfio-device '%s': entry %u is not a PCI address "
				   "(DDDD:BB:DD.F, see lspci -D)",
				   opt, dev->unit);
		goto err;
	}

	ret = st->iommu.ops->open(&st->iommu, st->bdf, &st->pci.fd);
	if (ret)
		goto err;
	st->iommu_open = true;
	ret = vfio_pci_regions(&st->pci);
	if (!ret)
		ret = vfio_pci_config_read(&st->pci, PCI_VENDOR_ID, ids, sizeof(ids));
	if (ret)
		goto err;
	st->pci.vendor = ids[0];
	st->pci.device = ids[1];
	drv = vfio_driver_probe(ids[0], ids[1]);
	if (!drv) {
		ret = fp_dev_error(dev, -ENODEV,
				   "no forkpin vfio driver for %s (%04x:%04x); drivers: edu "
				   "(1234:11e8); see docs/vfio.md to add one",
				   st->bdf, ids[0], ids[1]);
		goto err;
	}
	if (drv->max_transfer < dev->be->limits.max_transfer) {
		ret = fp_dev_error(dev, -ENODEV,
				   "vfio driver %s moves at most %zu bytes, below the backend's "
				   "max_transfer %zu",
				   drv->name, drv->max_transfer, dev->be->limits.max_transfer);
		goto err;
	}
	st->pci.driver = drv;

	st->page = (size_t)sysconf(_SC_PAGESIZE);
	if (st->iommu.pgsize_min > st->page)
		st->page = st->iommu.pgsize_min;
	st->iova_limit = drv->dma_bits >= 64 ? UINT64_MAX : (1ull << drv->dma_bits) - 1;

	st->staging_len = vfio_round_up(drv->max_transfer, st->page);
	ret = vfio_map_own(dev, st, st->staging_len, &st->staging, &st->staging_iova);
	if (ret)
		goto err;
	st->staging_mapped = true;
	if (drv->region_size) {
		st->region_len = vfio_round_up(drv->region_size, st->page);
		ret = vfio_map_own(dev, st, st->region_len, &st->region, &st->pci.region_iova);
		if (ret)
			goto err;
		st->pci.region = st->region;
	}
	ret = drv->init(&st->pci);
	if (ret)
		goto err;
	st->driver_ready = true;
	return 0;
err:
	ret = vfio_lost_since_start(dev, st->bdf, ret);
	vfio_close(dev);
	return ret;
}

static int vfio_reg(struct fp_dev *dev, void *addr, size_t len, enum fp_access access, void **priv)
{
	struct vfio_state *st = dev->priv;
	uintptr_t start = (uintptr_t)addr & ~(uintptr_t)(st->page - 1);
	struct vfio_reg *reg;
	uint64_t align;
	int ret;

	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return fp_dev_error(dev, -ENOMEM, "calloc failed");
	reg->map = (void *)start;
	reg->lead = (uintptr_t)addr - start;
	reg->map_len = vfio_round_up(reg->lead + len, st->page);
	/* Align large ranges to 2 MiB so the IOMMU may use superpages for huge pages. */
	align = reg->map_len >= (2u << 20) ? (2u << 20) : st->page;
	ret = vfio_iova_alloc(dev, st, reg->map_len, align, &reg->iova);
	if (ret)
		goto err;
	ret = st->iommu.ops->map(&st->iommu, reg->map, reg->map_len, reg->iova,
				 access != FP_ACCESS_READ_ONLY);
	if (ret) {
		vfio_iova_free(st, reg->iova);
		goto err;
	}
	*priv = reg;
	return 0;
err:
	free(reg);
	return ret;
}

static int vfio_check_xfer(struct fp_dev *dev, struct vfio_state *st, uint64_t iova, size_t len)
{
	size_t align = st->pci.driver->align;

	if (len == 0 || len > st->pci.driver->max_transfer || (align > 1 && (iova | len) % align))
		return fp_dev_error(dev, -EINVAL,
				    "vfio %s: transfer of %zu bytes at IOVA 0x%llx breaks the "
				    "driver's limits (max %zu, align %zu)",
				    st->pci.driver->name, len, (unsigned long long)iova,
				    st->pci.driver->max_transfer, align);
	return 0;
}

static int vfio_dma_to_host_start(struct fp_dev *dev, void *priv, size_t off, const void *src,
				  size_t len)
{
	struct vfio_state *st = dev->priv;
	struct vfio_reg *reg = priv;
	uint64_t dst = reg->iova + reg->lead + off;
	int ret = vfio_check_xfer(dev, st, dst, len);

	if (ret)
		return ret;
	memcpy(st->staging, src, len);
	return st->pci.driver->to_host_start(&st->pci, st->staging_iova, dst, len);
}

static int vfio_dma_from_host_start(struct fp_dev *dev, void *priv, size_t off, void *dst,
				    size_t len)
{
	struct vfio_state *st = dev->priv;
	struct vfio_reg *reg = priv;
	uint64_t src = reg->iova + reg->lead + off;
	int ret = vfio_check_xfer(dev, st, src, len);

	if (ret)
		return ret;
	/* Poison staging so a transfer that moved nothing cannot pass for a good one. */
	memset(st->staging, 0xa5, len);
	ret = st->pci.driver->from_host_start(&st->pci, src, st->staging_iova, len);
	if (!ret) {
		st->pending_dst = dst;
		st->pending_len = len;
	}
	return ret;
}

static int vfio_dma_wait(struct fp_dev *dev, void *priv)
{
	struct vfio_state *st = dev->priv;
	int ret;

	(void)priv;
	ret = st->pci.driver->wait(&st->pci);
	if (!ret && st->pending_dst)
		memcpy(st->pending_dst, st->staging, st->pending_len);
	st->pending_dst = NULL;
	return ret;
}

static void vfio_dereg(struct fp_dev *dev, void *priv)
{
	struct vfio_state *st = dev->priv;
	struct vfio_reg *reg = priv;

	st->iommu.ops->unmap(&st->iommu, reg->iova, reg->map_len);
	vfio_iova_free(st, reg->iova);
	free(reg);
}

/* Facts about the device, from sysfs only: the main process does not open it. */
static void vfio_fingerprint(struct fp_env *env)
{
	const char *opt = fp_option_get("vfio-device");
	char bdf[16], path[PATH_MAX], target[PATH_MAX], buf[256];
	unsigned long vendor = 0, device = 0;
	const struct vfio_driver *drv;
	ssize_t n;

	if (!opt || !vfio_bdf_at(opt, 0, bdf, sizeof(bdf))) {
		fp_env_set(env, "vfio.device", "%s", opt ? "(malformed)" : "(none given)");
		return;
	}
	/* The first device's facts; the others are copies of it (the test VM's --edu N). */
	fp_env_set(env, "vfio.device", "%s", bdf);
	if (vfio_device_count() > 1)
		fp_env_set(env, "vfio.devices", "%s", opt);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", bdf);
	if (fp_read_line(path, buf, sizeof(buf)) == 0)
		vendor = strtoul(buf, NULL, 16);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", bdf);
	if (fp_read_line(path, buf, sizeof(buf)) == 0)
		device = strtoul(buf, NULL, 16);
	fp_env_set(env, "vfio.device_id", "%04lx:%04lx", vendor, device);
	drv = vfio_driver_probe((uint16_t)vendor, (uint16_t)device);
	fp_env_set(env, "vfio.forkpin_driver", "%s", drv ? drv->name : "(none)");
	if (vfio_bound_driver(bdf, buf, sizeof(buf)) == 0)
		fp_env_set(env, "vfio.kernel_driver", "%s", buf[0] ? buf : "(none)");
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		fp_env_set(env, "vfio.iommu_group", "%s", strrchr(target, '/') + 1);
		snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%s/type",
			 strrchr(target, '/') + 1);
		if (fp_read_line(path, buf, sizeof(buf)) == 0)
			fp_env_set(env, "vfio.iommu_group_type", "%s", buf);
	} else {
		fp_env_set(env, "vfio.iommu_group", "(none)");
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		fp_env_set(env, "vfio.iommu", "%s", strrchr(target, '/') + 1);
	}
	fp_env_set(env, "vfio.iommufd", "%s",
		   access("/dev/iommu", F_OK) == 0 ? "/dev/iommu"
						   : "(absent: kernel without CONFIG_IOMMUFD)");
	if (fp_read_line("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", buf,
			 sizeof(buf)) == 0)
		fp_env_set(env, "vfio.type1_allow_unsafe_interrupts", "%s", buf);
	else
		fp_env_set(env, "vfio.type1_allow_unsafe_interrupts",
			   "(vfio_iommu_type1 not loaded)");
}

static int vfio_check_device(const char *opt, unsigned i, char *err, size_t err_size)
{
	char bdf[16], path[PATH_MAX], drv[256];
	struct stat sb;

	if (!vfio_bdf_at(opt, i, bdf, sizeof(bdf))) {
		snprintf(err, err_size,
			 "--vfio-device '%s': not a PCI address: expected DDDD:BB:DD.F "
			 "(lspci -D lists them)",
			 opt);
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", bdf);
	if (stat(path, &sb)) {
		snprintf(err, err_size,
			 "--vfio-device %s: no such PCI device (%s: %s; lspci -D lists them)", bdf,
			 path, strerror(errno));
		return -EINVAL;
	}
	if (vfio_bound_driver(bdf, drv, sizeof(drv)) || strcmp(drv, "vfio-pci")) {
		snprintf(
		    err, err_size,
		    "--vfio-device %s: bound to %s, not vfio-pci: run " FP_SETUP("vfio-bind") " %s",
		    bdf, drv[0] ? drv : "no driver", bdf);
		return -EINVAL;
	}
	setenv(VFIO_BOUND_AT_START, bdf, 1);
	return 0;
}

static int vfio_check_options(char *err, size_t err_size)
{
	const char *opt = fp_option_get("vfio-device");
	unsigned i;
	int ret = 0;

	if (!opt)
		return 0; /* the cases SKIP and say how to name a device */
	for (i = 0; !ret && i < vfio_device_count(); i++)
		ret = vfio_check_device(opt, i, err, err_size);
	return ret;
}

static const struct fp_backend_ops vfio_ops = {
    .open = vfio_open,
    .reg = vfio_reg,
    .dma_to_host_start = vfio_dma_to_host_start,
    .dma_from_host_start = vfio_dma_from_host_start,
    .dma_wait = vfio_dma_wait,
    .dereg = vfio_dereg,
    .close = vfio_close,
    .fingerprint = vfio_fingerprint,
    .check_options = vfio_check_options,
    .plan = vfio_plan,
};

#define VFIO_CAPS                                                                                  \
	(FP_CAP_PINS | FP_CAP_DMA_TO_HOST | FP_CAP_DMA_FROM_HOST | FP_CAP_QUEUED_DMA |             \
	 FP_CAP_READ_ONLY_PIN | FP_CAP_ANY_MEMORY)
/* edu's limits: 2048 bytes per command, ~100-200 ms per transfer, so a case moves one page
 * each way at most */
#define VFIO_LIMITS                                                                                \
	{                                                                                          \
		.max_transfer = 2048, .max_register = 64u << 20, .case_budget = 4096, .align = 1,  \
	}

/* The three rows share every hook; vfio_modes[] above picks the IOMMU front end. */
const struct fp_backend fp_vfio_backend = {
    .name = "vfio",
    .summary = "VFIO Type1v2 MAP_DMA pin; a PCI device (QEMU edu) DMAs through the IOMMU",
    .caps = VFIO_CAPS,
    .limits = VFIO_LIMITS,
    .ops = &vfio_ops,
    .options = vfio_options,
    .resource = &vfio_devices,
};

const struct fp_backend fp_vfio_type1_backend = {
    .name = "vfio-type1",
    .summary = "vfio with the original VFIO_TYPE1_IOMMU container",
    .caps = VFIO_CAPS,
    .limits = VFIO_LIMITS,
    .ops = &vfio_ops,
    .resource = &vfio_devices,
};

const struct fp_backend fp_vfio_iommufd_backend = {
    .name = "vfio-iommufd",
    .summary = "vfio through iommufd: /dev/iommu IOAS_MAP and the VFIO device cdev (6.6+)",
    .caps = VFIO_CAPS,
    .limits = VFIO_LIMITS,
    .ops = &vfio_ops,
    .resource = &vfio_devices,
};
