/* SPDX-License-Identifier: MIT */
/*
 * vfio driver for QEMU's `edu` educational PCI device (1234:11e8, hw/misc/edu.c,
 * `-device edu`): a real DMA engine behind QEMU's virtual IOMMU, so its DMA goes through the
 * IOVA mappings (and the pinned pages) exactly as a real device's would.
 *
 * The engine copies between host memory and a 4 KiB buffer inside the device (device address
 * 0x40000). A host-to-host copy is therefore two DMA commands ("hops"):
 *   to host:   staging -> edu buffer (done before to_host_start returns),
 *              edu buffer -> registration (programmed and left in flight);
 *   from host: registration -> edu buffer (programmed and left in flight),
 *              edu buffer -> staging (done in wait).
 * The hop that touches the registration is the one left in flight, so the device really
 * accesses the pinned pages after *_start has returned (the in-flight scenarios).
 *
 * Quirks (QEMU 7.2):
 * - A command completes from a QEMU_CLOCK_VIRTUAL timer ~100 ms after it is written; there
 *   is no faster path. Completion is polled: bit 0 of the command register clears.
 * - The range check on the internal buffer is off by one: a transfer that reaches the end of
 *   the buffer (4096 bytes at offset 0) aborts QEMU with hw_error(). Transfers use offset 0
 *   and at most 2048 bytes.
 * - DMA addresses are masked to 28 bits (edu's dma_mask): IOVAs must be below 256 MiB.
 * - Writes to the DMA registers are silently ignored while a command runs: init waits for
 *   the engine to go idle (a previous case may have been killed mid-transfer).
 * - Bus mastering is off after vfio-pci opens the device: init sets it in config space.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util.h"
#include "vfio.h"

#define EDU_REG_ID	0x00 /* reads 0x010000ed: major 1, minor 0, 0xed */
#define EDU_REG_LIVE	0x04 /* reads back the bitwise NOT of what was written */
#define EDU_REG_DMA_SRC 0x80
#define EDU_REG_DMA_DST 0x88
#define EDU_REG_DMA_CNT 0x90
#define EDU_REG_DMA_CMD 0x98

#define EDU_CMD_RUN	0x1 /* set to start; cleared by the device when the copy is done */
#define EDU_CMD_TO_HOST 0x2 /* direction: 0 host -> edu buffer, 1 edu buffer -> host */

#define EDU_BUF_ADDR 0x40000 /* the internal buffer's device address */
#define EDU_MAX_XFER 2048    /* see the off-by-one quirk above */
#define EDU_DMA_BITS 28

/* Bound on one hop: the timer is 100 ms, but a loaded TCG host can be slow to run it. */
#define EDU_HOP_TIMEOUT_MS 5000
#define EDU_POLL_US	   1000

struct edu_state {
	/* a from_host transfer whose second hop (edu buffer -> staging) wait must still do */
	bool second_hop;
	uint64_t second_dst;
	size_t second_len;
	/* statistics for FORKPIN_VFIO_STATS: hops run and time spent waiting for them */
	unsigned hops;
	uint64_t wait_ns;
};

static struct edu_state *to_edu(struct vfio_pci *pci)
{
	return pci->driver_priv;
}

/* Poll until the command register's RUN bit clears; bounded. */
static int edu_poll_idle(struct vfio_pci *pci, const char *what)
{
	uint64_t start = fp_now_ns(), deadline = start + EDU_HOP_TIMEOUT_MS * 1000000ull;
	struct timespec pause = {.tv_nsec = EDU_POLL_US * 1000};
	uint32_t cmd;
	int ret;

	for (;;) {
		ret = vfio_pci_bar_read32(pci, 0, EDU_REG_DMA_CMD, &cmd);
		if (ret)
			return ret;
		if (!(cmd & EDU_CMD_RUN))
			break;
		if (fp_now_ns() > deadline)
			return fp_dev_error(
			    pci->dev, -ETIMEDOUT,
			    "edu %s: %s: DMA command register still 0x%x after %d ms "
			    "(the QEMU edu timer did not fire)",
			    pci->bdf, what, cmd, EDU_HOP_TIMEOUT_MS);
		nanosleep(&pause, NULL);
	}
	if (to_edu(pci))
		to_edu(pci)->wait_ns += fp_now_ns() - start;
	return 0;
}

