/* SPDX-License-Identifier: MIT */
/*
 * Internal interfaces of the vfio backend (src/backends/vfio*.c).
 *
 * Three layers, each behind a small table of functions:
 * - the IOMMU front end (struct vfio_iommu_ops): opens the device's IOMMU context, maps and
 *   unmaps user memory at an IOVA. vfio_type1.c implements the VFIO Type1 container (type1v2
 *   and type1), vfio_iommufd.c the iommufd one (/dev/iommu with the VFIO device cdev); a
 *   new front end is one more file with the same functions.
 * - the PCI device (struct vfio_pci, helpers in vfio.c): config space and BAR access through
 *   the VFIO device fd.
 * - the device driver (struct vfio_driver): what makes one kind of PCI device move data by DMA
 *   (vfio_edu.c for QEMU's edu). Adding a device is one new driver file plus one line in
 *   vfio_drivers[] (vfio.c); see docs/vfio.md.
 */
#ifndef FORKPIN_BACKENDS_VFIO_H
#define FORKPIN_BACKENDS_VFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

#define VFIO_MAX_IOVA_RANGES 16

/* An inclusive range of IOVAs the IOMMU accepts. */
struct vfio_iova_span {
	uint64_t start;
	uint64_t last;
};

struct vfio_iommu_ops;

/* struct vfio_iommu - one open IOMMU context (a Type1 container, or an iommufd IOAS). */
struct vfio_iommu {
	const struct vfio_iommu_ops *ops;
	struct fp_dev *dev; /* where failures are described (fp_dev_error) */
	/* "type1v2", "type1", "iommufd": for messages and the fingerprint. Set before open to
	 * the mode wanted ("type1" makes the Type1 front end use VFIO_TYPE1_IOMMU). */
	const char *mode;
	uint64_t pgsize_min; /* smallest IOMMU page size: IOVA/vaddr/length alignment */
	struct vfio_iova_span ranges[VFIO_MAX_IOVA_RANGES]; /* usable IOVAs, sorted */
	size_t nranges;
	void *priv; /* the front end's state */
};

/*
 * struct vfio_iommu_ops - an IOMMU front end. All return 0 or a negative errno described
 * with fp_dev_error(); -ENODEV means the machine cannot do it (the case SKIPs).
 */
struct vfio_iommu_ops {
	const char *name;
	/*
	 * open - attach the device @bdf (bound to vfio-pci) to a new IOMMU context and return
	 * its VFIO device fd in *@device_fd.
	 * Guarantees: on success ranges/nranges/pgsize_min are filled and nothing is mapped;
	 * on failure nothing is left open.
	 */
	int (*open)(struct vfio_iommu *iommu, const char *bdf, int *device_fd);
	/*
	 * map - make [@vaddr, @vaddr+@len) reachable by the device at @iova; the device may
	 * write it only when @writable. All three are multiples of pgsize_min.
	 * Guarantees: the pages are pinned (FOLL_LONGTERM, FOLL_WRITE only when @writable)
	 * before return and stay the device's view until unmap, whatever happens to the page
	 * tables.
	 */
	int (*map)(struct vfio_iommu *iommu, void *vaddr, size_t len, uint64_t iova, bool writable);
	/* unmap - undo one map exactly (same @iova and @len); unpins. */
	int (*unmap)(struct vfio_iommu *iommu, uint64_t iova, size_t len);
	/* close - release the context (unmaps what is left). Called once after open. */
	void (*close)(struct vfio_iommu *iommu);
	/*
	 * plan - optional: whether this front end can work on this kernel at all, asked once
	 * per run without a device (the per-run SKIP plan, backend.h). 0, or -ENODEV described
	 * exactly as open's first check describes it (the same function decides both); nothing
	 * is left open.
	 */
	int (*plan)(struct vfio_iommu *iommu);
};

extern const struct vfio_iommu_ops vfio_type1_ops;
extern const struct vfio_iommu_ops vfio_iommufd_ops;

