/* SPDX-License-Identifier: MIT */
/*
 * The backend interface: one way of registering memory for device DMA and of making a device
 * move data into and out of that memory.
 *
 * A backend is one file under src/backends/ that ends in one `const struct fp_backend`.
 * Scenarios only call the fp_dev_*() dispatcher (backends.c), never a backend directly, and
 * never test a backend's name: they ask for capabilities (enum fp_caps) in their table row.
 * The dispatcher checks the call order and the limits once, so backends need not.
 */
#ifndef FORKPIN_BACKEND_H
#define FORKPIN_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "env.h"
#include "resource.h"

/* Capability bits: what a backend can do. Scenarios and memory types state what they need. */
enum fp_caps {
	/* register takes long-term pins (FOLL_PIN | FOLL_LONGTERM): the kernel's fork guarantee
	 * (early COW of maybe-pinned pages) applies. Backends without it are API checks or
	 * negative controls. */
	FP_CAP_PINS = 1u << 0,
	/* the device can write into the registered range (DMA to host) */
	FP_CAP_DMA_TO_HOST = 1u << 1,
	/* the device can read the registered range (DMA from host) */
	FP_CAP_DMA_FROM_HOST = 1u << 2,
	/* a DMA can be programmed before the data moves: *_start returns with the transfer
	 * queued and the data moves later, at the latest during dma_wait (in-flight scenario) */
	FP_CAP_QUEUED_DMA = 1u << 3,
	/* register honours FP_ACCESS_READ_ONLY with a read-only pin (no FOLL_WRITE) */
	FP_CAP_READ_ONLY_PIN = 1u << 4,
	/* the mapping behind a registration may be any memory type (hugetlb, shmem, file) */
	FP_CAP_ANY_MEMORY = 1u << 5,
};

/* How a range is registered. */
enum fp_access {
	FP_ACCESS_READ_WRITE = 0, /* device may read and write the range */
	FP_ACCESS_READ_ONLY = 1,  /* device only reads: a read-only pin where supported */
};

/* Limits a backend reports; the dispatcher enforces them. */
struct fp_limits {
	/* largest single transfer; the dispatcher splits longer synchronous transfers */
	size_t max_transfer;
	/* largest range one registration may cover (0: no limit) */
	size_t max_register;
	/* bytes a case should move at most, so one case stays well inside its watchdog
	 * (a slow engine such as QEMU's edu needs ~100 ms per transfer); 0: no limit */
	size_t case_budget;
	/* required alignment of offsets and lengths of a transfer (1: none) */
	size_t align;
};

struct fp_dev;
struct fp_reg;

/*
 * struct fp_backend_ops - what a backend implements. All functions return 0 or a negative
 * errno; on failure they describe the cause with fp_dev_error() (call, errno, how to fix).
 * A missing capability or device is -ENODEV (the case is a SKIP, with the message as reason).
 */
struct fp_backend_ops {
	/*
	 * open - acquire the device and any staging resources (queues, source buffers).
	 * @dev: dispatcher-owned handle; store private state in dev->priv.
	 * Called: once per case, in the case's own process, before any other op. Other cases
	 * may run at the same time in other processes (`forkpin run --jobs N`), except those
	 * holding the same unit of a resource (resource.h): a backend whose device or kernel
	 * state admits one user at a time declares one in its row and uses unit dev->unit.
	 * Guarantees: on success the device is ready for register; on failure nothing is left
	 * allocated. -ENODEV when there is no usable device (SKIP).
	 */
	int (*open)(struct fp_dev *dev);

	/*
	 * reg - register [addr, addr+len) for DMA with @access.
	 * Called: after open; at most one registration is live per case.
	 * Guarantees: on success, when FP_CAP_PINS is set, the pages are pinned as the device
	 * will see them (the physical pages the process maps now); later DMA through @reg goes
	 * to exactly those pages, whatever happens to the page tables.
	 * Stores the backend's registration state in *@priv.
	 */
	int (*reg)(struct fp_dev *dev, void *addr, size_t len, enum fp_access access, void **priv);

	/*
	 * dma_to_host_start - program the device to write @len bytes of @src into the
	 * registered range at @off.
	 * Called: with a live registration, no DMA outstanding, @len <= max_transfer.
	 * Guarantees: @src is copied into backend-owned staging before return (the caller may
	 * reuse it); the data lands in the pinned pages no later than when dma_wait returns 0;
	 * nothing outside [off, off+len) of the range is written.
	 */
	int (*dma_to_host_start)(struct fp_dev *dev, void *reg, size_t off, const void *src,
				 size_t len);

