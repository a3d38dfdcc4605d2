/* SPDX-License-Identifier: MIT */
/*
 * The backend registry and the dispatcher. The dispatcher is the one place that checks the
 * contract of struct fp_backend_ops (order of calls, one registration, one outstanding DMA,
 * transfer limits), so every backend gets the same checks and scenarios get -EINVAL with a
 * message instead of undefined behaviour.
 */
#include "backend.h"
#include "backends/registry.h"
#include "node.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Table order is listing and running order: pinning backends first, controls last. */
const struct fp_backend *const fp_backends[] = {
    &fp_iouring_backend,      /* io_uring fixed buffers: any kernel with io_uring */
    &fp_verbs_backend,	      /* ibv_reg_mr + RC loopback RDMA */
    &fp_verbs_odp_backend,    /* on-demand-paging MRs: no pins, MMU notifiers */
    &fp_verbs_remote_backend, /* ibv_reg_mr + a remote node's NIC (forkpin peer) */
    &fp_vfio_backend,	      /* VFIO, VFIO_TYPE1v2_IOMMU, + a DMA engine (edu) */
    &fp_vfio_type1_backend,   /* VFIO, VFIO_TYPE1_IOMMU */
    &fp_vfio_iommufd_backend, /* VFIO, /dev/iommu + VFIO cdev */
    &fp_iommufd_mock_backend, /* iommufd + IOMMUFD_TEST's mock device (no vIOMMU) */
    &fp_guptest_backend,      /* the kernel's gup_test read-only pin (CONFIG_GUP_TEST) */
    &fp_guptest_fast_backend, /* the same through GUP-fast */
    &fp_ofi_backend,	      /* fi_mr_reg + fi_write/fi_read on pinning providers */
    &fp_ofi_api_backend,      /* the same on tcp/shm: API-level checks, no pins */
    &fp_ofi_remote_backend,   /* fi_mr_reg + a remote node's NIC (forkpin peer --ofi) */
    &fp_vmsplice_backend,     /* negative control: page references without pins */
};
const size_t fp_backend_count = sizeof(fp_backends) / sizeof(fp_backends[0]);

const struct fp_backend *fp_backend_find(const char *name)
{
	size_t i;

	for (i = 0; i < fp_backend_count; i++)
		if (!strcmp(fp_backends[i]->name, name))
			return fp_backends[i];
	return NULL;
}

void fp_fingerprint_collect(struct fp_env *env)
{
	size_t i;

	fp_env_collect_host(env);
	fp_env_collect_node(env);
	for (i = 0; i < fp_backend_count; i++) {
		const struct fp_backend *be = fp_backends[i];

		if (be->unavailable)
			fp_env_set(env, be->name, "not built: %s", be->unavailable);
		else if (be->ops->fingerprint)
			be->ops->fingerprint(env);
	}
}

/* Option values given on the command line; the environment is the fallback. */
#define FP_MAX_OPTION_VALUES 32
static struct {
	const char *name, *value;
} option_values[FP_MAX_OPTION_VALUES];
static size_t option_value_count;

int fp_option_set(const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < option_value_count; i++)
		if (!strcmp(option_values[i].name, name)) {
			option_values[i].value = value;
			return 0;
		}
	if (option_value_count == FP_MAX_OPTION_VALUES)
		return -ENOSPC;
	option_values[option_value_count].name = name;
	option_values[option_value_count++].value = value;
	return 0;
}

const struct fp_option *fp_option_find(const char *name)
{
	size_t i;
	const struct fp_option *o;

	for (i = 0; i < fp_backend_count; i++)
		for (o = fp_backends[i]->options; o && o->name; o++)
			if (!strcmp(o->name, name))
				return o;
	return NULL;
}

const char *fp_option_get(const char *name)
{
	const struct fp_option *o;
	size_t i;

	for (i = 0; i < option_value_count; i++)
		if (!strcmp(option_values[i].name, name))
			return option_values[i].value;
	o = fp_option_find(name);
	if (o && o->env && getenv(o->env) && *getenv(o->env))
		return getenv(o->env);
	return NULL;
}

int fp_dev_error(struct fp_dev *dev, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dev->error, sizeof(dev->error), fmt, ap);
	va_end(ap);
	return err;
}

int fp_dev_plan(struct fp_dev *dev, const struct fp_backend *be)
{
	int err;

	memset(dev, 0, sizeof(*dev));
	dev->be = be;
	if (be->unavailable)
		return fp_dev_error(dev, -ENODEV, "%s", be->unavailable);
	if (!be->ops->plan)
		return 0;
	err = be->ops->plan(dev);
	/* only -ENODEV with its message plans a SKIP: anything else leaves it to each case */
	return err == -ENODEV && dev->error[0] ? err : 0;
}

int fp_dev_open(struct fp_dev *dev, const struct fp_backend *be)
{
	return fp_dev_open_unit(dev, be, 0);
}

int fp_dev_open_unit(struct fp_dev *dev, const struct fp_backend *be, unsigned unit)
{
	int err;

	memset(dev, 0, sizeof(*dev));
	dev->be = be;
	dev->unit = unit;
	if (be->unavailable)
		return fp_dev_error(dev, -ENODEV, "%s", be->unavailable);
	err = be->ops->open(dev);
	if (err) {
		if (!dev->error[0])
			fp_dev_error(dev, err, "%s: open failed: %s", be->name, strerror(-err));
		dev->be = NULL;
	}
	return err;
}