/* Program one DMA command and start it; the engine must be idle. */
static int edu_kick(struct vfio_pci *pci, uint64_t src, uint64_t dst, size_t len, bool to_host)
{
	int ret;

	/* 32-bit register writes: the 6.1 vfio-pci splits 8-byte accesses, and edu ignores
	 * the upper half at +4. Every address here is below 1 << EDU_DMA_BITS. */
	ret = vfio_pci_bar_write32(pci, 0, EDU_REG_DMA_SRC, (uint32_t)src);
	if (!ret)
		ret = vfio_pci_bar_write32(pci, 0, EDU_REG_DMA_DST, (uint32_t)dst);
	if (!ret)
		ret = vfio_pci_bar_write32(pci, 0, EDU_REG_DMA_CNT, (uint32_t)len);
	if (!ret)
		ret = vfio_pci_bar_write32(pci, 0, EDU_REG_DMA_CMD,
					   EDU_CMD_RUN | (to_host ? EDU_CMD_TO_HOST : 0));
	if (!ret)
		to_edu(pci)->hops++;
	return ret;
}

static int edu_init(struct vfio_pci *pci)
{
	struct edu_state *st;
	uint32_t id, live;
	int ret;

	if (pci->bar[0].size < 0x100)
		return fp_dev_error(pci->dev, -ENODEV, "edu %s: BAR0 missing or too small",
				    pci->bdf);
	ret = vfio_pci_bar_read32(pci, 0, EDU_REG_ID, &id);
	if (ret)
		return ret;
	if ((id & 0xff) != 0xed)
		return fp_dev_error(pci->dev, -ENODEV,
				    "edu %s: identification register reads 0x%08x, expected "
				    "0x......ed: not QEMU's edu device",
				    pci->bdf, id);
	ret = vfio_pci_bar_write32(pci, 0, EDU_REG_LIVE, 0x5a5aa5a5);
	if (!ret)
		ret = vfio_pci_bar_read32(pci, 0, EDU_REG_LIVE, &live);
	if (ret)
		return ret;
	if (live != ~0x5a5aa5a5u)
		return fp_dev_error(pci->dev, -ENODEV,
				    "edu %s: liveness check read 0x%08x, expected 0x%08x", pci->bdf,
				    live, ~0x5a5aa5a5u);
	ret = vfio_pci_enable_bus_master(pci);
	if (ret)
		return ret;
	ret = edu_poll_idle(pci, "init");
	if (ret)
		return ret;
	st = calloc(1, sizeof(*st));
	if (!st)
		return fp_dev_error(pci->dev, -ENOMEM, "calloc failed");
	pci->driver_priv = st;
	return 0;
}

static int edu_to_host_start(struct vfio_pci *pci, uint64_t src, uint64_t dst, size_t len)
{
	int ret;

	/* Hop 1, synchronous: staging -> edu buffer. */
	ret = edu_kick(pci, src, EDU_BUF_ADDR, len, false);
	if (!ret)
		ret = edu_poll_idle(pci, "staging -> edu");
	/* Hop 2, left in flight: edu buffer -> the registration. */
	if (!ret)
		ret = edu_kick(pci, EDU_BUF_ADDR, dst, len, true);
	return ret;
}

static int edu_from_host_start(struct vfio_pci *pci, uint64_t src, uint64_t dst, size_t len)
{
	struct edu_state *st = to_edu(pci);

	/* Hop 1, left in flight: the registration -> edu buffer; wait does hop 2. */
	st->second_hop = true;
	st->second_dst = dst;
	st->second_len = len;
	return edu_kick(pci, src, EDU_BUF_ADDR, len, false);
}

static int edu_wait(struct vfio_pci *pci)
{
	struct edu_state *st = to_edu(pci);
	int ret;

	ret = edu_poll_idle(pci, "transfer");
	if (ret || !st->second_hop)
		return ret;
	/* Hop 2 of a from-host transfer: edu buffer -> staging. */
	st->second_hop = false;
	ret = edu_kick(pci, EDU_BUF_ADDR, st->second_dst, st->second_len, true);
	if (!ret)
		ret = edu_poll_idle(pci, "edu -> staging");
	return ret;
}

static void edu_remove(struct vfio_pci *pci)
{
	struct edu_state *st = to_edu(pci);

	if (!st)
		return;
	/* Never leave a command running into mappings that are about to go away. */
	(void)edu_poll_idle(pci, "remove");
	if (getenv("FORKPIN_VFIO_STATS"))
		fprintf(stderr,
			"vfio-stats: edu %s: %u DMA hops, %.1f ms waiting for the edu timer\n",
			pci->bdf, st->hops, st->wait_ns / 1e6);
	free(st);
	pci->driver_priv = NULL;
}

const struct vfio_driver vfio_edu_driver = {
    .name = "edu",
    .summary = "QEMU edu (1234:11e8): 4 KiB buffer DMA engine, ~100 ms per command",
    .vendor = 0x1234,
    .device = 0x11e8,
    .max_transfer = EDU_MAX_XFER,
    .align = 1,
    .dma_bits = EDU_DMA_BITS,
    .region_size = 0,
    .init = edu_init,
    .to_host_start = edu_to_host_start,
    .from_host_start = edu_from_host_start,
    .wait = edu_wait,
    .remove = edu_remove,
};