	/*
	 * dma_from_host_start - program the device to read @len bytes of the registered range
	 * at @off.
	 * Called: as dma_to_host_start.
	 * Guarantees: when dma_wait returns 0, @dst holds what the device read from the pinned
	 * pages; @dst must stay valid until then.
	 */
	int (*dma_from_host_start)(struct fp_dev *dev, void *reg, size_t off, void *dst,
				   size_t len);

	/*
	 * dma_wait - wait for the outstanding DMA to complete.
	 * Called: after one *_start that returned 0.
	 * Guarantees: bounded in time (a device that does not complete within the backend's
	 * own deadline is -ETIMEDOUT, described); returns after all DMA has ended.
	 */
	int (*dma_wait)(struct fp_dev *dev, void *reg);

	/*
	 * dereg - release the registration (unpin).
	 * Called: for every successful reg, also on error paths, before close.
	 */
	void (*dereg)(struct fp_dev *dev, void *reg);

	/* close - release everything open acquired. Called once, also after failures. */
	void (*close)(struct fp_dev *dev);

	/*
	 * fingerprint - add what identifies this backend's stack (library versions, device
	 * names, firmware) to @env. Called in the main process, once per run; must not fail.
	 */
	void (*fingerprint)(struct fp_env *env);

	/*
	 * check_options - validate this backend's options before any case runs (unknown device,
	 * malformed BDF, port down). Called once in the main process when a selected case uses
	 * the backend. Returns 0, or -EINVAL with a one-line message in @err naming the fix
	 * (forkpin exits 2). Optional.
	 */
	int (*check_options)(char *err, size_t err_size);

	/*
	 * spawn - start one case process of this backend from a process the backend prepared
	 * once per run (a zygote that has already paid a library's start-up, e.g. libfabric's
	 * ~0.5 s), instead of the runner's fork(). Optional.
	 * Called: in the main process by the runner, once per case, in place of fork(); the
	 * runner is a child subreaper (PR_SET_CHILD_SUBREAPER) by then.
	 * The new process runs @body(copy of the @arg_size bytes at @arg, its copy of @fd) and
	 * never returns from it; @arg must hold no pointer to memory allocated or changed after
	 * check_options (the zygote may be forked there; pointers to static tables are fine).
	 * Guarantees: returns the new process's pid, a child of the caller (waitpid, setpgid and
	 * PR_SET_PDEATHSIG work as after fork()), started only after it became the caller's
	 * child, holding no kernel object the zygote's start-up created (no device file, no
	 * socket, no extra thread);
	 * or a negative errno when it cannot (no zygote, zygote gone): the runner then forks.
	 */
	int (*spawn)(void (*body)(void *arg, int fd), const void *arg, size_t arg_size, int fd);

	/*
	 * plan - find out once per run whether open can succeed at all here: the per-run SKIP
	 * plan, so that a backend with no device does not fork one process per case only to
	 * SKIP. Optional (without it, every case opens and finds out for itself).
	 * @dev: a handle with be set, unit 0 and no priv; describe with fp_dev_error() as open
	 * does.
	 * Called: once per run, before the first case starts, after check_options, in a
	 * short-lived probe process forked from the main process (so it may load libraries
	 * and open devices: nothing it does outlives that process, and the main process never
	 * loads rdma-core or opens a device for it); it sees the environment check_options set.
	 * Returns 0 when cases may run (each case process still opens its own device), or
	 * -ENODEV when the capability is missing for the whole run; anything else counts as 0.
	 * Guarantees: -ENODEV only when open, in any case process of this run, whatever its
	 * memory type, scenario and unit, would fail with -ENODEV and the same message before
	 * it acquires anything (the same function decides both), for a reason the run itself
	 * does not change (no device, an option not given, a kernel feature absent). The
	 * runner then starts no process for the backend's cases: each is reported as that
	 * case's open would have made it, a SKIP with this message, or the SKIP of its memory
	 * type when the memory type's mapping SKIPs first (the probe maps each memory type
	 * once, the same way the case would; a mapping that fails otherwise runs its cases).
	 */
	int (*plan)(struct fp_dev *dev);
};