static int check_open(struct fp_dev *dev, const char *op)
{
	if (!dev->be)
		return fp_dev_error(dev, -EINVAL, "%s before a successful open", op);
	return 0;
}

int fp_dev_register(struct fp_dev *dev, void *addr, size_t len, enum fp_access access)
{
	const struct fp_limits *lim;
	int err = check_open(dev, "register");

	if (err)
		return err;
	lim = &dev->be->limits;
	if (dev->reg_addr)
		return fp_dev_error(dev, -EBUSY, "register: a registration is already live");
	if (lim->max_register && len > lim->max_register)
		return fp_dev_error(dev, -ENODEV,
				    "%s registers at most %zu bytes, the buffer has %zu",
				    dev->be->name, lim->max_register, len);
	if (access == FP_ACCESS_READ_ONLY && !(dev->be->caps & FP_CAP_READ_ONLY_PIN))
		return fp_dev_error(dev, -ENODEV, "%s cannot register read-only", dev->be->name);
	err = dev->be->ops->reg(dev, addr, len, access, &dev->reg);
	if (err) {
		if (!dev->error[0])
			fp_dev_error(dev, err, "%s: register failed: %s", dev->be->name,
				     strerror(-err));
		return err;
	}
	dev->reg_addr = addr;
	dev->reg_len = len;
	return 0;
}

static int check_transfer(struct fp_dev *dev, const char *op, unsigned cap, size_t off, size_t len)
{
	const struct fp_limits *lim;
	int err = check_open(dev, op);

	if (err)
		return err;
	lim = &dev->be->limits;
	if (!(dev->be->caps & cap))
		return fp_dev_error(dev, -EOPNOTSUPP, "%s: %s cannot do this", op, dev->be->name);
	if (!dev->reg_addr)
		return fp_dev_error(dev, -EINVAL, "%s without a live registration", op);
	if (dev->dma_outstanding)
		return fp_dev_error(dev, -EBUSY, "%s while a DMA is outstanding", op);
	if (!len || off > dev->reg_len || len > dev->reg_len - off)
		return fp_dev_error(dev, -EINVAL, "%s: [%zu, +%zu) outside the %zu-byte range", op,
				    off, len, dev->reg_len);
	if (len > lim->max_transfer)
		return fp_dev_error(dev, -EINVAL, "%s: %zu bytes exceed max_transfer %zu", op, len,
				    lim->max_transfer);
	if (lim->align > 1 && (off % lim->align || len % lim->align))
		return fp_dev_error(dev, -EINVAL, "%s: offset/length not %zu-aligned", op,
				    lim->align);
	return 0;
}

int fp_dev_dma_to_host_start(struct fp_dev *dev, size_t off, const void *src, size_t len)
{
	int err = check_transfer(dev, "dma_to_host", FP_CAP_DMA_TO_HOST, off, len);

	if (!err)
		err = dev->be->ops->dma_to_host_start(dev, dev->reg, off, src, len);
	if (!err)
		dev->dma_outstanding = true;
	return err;
}

int fp_dev_dma_from_host_start(struct fp_dev *dev, size_t off, void *dst, size_t len)
{
	int err = check_transfer(dev, "dma_from_host", FP_CAP_DMA_FROM_HOST, off, len);

	if (!err)
		err = dev->be->ops->dma_from_host_start(dev, dev->reg, off, dst, len);
	if (!err)
		dev->dma_outstanding = true;
	return err;
}

int fp_dev_dma_wait(struct fp_dev *dev)
{
	if (!dev->dma_outstanding)
		return fp_dev_error(dev, -EINVAL, "dma_wait without an outstanding DMA");
	dev->dma_outstanding = false;
	return dev->be->ops->dma_wait(dev, dev->reg);
}

int fp_dev_dma_to_host(struct fp_dev *dev, size_t off, const void *src, size_t len)
{
	size_t max = dev->be ? dev->be->limits.max_transfer : len;
	size_t done;

	for (done = 0; done < len; done += max) {
		size_t n = len - done < max ? len - done : max;
		int err = fp_dev_dma_to_host_start(dev, off + done, (const char *)src + done, n);

		if (!err)
			err = fp_dev_dma_wait(dev);
		if (err)
			return err;
	}
	return 0;
}

int fp_dev_dma_from_host(struct fp_dev *dev, size_t off, void *dst, size_t len)
{
	size_t max = dev->be ? dev->be->limits.max_transfer : len;
	size_t done;

	for (done = 0; done < len; done += max) {
		size_t n = len - done < max ? len - done : max;
		int err = fp_dev_dma_from_host_start(dev, off + done, (char *)dst + done, n);

		if (!err)
			err = fp_dev_dma_wait(dev);
		if (err)
			return err;
	}
	return 0;
}

void fp_dev_deregister(struct fp_dev *dev)
{
	if (!dev->be || !dev->reg_addr)
		return;
	if (dev->dma_outstanding)
		fp_dev_dma_wait(dev);
	dev->be->ops->dereg(dev, dev->reg);
	dev->reg = NULL;
	dev->reg_addr = NULL;
	dev->reg_len = 0;
}

void fp_dev_close(struct fp_dev *dev)
{
	if (!dev->be)
		return;
	fp_dev_deregister(dev);
	dev->be->ops->close(dev);
	dev->be = NULL;
}