/* struct vfio_pci - a PCI device opened through VFIO. */
struct vfio_pci {
	struct fp_dev *dev; /* where failures are described */
	const char *bdf;
	int fd; /* the VFIO device fd */
	uint16_t vendor, device;
	uint64_t config_off; /* file offset of config space in fd */
	struct {
		uint64_t off, size; /* file offset and size of the BAR region; size 0: absent */
	} bar[6];
	const struct vfio_driver *driver;
	void *driver_priv; /* the driver's state */
	/* a DMA-mapped area of driver->region_size bytes for the driver's own use
	 * (descriptors, completion records); NULL when region_size is 0 */
	void *region;
	uint64_t region_iova;
};

/* Config space and BAR access (1, 2, 4 bytes); -errno described on failure. */
int vfio_pci_config_read(struct vfio_pci *pci, unsigned off, void *val, size_t size);
int vfio_pci_config_write(struct vfio_pci *pci, unsigned off, const void *val, size_t size);
int vfio_pci_bar_read32(struct vfio_pci *pci, int bar, uint64_t off, uint32_t *val);
int vfio_pci_bar_write32(struct vfio_pci *pci, int bar, uint64_t off, uint32_t val);
/* Set Memory Space and Bus Master in the command register. */
int vfio_pci_enable_bus_master(struct vfio_pci *pci);

/*
 * struct vfio_driver - makes one kind of PCI device do DMA. One file per driver, ending in
 * one const table; listed once in vfio_drivers[] (vfio.c). The backend checks the call
 * order and the limits below, so drivers need not. All functions return 0 or a negative
 * errno described with fp_dev_error() on pci->dev.
 */
struct vfio_driver {
	const char *name;	 /* "edu" */
	const char *summary;	 /* one line for the fingerprint and docs */
	uint16_t vendor, device; /* PCI IDs this driver probes for */

	/* Limits. */
	size_t max_transfer; /* largest len for *_start */
	size_t align;	     /* IOVAs and len must be multiples of this (1: any) */
	unsigned dma_bits;   /* the device reaches IOVAs below 1 << dma_bits only */
	size_t region_size;  /* bytes of pci->region the driver needs (0: none) */

	/*
	 * init - bring the device up (bus mastering, sanity checks, idle engine) and allocate
	 * driver_priv. Called once after the device fd is open and pci->region is mapped.
	 * Guarantees: on success the engine is idle and ready for *_start; -ENODEV when the
	 * device does not answer like the hardware this driver knows.
	 */
	int (*init)(struct vfio_pci *pci);

	/*
	 * to_host_start - make the device write @len bytes read from @src (an IOVA of
	 * backend-owned staging memory) to @dst (an IOVA of the registration).
	 * Guarantees: returns as soon as the write to @dst is programmed: it may still be in
	 * flight (it must not have been skipped); @src may be read before return; no interrupt;
	 * nothing outside [@dst, @dst+@len) is written.
	 */
	int (*to_host_start)(struct vfio_pci *pci, uint64_t src, uint64_t dst, size_t len);

	/*
	 * from_host_start - make the device read @len bytes at @src (an IOVA of the
	 * registration) and write them to @dst (an IOVA of backend-owned staging memory).
	 * Guarantees: returns as soon as the read of @src is programmed: it may still be in
	 * flight; no interrupt.
	 */
	int (*from_host_start)(struct vfio_pci *pci, uint64_t src, uint64_t dst, size_t len);

	/*
	 * wait - wait for the transfer of the last *_start.
	 * Guarantees: bounded (-ETIMEDOUT, described, when the device misses its deadline);
	 * on 0 every DMA of that transfer has ended and @dst holds the data.
	 */
	int (*wait)(struct vfio_pci *pci);

	/* remove - free driver_priv and leave the engine idle. Called once after init. */
	void (*remove)(struct vfio_pci *pci);
};

extern const struct vfio_driver vfio_edu_driver;

/*
 * Parse a PCI address "DDDD:BB:DD.F" or "BB:DD.F" into the canonical form (lower case,
 * domain included) in @out (at least 13 bytes). False when malformed.
 */
bool vfio_bdf_parse(const char *text, char *out, size_t size);

#endif