/*
 * struct fp_option - a command-line option a backend adds to `forkpin run/list/env`
 * (fio-style option tables). The CLI builds its long options from every backend's table.
 */
struct fp_option {
	const char *name; /* long option without dashes, e.g. "device" */
	const char *arg;  /* metavariable for the help ("NAME[:PORT]"), NULL for a flag */
	const char *env;  /* environment variable that sets it too, or NULL */
	const char *help; /* one line */
};

/* The value of option @name from the command line (else its env var), "1" for a set flag,
 * or NULL when not given. Usable in every process of a run. */
const char *fp_option_get(const char *name);
/* Set an option's value from the command line (the CLI's side of fp_option_get). */
int fp_option_set(const char *name, const char *value);
/* The option table entry called @name across all backends, or NULL. */
const struct fp_option *fp_option_find(const char *name);

/* struct fp_backend - one row of the backends[] table (backends.c). */
struct fp_backend {
	const char *name;    /* the CLI word and the first part of a case id */
	const char *summary; /* one line for `forkpin list` */
	unsigned caps;	     /* enum fp_caps */
	struct fp_limits limits;
	/* non-NULL: every case of this backend is a negative control that must be detected;
	 * the text says why it must fail */
	const char *control;
	/* non-NULL: compiled without the library this backend needs; the text says how to get
	 * it. Its cases are listed and SKIP with this reason. */
	const char *unavailable;
	const struct fp_backend_ops *ops;
	const struct fp_option *options; /* terminated by a zeroed entry; may be NULL */
	/* what its cases share and must not use two at a time (the device, a kernel-global pin
	 * slot), or NULL when cases can run side by side; resource.h has the guarantees */
	const struct fp_resource *resource;
};

/* struct fp_dev - the dispatcher's handle for one open backend in one case. */
struct fp_dev {
	const struct fp_backend *be;
	unsigned unit;	/* the unit of be->resource this case holds (resource.h), else 0 */
	void *priv;	/* the backend's private state */
	void *reg;	/* the live registration, or NULL */
	void *reg_addr; /* its range */
	size_t reg_len;
	bool dma_outstanding; /* a *_start returned 0 and dma_wait has not run */
	char error[512];      /* the last failure, described */
	char note[128];	      /* set by open: what the case ran on (e.g. which provider), shown
			       * as the case's note */
};

/* Record why the last operation failed; returns @err (a negative errno) for tail calls. */
int fp_dev_error(struct fp_dev *dev, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The registry. */
extern const struct fp_backend *const fp_backends[];
extern const size_t fp_backend_count;
const struct fp_backend *fp_backend_find(const char *name);
/* The whole environment fingerprint: the host's facts, then each backend's (or why it was
 * not built). */
void fp_fingerprint_collect(struct fp_env *env);

/* The backend's per-run SKIP plan (ops->plan): 0 when its cases may run, or -ENODEV with
 * dev->error, also for a backend built without its library (be->unavailable). Call it in a
 * probe process: ops->plan may load libraries and open devices. */
int fp_dev_plan(struct fp_dev *dev, const struct fp_backend *be);

/* Dispatcher: the only way scenarios reach a backend. Each checks order and limits. */
int fp_dev_open(struct fp_dev *dev, const struct fp_backend *be);
/* The same, holding @unit of be->resource (the runner's; fp_dev_open() holds unit 0). */
int fp_dev_open_unit(struct fp_dev *dev, const struct fp_backend *be, unsigned unit);
int fp_dev_register(struct fp_dev *dev, void *addr, size_t len, enum fp_access access);
int fp_dev_dma_to_host_start(struct fp_dev *dev, size_t off, const void *src, size_t len);
int fp_dev_dma_from_host_start(struct fp_dev *dev, size_t off, void *dst, size_t len);
int fp_dev_dma_wait(struct fp_dev *dev);
/* Synchronous transfers of any length, split at max_transfer. */
int fp_dev_dma_to_host(struct fp_dev *dev, size_t off, const void *src, size_t len);
int fp_dev_dma_from_host(struct fp_dev *dev, size_t off, void *dst, size_t len);
void fp_dev_deregister(struct fp_dev *dev);
/* Deregisters a live registration (after waiting for DMA), then closes. Idempotent. */
void fp_dev_close(struct fp_dev *dev);

#endif
