/* SPDX-License-Identifier: MIT */
/*
 * The libfabric backends: memory registered with fi_mr_reg, and a libfabric provider moving
 * data into and out of it with RMA, the way MPI, SHMEM and the NCCL/RCCL plugins reach a NIC.
 *
 * One reliable-datagram (FI_EP_RDM) endpoint per case, talking to itself: its own address
 * (fi_getname) is inserted into its address vector, so every transfer is a loopback through
 * the provider and, for NIC providers, through the NIC.
 *   DMA to host   = fi_write from a backend-owned staging buffer into the case's MR;
 *   DMA from host = fi_read from the case's MR into the staging buffer, copied out at dma_wait.
 * The operation is posted in *_start and its completion is read from the CQ in dma_wait,
 * bounded by a deadline; writes ask for FI_DELIVERY_COMPLETE, so a completion means the data
 * is in the target memory. Queued DMA (the in-flight scenario) needs the data to move after
 * the fork: ofi-api asks for FI_PROGRESS_MANUAL data progress, under which the target side
 * moves data only while the application drives progress (fi_cq_read in dma_wait), so it has
 * FP_CAP_QUEUED_DMA. A NIC with RMA offload (verbs, efa) executes the RMA as soon as it is
 * posted and libfabric has no portable way to hold it back (the verbs backend's RNR gate has
 * no libfabric equivalent), so the ofi row does not claim it.
 *
 * The provider's mr_mode decides how MRs are used, not an assumption: FI_MR_LOCAL (the
 * staging buffer is registered and its descriptor passed), FI_MR_VIRT_ADDR (RMA addresses are
 * virtual addresses, else offsets into the MR), FI_MR_PROV_KEY (the key comes from
 * fi_mr_key, else forkpin chooses it), FI_MR_ENDPOINT (MRs are bound to the endpoint and
 * enabled), FI_MR_ALLOCATED (every registered page is mapped and faulted in already).
 *
 * Two rows share the hooks, because whether a provider pins is a property of the provider:
 *   ofi      - providers whose fi_mr_reg takes long-term pins through a kernel driver
 *              (verbs, efa, ...): a real DMA proof, FP_CAP_PINS;
 *   ofi-api  - providers that move data with the CPU (tcp, shm, sockets, ...): the same
 *              cases as API-level checks of fi_mr_reg/fi_write/fi_read across fork, not DMA
 *              proofs. Their case note says so.
 * --ofi-provider picks the provider; the row that does not match it SKIPs naming the other.
 * Without it each row takes the first provider fi_getinfo returns with FI_RMA on an RDM
 * endpoint whose pinning matches the row, and the case note names it.
 *
 * Fork: providers may install pthread_atfork handlers when a domain opens; EFA's aborts the
 * forking process unless FI_EFA_FORK_SAFE=1 or rdma-core reports fork UNNEEDED. Before the
 * case opens its own domain, open() forks a probe process that opens the same fabric and
 * domain and forks once: a probe killed by SIGABRT means the provider refuses fork(), and the
 * case fails with that reason instead of dying with a bare "signal 6" in its first fork.
 * libfabric is only ever initialised in case and probe processes: the main process queries
 * providers in a child too (fingerprint, check_options), so provider initialisation (verbs
 * calls ibv_fork_init() unless FI_FORK_UNSAFE is set) never leaks into other backends' cases.
 */
#define _GNU_SOURCE
#include "registry.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct fp_option ofi_options[] = {
    {
	.name = "ofi-provider",
	.arg = "NAME",
	.env = "FORKPIN_OFI_PROVIDER",
	.help = "ofi: libfabric provider, e.g. 'verbs;ofi_rxm', efa, tcp, shm (default: the "
		"first with FI_RMA whose pinning matches the row)",
    },
    {0},
};

#define OFI_CAPS (FP_CAP_DMA_TO_HOST | FP_CAP_DMA_FROM_HOST | FP_CAP_ANY_MEMORY)
/* one RMA operation per transfer; the staging buffer is this large */
#define OFI_MAX_TRANSFER (1u << 20)
/* soft-RoCE under QEMU TCG moves ~30 MB/s: keep a case to a few seconds of traffic */
#define OFI_CASE_BUDGET (64u << 20)

#if HAVE_LIBFABRIC

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "../util.h"
#include "ofi_kallsyms.h"
#include "ofi_lib.h"
#include "ofi_zygote.h"

/* Bound for one completion, for the fork probe and for a query child. */
#define OFI_DEADLINE_MS 5000
/* The mr_mode bits forkpin knows how to honour; it asks for no others. */
#define OFI_MR_MODES                                                                               \
	(FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY | FI_MR_ENDPOINT)
/* Keys forkpin chooses when the provider does not (no FI_MR_PROV_KEY). */
#define OFI_STAGING_KEY 0xf0
#define OFI_BUFFER_KEY	0xf1

/* The steps of open(), timed for FORKPIN_OFI_STATS. */
enum ofi_stage { OFI_LOAD, OFI_GETINFO, OFI_PROBE, OFI_DOMAIN, OFI_ENDPOINT, OFI_STAGES };
static const char *const ofi_stage_names[OFI_STAGES] = {"load", "getinfo", "fork-probe", "domain",
							"endpoint"};

/* struct ofi_state - one open backend in one case process (dev->priv). */
struct ofi_state {
	struct fi_info *info; /* the chosen provider entry (fi_dupinfo) */
	uint64_t mr_mode;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_av *av;
	struct fid_cq *cq;
	struct fid_ep *ep;
	fi_addr_t self; /* the endpoint's own address in the AV: every transfer is loopback */
	void *staging;	/* backend-owned source/sink of every transfer (MAP_SHARED) */
	size_t staging_len;
	struct fid_mr *staging_mr; /* only with FI_MR_LOCAL */
	/* the outstanding operation, between *_start and dma_wait */
	bool posted;
	bool read; /* fi_read: dma_wait copies the staging data to dst */
	void *dst;
	size_t off, len;
	struct fi_context2 ctx; /* FI_CONTEXT/FI_CONTEXT2 space for the provider */
	/* FORKPIN_OFI_STATS: where the case's time went, printed at close */
	uint64_t stage_ns[OFI_STAGES];
	uint64_t stage_start;
	uint64_t first_op_ns, ops_ns; /* post to completion: the first operation, all of them */
	unsigned ops;
	bool run_probed;    /* the run's fork probe stood for the case's (ofi_probed_var) */
	uint64_t opened_ns; /* CLOCK_MONOTONIC at open(): the stats say when the case ran */
};

/* struct ofi_reg - one registration (dev->reg). */
struct ofi_reg {
	struct fid_mr *mr;
	char *addr;
	size_t len;
	uint64_t key;
};

static struct ofi_state *to_ofi_state(struct fp_dev *dev)
{
	return dev->priv;
}

static const char *ofi_op_name(bool read)
{
	return read ? "fi_read" : "fi_write";
}

/* fi_getinfo for RMA on an RDM endpoint, optionally for provider @prov, with manual data
 * progress when @manual; -FI_E* or 0. */
static int ofi_getinfo_rma(const char *prov, bool manual, struct fi_info **out)
{
	struct fi_info *hints = ofi_fn.dupinfo(NULL);
	int ret;

	if (!hints)
		return -FI_ENOMEM;
	hints->caps = FI_RMA | FI_READ | FI_WRITE | FI_REMOTE_READ | FI_REMOTE_WRITE;
	hints->mode = FI_CONTEXT | FI_CONTEXT2;
	hints->ep_attr->type = FI_EP_RDM;
	hints->domain_attr->mr_mode = OFI_MR_MODES;
	hints->domain_attr->threading = FI_THREAD_DOMAIN;
	/* a write completes when its data is in the target's memory, not merely sent: the
	 * parent checks the buffer right after dma_wait */
	hints->tx_attr->op_flags = FI_DELIVERY_COMPLETE;
	if (manual)
		hints->domain_attr->data_progress = FI_PROGRESS_MANUAL;
	if (prov && prov[0]) {
		hints->fabric_attr->prov_name = strdup(prov);
		if (!hints->fabric_attr->prov_name) {
			ofi_fn.freeinfo(hints);
			return -FI_ENOMEM;
		}
	}
	ret = ofi_fn.getinfo(OFI_API_VERSION, NULL, NULL, 0, hints, out);
	ofi_fn.freeinfo(hints);
	return ret;
}

/* Is @name an item of the ", "-separated @list? */
static bool ofi_list_has(const char *list, const char *name)
{
	size_t n = strlen(name);

	while (*list) {
		size_t len = strcspn(list, ",");

		if (len == n && !strncmp(list, name, n))
			return true;
		list += len;
		list += strspn(list, ", ");
	}
	return false;
}

/* Append @name to the ", "-separated @list unless it is there already. */
static void ofi_list_add(char *list, size_t size, const char *name)
{
	size_t used = strlen(list);

	if (!ofi_list_has(list, name))
		snprintf(list + used, size - used, "%s%s", used ? ", " : "", name);
}

/* The unique provider names of @info, comma-separated, into @list. */
static void ofi_info_names(const struct fi_info *info, char *list, size_t size)
{
	list[0] = '\0';
	for (; info; info = info->next)
		ofi_list_add(list, size, info->fabric_attr->prov_name);
}

/* The variable through which check_options (main process) hands a row's SKIP reason to
 * the case processes, so a row without a provider SKIPs without initialising libfabric in
 * every case (that costs ~0.3 s: the verbs provider reads /proc/kallsyms). */
static const char *ofi_plan_var(bool pins)
{
	return pins ? "FORKPIN_OFI_PLAN_SKIP" : "FORKPIN_OFI_API_PLAN_SKIP";
}

/*
 * The variable that names, for a row, the provider whose fork probe (ofi_probe_fork) passed
 * once for the whole run: whether fork() survives an open domain is the provider's property,
 * not the case's, so its cases skip their own probe (a fork of a process with libfabric
 * loaded and a second domain open, in every case). Each case still opens its own domain,
 * registers its own memory and forks.
 */
static const char *ofi_probed_var(bool pins)
{
	return pins ? "FORKPIN_OFI_FORK_PROBED" : "FORKPIN_OFI_API_FORK_PROBED";
}

/*
 * Choose the provider entry for a row: the first of fi_getinfo's answer for the
 * --ofi-provider name (or for every provider) whose pinning matches @pins. Returns a copy in
 * *@out, or -ENODEV with the reason in @dev.
 */
static int ofi_choose(struct fp_dev *dev, bool pins, struct fi_info **out)
{
	const char *want = fp_option_get("ofi-provider");
	const char *other = pins ? "ofi-api" : "ofi";
	struct fi_info *list = NULL, *i;
	char names[256];
	int ret = ofi_getinfo_rma(want, !pins, &list);

	if (ret == -FI_ENODATA || (!ret && !list)) {
		if (want && want[0])
			return fp_dev_error(
			    dev, -ENODEV,
			    "libfabric provider '%s' offers no FI_RMA on an RDM "
			    "endpoint here (no device for it?): see fi_info -p '%s'",
			    want, want);
		return fp_dev_error(dev, -ENODEV,
				    "no libfabric provider offers FI_RMA on an RDM endpoint here: "
				    "see fi_info -c FI_RMA");
	}
	if (ret)
		return fp_dev_error(dev, -ENODEV, "fi_getinfo(FI_RMA, %s): %s",
				    want && want[0] ? want : "any provider", ofi_fn.strerror(-ret));
	for (i = list; i; i = i->next)
		if (ofi_provider_pins(i->fabric_attr->prov_name) == pins)
			break;
	if (!i) {
		ofi_info_names(list, names, sizeof(names));
		ofi_fn.freeinfo(list);
		if (want && want[0])
			return fp_dev_error(
			    dev, -ENODEV,
			    "provider %s %s memory: its cases run in the %s row (-b %s)", names,
			    pins ? "does not pin" : "pins", other, other);
		return fp_dev_error(
		    dev, -ENODEV,
		    "no libfabric provider that %s memory offers FI_RMA here (have: "
		    "%s): their cases run in the %s row; %s",
		    pins ? "pins" : "does not pin", names, other,
		    pins ? "a NIC provider needs a device (" FP_SETUP("rxe") " add NETDEV, or "
									     "forkpin vm)"
			 : "try --ofi-provider tcp");
	}
	*out = ofi_fn.dupinfo(i);
	ofi_fn.freeinfo(list);
	if (!*out)
		return fp_dev_error(dev, -ENOMEM, "fi_dupinfo: out of memory");
	return 0;
}

/* A case keeps one operation outstanding: OFI_QUEUE_SIZE entries per queue are plenty. */
#define OFI_QUEUE_SIZE 16
static void ofi_shrink_queues(struct fi_info *info)
{
	if (info->tx_attr->size > OFI_QUEUE_SIZE)
		info->tx_attr->size = OFI_QUEUE_SIZE;
	if (info->rx_attr->size > OFI_QUEUE_SIZE)
		info->rx_attr->size = OFI_QUEUE_SIZE;
}

/* Open fabric and domain for @info. */
static int ofi_open_domain(struct fi_info *info, struct fid_fabric **fabric,
			   struct fid_domain **domain, const char **what)
{
	int ret = ofi_fn.fabric(info->fabric_attr, fabric, NULL);

	*what = "fi_fabric";
	if (ret)
		return ret;
	*what = "fi_domain";
	ret = fi_domain(*fabric, info, domain, NULL);
	if (ret) {
		fi_close(&(*fabric)->fid);
		*fabric = NULL;
	}
	return ret;
}

/* How the fork probe process ends when it does not die from a signal. */
enum ofi_probe_exit {
	OFI_PROBE_OK = 0,	   /* fork() returned in the parent and the child */
	OFI_PROBE_NO_DOMAIN = 90,  /* fabric/domain did not open: open() will say why */
	OFI_PROBE_FORK_FAILED = 91 /* fork() returned -1 */
};

/*
 * Does fork() survive in a process with an open domain of this provider? A probe process
 * opens the fabric and domain (where providers install their atfork handlers) and forks
 * once. 0 when it does; -EIO with the reason when the provider kills the forking process.
 */
static int ofi_probe_fork(struct fp_dev *dev, struct fi_info *info)
{
	const char *prov = info->fabric_attr->prov_name;
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return fp_dev_error(dev, -errno, "fork (probe): %s", strerror(errno));
	if (pid == 0) {
		struct fid_fabric *fabric;
		struct fid_domain *domain;
		const char *what;
		pid_t grandchild;

		if (ofi_open_domain(info, &fabric, &domain, &what))
			_exit(OFI_PROBE_NO_DOMAIN); /* open() reports it with the real call */
		if (getenv("FORKPIN_OFI_TEST_ABORT_ON_FORK"))
			pthread_atfork(abort, NULL, NULL); /* test hook: emulate EFA's handler */
		grandchild = fork();
		if (grandchild == 0)
			_exit(0);
		if (grandchild > 0)
			waitpid(grandchild, NULL, 0);
		_exit(grandchild < 0 ? OFI_PROBE_FORK_FAILED : OFI_PROBE_OK);
	}
	status = fp_waitpid_bounded(pid, OFI_DEADLINE_MS);
	if (status < 0)
		return fp_dev_error(dev, -ETIMEDOUT,
				    "fork probe: a process with an open %s domain did not finish a "
				    "fork() within %d ms",
				    prov, OFI_DEADLINE_MS);
	if (WIFSIGNALED(status) && WTERMSIG(status) != SIGABRT)
		return fp_dev_error(dev, -EIO,
				    "fork() kills a process with an open %s domain: the probe died "
				    "from signal %d (%s)",
				    prov, WTERMSIG(status), strsignal(WTERMSIG(status)));
	if (WIFEXITED(status) && WEXITSTATUS(status) == OFI_PROBE_FORK_FAILED)
		return fp_dev_error(dev, -EIO, "fork() fails in a process with an open %s domain",
				    prov);
	if (WIFSIGNALED(status) ||
	    (WEXITSTATUS(status) != OFI_PROBE_OK && WEXITSTATUS(status) != OFI_PROBE_NO_DOMAIN)) {
		char how[96];

		if (WIFSIGNALED(status))
			snprintf(how, sizeof(how), "died from SIGABRT");
		else /* a library's SIGABRT handler (psm2's backtrace printer) exits instead */
			snprintf(how, sizeof(how),
				 "exited with status %d (a SIGABRT handler's exit; see stderr)",
				 WEXITSTATUS(status));
		return fp_dev_error(
		    dev, -EIO,
		    "provider %s aborts fork(): a probe process with an open %s domain %s inside "
		    "fork(), i.e. an atfork handler aborted it. EFA does this unless "
		    "FI_EFA_FORK_SAFE=1 (kernel 5.13+, rdma-core 35+) or rdma-core reports fork "
		    "UNNEEDED; applications using %s cannot fork",
		    prov, prov, how, prov);
	}
	return 0;
}

/* Describe an fi_mr_reg failure; names RLIMIT_MEMLOCK when that is the likely cause. */
static int ofi_mr_error(struct fp_dev *dev, int ret, const char *what, size_t len)
{
	const char *prov = to_ofi_state(dev)->info->fabric_attr->prov_name;
	struct rlimit rl;
	char need[32], have[32];

	if ((ret == -FI_ENOMEM || ret == -FI_EFAULT) && !fp_has_cap_ipc_lock() &&
	    getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		return fp_dev_error(dev, ret,
				    "fi_mr_reg(%s, %s, %zu bytes): %s: RLIMIT_MEMLOCK is %s, the "
				    "case pins %s: raise it with ulimit -l",
				    prov, what, len, ofi_fn.strerror(-ret),
				    fp_format_size(rl.rlim_cur, have, sizeof(have)),
				    fp_format_size(len, need, sizeof(need)));
	if (ret == -FI_EOPNOTSUPP || ret == -FI_ENOSYS)
		return fp_dev_error(dev, -ENODEV, "fi_mr_reg(%s, %s): %s refuses this memory: %s",
				    prov, what, prov, ofi_fn.strerror(-ret));
	return fp_dev_error(dev, ret < 0 ? ret : -EIO, "fi_mr_reg(%s, %s, %zu bytes): %s", prov,
			    what, len, ofi_fn.strerror(-ret));
}

/* Register [addr, addr+len) with @access as the provider's mr_mode demands. */
static int ofi_mr_reg(struct fp_dev *dev, void *addr, size_t len, uint64_t access, uint64_t key,
		      const char *what, struct fid_mr **mr)
{
	struct ofi_state *st = to_ofi_state(dev);
	int ret = fi_mr_reg(st->domain, addr, len, access, 0, key, 0, mr, NULL);

	if (ret) {
		*mr = NULL;
		return ofi_mr_error(dev, ret, what, len);
	}
	if (st->mr_mode & FI_MR_ENDPOINT) {
		ret = fi_mr_bind(*mr, &st->ep->fid, 0);
		if (!ret)
			ret = fi_mr_enable(*mr);
		if (ret) {
			fi_close(&(*mr)->fid);
			*mr = NULL;
			return fp_dev_error(dev, ret,
					    "fi_mr_bind/fi_mr_enable(%s, FI_MR_ENDPOINT): %s", what,
					    ofi_fn.strerror(-ret));
		}
	}
	return 0;
}

/* FORKPIN_OFI_STATS=1: one line per case process with its open() steps and transfers. */
static void ofi_print_stats(const struct ofi_state *st)
{
	char line[512];
	size_t used = 0, i;

	if (!getenv("FORKPIN_OFI_STATS"))
		return;
	used += (size_t)snprintf(line, sizeof(line), "ofi-stats: case %d:", (int)getpid());
	for (i = 0; i < OFI_STAGES && used < sizeof(line); i++)
		used += (size_t)snprintf(line + used, sizeof(line) - used, " %s %.1f%s",
					 ofi_stage_names[i], (double)st->stage_ns[i] / 1e6,
					 i == OFI_PROBE && st->run_probed ? " (the run's)" : "");
	if (used < sizeof(line))
		snprintf(
		    line + used, sizeof(line) - used,
		    " ms; kallsyms %u from the run's copy; first transfer %.1f ms, %u transfers "
		    "%.1f ms; monotonic %.6f to %.6f s\n",
		    ofi_kallsyms_served(), (double)st->first_op_ns / 1e6, st->ops,
		    (double)st->ops_ns / 1e6, (double)st->opened_ns / 1e9,
		    (double)fp_now_ns() / 1e9);
	fputs(line, stderr);
}

/* End the timed step @stage of open(): its time since the previous one. */
static void ofi_stage_done(struct ofi_state *st, enum ofi_stage stage)
{
	uint64_t now = fp_now_ns();

	st->stage_ns[stage] = now - st->stage_start;
	st->stage_start = now;
}

static void ofi_close(struct fp_dev *dev)
{
	struct ofi_state *st = to_ofi_state(dev);

	if (!st)
		return;
	ofi_print_stats(st);
	if (st->staging_mr)
		fi_close(&st->staging_mr->fid);
	if (st->ep)
		fi_close(&st->ep->fid);
	if (st->av)
		fi_close(&st->av->fid);
	if (st->cq)
		fi_close(&st->cq->fid);
	if (st->domain)
		fi_close(&st->domain->fid);
	if (st->fabric)
		fi_close(&st->fabric->fid);
	if (st->staging)
		munmap(st->staging, st->staging_len);
	if (st->info)
		ofi_fn.freeinfo(st->info);
	free(st);
	dev->priv = NULL;
}

/* Endpoint, CQ and AV, enabled, with the endpoint's own address in the AV. */
static int ofi_open_endpoint(struct fp_dev *dev, struct ofi_state *st)
{
	struct fi_cq_attr cq_attr = {
	    .size = 16, .format = FI_CQ_FORMAT_CONTEXT, .wait_obj = FI_WAIT_NONE};
	struct fi_av_attr av_attr = {.type = st->info->domain_attr->av_type, .count = 4};
	char name[256];
	size_t name_len = sizeof(name);
	int ret;

	ret = fi_cq_open(st->domain, &cq_attr, &st->cq, NULL);
	if (ret)
		return fp_dev_error(dev, ret, "fi_cq_open: %s", ofi_fn.strerror(-ret));
	ret = fi_av_open(st->domain, &av_attr, &st->av, NULL);
	if (ret)
		return fp_dev_error(dev, ret, "fi_av_open: %s", ofi_fn.strerror(-ret));
	ret = fi_endpoint(st->domain, st->info, &st->ep, NULL);
	if (ret)
		return fp_dev_error(dev, ret, "fi_endpoint(FI_EP_RDM): %s", ofi_fn.strerror(-ret));
	ret = fi_ep_bind(st->ep, &st->av->fid, 0);
	if (ret)
		return fp_dev_error(dev, ret, "fi_ep_bind(AV): %s", ofi_fn.strerror(-ret));
	ret = fi_ep_bind(st->ep, &st->cq->fid, FI_TRANSMIT | FI_RECV);
	if (ret)
		return fp_dev_error(dev, ret, "fi_ep_bind(CQ): %s", ofi_fn.strerror(-ret));
	ret = fi_enable(st->ep);
	if (ret)
		return fp_dev_error(dev, ret, "fi_enable: %s", ofi_fn.strerror(-ret));
	ret = fi_getname(&st->ep->fid, name, &name_len);
	if (ret)
		return fp_dev_error(dev, ret, "fi_getname: %s", ofi_fn.strerror(-ret));
	ret = fi_av_insert(st->av, name, 1, &st->self, 0, NULL);
	if (ret != 1)
		return fp_dev_error(dev, ret < 0 ? ret : -EIO,
				    "fi_av_insert(the endpoint's own address): %s",
				    ret < 0 ? ofi_fn.strerror(-ret) : "not inserted");
	return 0;
}

static int ofi_open_common(struct fp_dev *dev, bool pins)
{
	struct ofi_state *st = calloc(1, sizeof(*st));
	const char *what, *probed;
	int ret;

	if (!st)
		return fp_dev_error(dev, -ENOMEM, "calloc(ofi state): out of memory");
	dev->priv = st;
	st->stage_start = st->opened_ns = fp_now_ns();
	ofi_case_env();
	/* check_options found nothing for this row: SKIP before loading libfabric, whose
	 * load alone costs ~0.2 s (psm's constructors) */
	if (getenv(ofi_plan_var(pins))) {
		ret = fp_dev_error(dev, -ENODEV, "%s", getenv(ofi_plan_var(pins)));
		goto err;
	}
	ret = ofi_load(dev->error, sizeof(dev->error));
	if (ret)
		goto err;
	ofi_stage_done(st, OFI_LOAD);
	ret = ofi_choose(dev, pins, &st->info);
	if (ret)
		goto err;
	ofi_stage_done(st, OFI_GETINFO);
	st->mr_mode = st->info->domain_attr->mr_mode;
	ofi_shrink_queues(st->info);
	probed = getenv(ofi_probed_var(pins));
	st->run_probed = probed && !strcmp(probed, st->info->fabric_attr->prov_name);
	ret = st->run_probed ? 0 : ofi_probe_fork(dev, st->info);
	if (ret)
		goto err;
	ofi_stage_done(st, OFI_PROBE);
	ret = ofi_open_domain(st->info, &st->fabric, &st->domain, &what);
	if (ret) {
		fp_dev_error(dev, -ENODEV, "%s(%s): %s", what, st->info->fabric_attr->prov_name,
			     ofi_fn.strerror(-ret));
		ret = -ENODEV;
		goto err;
	}
	ofi_stage_done(st, OFI_DOMAIN);
	ret = ofi_open_endpoint(dev, st);
	if (ret)
		goto err;
	ofi_stage_done(st, OFI_ENDPOINT);
	/* shared, so the staging pages never depend on the fork behaviour under test */
	st->staging_len = OFI_MAX_TRANSFER;
	st->staging =
	    mmap(NULL, st->staging_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (st->staging == MAP_FAILED) {
		st->staging = NULL;
		ret = fp_dev_error(dev, -errno, "mmap(staging, %zu bytes): %s", st->staging_len,
				   strerror(errno));
		goto err;
	}
	memset(st->staging, 0, st->staging_len); /* FI_MR_ALLOCATED: backed before fi_mr_reg */
	if (st->mr_mode & FI_MR_LOCAL) {
		ret = ofi_mr_reg(dev, st->staging, st->staging_len, FI_READ | FI_WRITE,
				 OFI_STAGING_KEY, "staging", &st->staging_mr);
		if (ret)
			goto err;
	}
	snprintf(dev->note, sizeof(dev->note), "provider %s (%s)%s",
		 st->info->fabric_attr->prov_name, st->info->domain_attr->name,
		 pins ? "" : ": API-level check, no pins, not a DMA proof");
	return 0;
err:
	ofi_close(dev);
	return ret;
}

static int ofi_open(struct fp_dev *dev)
{
	return ofi_open_common(dev, true);
}

static int ofi_api_open(struct fp_dev *dev)
{
	return ofi_open_common(dev, false);
}

static int ofi_register(struct fp_dev *dev, void *addr, size_t len, enum fp_access access,
			void **priv)
{
	struct ofi_reg *r = calloc(1, sizeof(*r));
	int ret;

	(void)access; /* FI_REMOTE_READ alone does not promise a read-only pin: no such cap */
	if (!r)
		return fp_dev_error(dev, -ENOMEM, "calloc(ofi registration): out of memory");
	ret = ofi_mr_reg(dev, addr, len, FI_REMOTE_READ | FI_REMOTE_WRITE, OFI_BUFFER_KEY, "buffer",
			 &r->mr);
	if (ret) {
		free(r);
		return ret;
	}
	r->addr = addr;
	r->len = len;
	r->key = fi_mr_key(r->mr);
	if (r->key == FI_KEY_NOTAVAIL) {
		fi_close(&r->mr->fid);
		free(r);
		return fp_dev_error(dev, -ENODEV,
				    "fi_mr_key: no key (FI_MR_RAW providers are not supported)");
	}
	*priv = r;
	return 0;
}

static void ofi_dereg(struct fp_dev *dev, void *reg)
{
	struct ofi_reg *r = reg;

	(void)dev;
	if (!r)
		return;
	fi_close(&r->mr->fid);
	free(r);
}

/* Describe the error entry at the head of the CQ: -EIO with the provider's text. */
static int ofi_cq_error(struct fp_dev *dev, struct ofi_state *st, const char *op)
{
	struct fi_cq_err_entry e;
	char text[256] = "";
	ssize_t n;

	memset(&e, 0, sizeof(e));
	n = fi_cq_readerr(st->cq, &e, 0);
	if (n < 0)
		return fp_dev_error(dev, -EIO, "%s: fi_cq_readerr: %s", op,
				    ofi_fn.strerror((int)-n));
	fi_cq_strerror(st->cq, e.prov_errno, e.err_data, text, sizeof(text));
	return fp_dev_error(dev, -EIO,
			    "%s of %zu bytes at offset %zu (%s) completed with error: %s "
			    "(provider error %d: %s)",
			    op, st->len, st->off, st->info->fabric_attr->prov_name,
			    ofi_fn.strerror(e.err), e.prov_errno, text);
}

/* Read one completion; 1 got one, 0 none yet, -errno (described) on an error entry. */
static int ofi_cq_poll(struct fp_dev *dev, struct ofi_state *st, const char *op)
{
	struct fi_cq_entry entry;
	ssize_t n = fi_cq_read(st->cq, &entry, 1);

	if (n == 1)
		return 1;
	if (n == -FI_EAGAIN)
		return 0;
	if (n == -FI_EAVAIL)
		return ofi_cq_error(dev, st, op);
	return fp_dev_error(dev, -EIO, "%s: fi_cq_read: %s", op, ofi_fn.strerror((int)-n));
}

/* Back off a little while waiting: yield first, then sleep, never spin a core for long. */
static void ofi_backoff(unsigned *idle)
{
	if (++*idle < 64)
		sched_yield();
	else
		usleep(*idle < 1024 ? 10 : 200);
}

static int ofi_post(struct fp_dev *dev, struct ofi_reg *r, bool read, size_t off, size_t len)
{
	struct ofi_state *st = to_ofi_state(dev);
	void *desc = st->staging_mr ? fi_mr_desc(st->staging_mr) : NULL;
	uint64_t raddr =
	    (st->mr_mode & FI_MR_VIRT_ADDR) ? (uint64_t)(uintptr_t)(r->addr + off) : (uint64_t)off;
	uint64_t deadline = fp_now_ns() + (uint64_t)OFI_DEADLINE_MS * 1000000u;
	unsigned idle = 0;

	if (len > st->staging_len)
		return fp_dev_error(dev, -EINVAL, "%s of %zu bytes: the staging buffer has %zu",
				    ofi_op_name(read), len, st->staging_len);
	st->read = read;
	st->off = off;
	st->len = len;
	st->stage_start = fp_now_ns();
	for (;;) {
		ssize_t ret = read ? fi_read(st->ep, st->staging, len, desc, st->self, raddr,
					     r->key, &st->ctx)
				   : fi_write(st->ep, st->staging, len, desc, st->self, raddr,
					      r->key, &st->ctx);
		int err;

		if (ret == 0)
			break;
		if (ret != -FI_EAGAIN)
			return fp_dev_error(
			    dev, ret < 0 ? (int)ret : -EIO, "%s(%zu bytes at offset %zu, %s): %s",
			    ofi_op_name(read), len, off, st->info->fabric_attr->prov_name,
			    ofi_fn.strerror((int)-ret));
		/* the provider needs progress (e.g. connecting to itself): drive it */
		err = ofi_cq_poll(dev, st, ofi_op_name(read));
		if (err < 0)
			return err;
		if (err > 0)
			return fp_dev_error(dev, -EIO, "%s: a completion for nothing posted",
					    ofi_op_name(read));
		if (fp_now_ns() > deadline)
			return fp_dev_error(dev, -ETIMEDOUT,
					    "%s(%zu bytes, %s): still -FI_EAGAIN after %d ms",
					    ofi_op_name(read), len,
					    st->info->fabric_attr->prov_name, OFI_DEADLINE_MS);
		ofi_backoff(&idle);
	}
	st->posted = true;
	return 0;
}

static int ofi_dma_to_host_start(struct fp_dev *dev, void *reg, size_t off, const void *src,
				 size_t len)
{
	struct ofi_state *st = to_ofi_state(dev);

	if (len <= st->staging_len)
		memcpy(st->staging, src, len);
	st->dst = NULL;
	return ofi_post(dev, reg, false, off, len);
}

static int ofi_dma_from_host_start(struct fp_dev *dev, void *reg, size_t off, void *dst, size_t len)
{
	struct ofi_state *st = to_ofi_state(dev);

	st->dst = dst;
	return ofi_post(dev, reg, true, off, len);
}

static int ofi_dma_wait(struct fp_dev *dev, void *reg)
{
	struct ofi_state *st = to_ofi_state(dev);
	uint64_t deadline = fp_now_ns() + (uint64_t)OFI_DEADLINE_MS * 1000000u;
	unsigned idle = 0;

	(void)reg;
	if (!st->posted)
		return fp_dev_error(dev, -EINVAL, "dma_wait: nothing posted");
	st->posted = false;
	for (;;) {
		int got = ofi_cq_poll(dev, st, ofi_op_name(st->read));

		if (got < 0)
			return got;
		if (got)
			break;
		if (fp_now_ns() > deadline)
			return fp_dev_error(
			    dev, -ETIMEDOUT,
			    "%s of %zu bytes at offset %zu: no completion within %d "
			    "ms (provider %s)",
			    ofi_op_name(st->read), st->len, st->off, OFI_DEADLINE_MS,
			    st->info->fabric_attr->prov_name);
		ofi_backoff(&idle);
	}
	if (!st->ops++)
		st->first_op_ns = fp_now_ns() - st->stage_start;
	st->ops_ns += fp_now_ns() - st->stage_start;
	if (st->read && st->dst)
		memcpy(st->dst, st->staging, st->len);
	return 0;
}

/* ---- the main process: queries run in a child, so libfabric never initialises here ---- */

/*
 * In a query child (or the zygote): "VAR=reason" lines for each row that has no provider
 * here, and for each row that has one whose fork probe passes, "VAR=provider". The latter is
 * also set here, for the case processes the zygote forks.
 */
static void ofi_plan_rows(char *out, size_t size)
{
	int pins;

	out[0] = '\0';
	for (pins = 0; pins < 2; pins++) {
		struct fp_dev dev;
		struct fi_info *info = NULL;
		size_t used = strlen(out);

		memset(&dev, 0, sizeof(dev));
		if (!ofi_choose(&dev, pins, &info)) {
			const char *prov = info->fabric_attr->prov_name;

			if (!ofi_probe_fork(&dev, info)) {
				snprintf(out + used, size - used, "%s=%s\n", ofi_probed_var(pins),
					 prov);
				setenv(ofi_probed_var(pins), prov, 1);
			}
			ofi_fn.freeinfo(info);
			continue;
		}
		snprintf(out + used, size - used, "%s=%s\n", ofi_plan_var(pins), dev.error);
	}
}

/* Child of check_options: 0 the provider offers FI_RMA here, 1 it exists but has no usable
 * endpoint (its cases SKIP), 2 libfabric does not know it (usage error). Text: a reason. */
static int ofi_query_provider(char *out, size_t size)
{
	const char *want = fp_option_get("ofi-provider");
	struct fi_info *info = NULL;
	char known[512];

	if (ofi_load(out, size))
		return 1; /* the cases SKIP with the same reason */
	const char *p;
	int ret = 0;

	if (want)
		ret = ofi_getinfo_rma(want, false, &info);
	if (!want || !ret) {
		ofi_fn.freeinfo(info);
		ofi_plan_rows(out, size);
		return 0;
	}
	/* Which providers does this libfabric know (with or without a device)? Providers
	 * define parameters named FI_<PROVIDER>_* (FI_OFI_RXM_* for ofi_rxm); fi_getinfo
	 * without hints adds the usable ones. A name is valid when each ';' part is known. */
	known[0] = '\0';
	{
		struct fi_param *params;
		int count, k;

		if (!ofi_fn.getparams(&params, &count)) {
			for (k = 0; k < count; k++) {
				const char *pn = params[k].name;
				char name[64];
				size_t n, c;

				if (strncmp(pn, "FI_", 3))
					continue;
				pn += 3;
				n = strcspn(pn, "_");
				if (!strncmp(pn, "OFI_", 4))
					n = 4 + strcspn(pn + 4, "_");
				for (c = 0; c < n && c + 1 < sizeof(name); c++)
					name[c] = (char)tolower((unsigned char)pn[c]);
				name[c] = '\0';
				ofi_list_add(known, sizeof(known), name);
			}
			ofi_fn.freeparams(params);
		}
	}
	if (!ofi_fn.getinfo(OFI_API_VERSION, NULL, NULL, 0, NULL, &info)) {
		struct fi_info *i;

		for (i = info; i; i = i->next) {
			char part[64];

			for (p = i->fabric_attr->prov_name; *p;) {
				size_t n = strcspn(p, ";");

				snprintf(part, sizeof(part), "%.*s", (int)n, p);
				ofi_list_add(known, sizeof(known), part);
				p += n + (p[n] == ';');
			}
		}
		ofi_fn.freeinfo(info);
	}
	for (p = want; *p;) {
		size_t n = strcspn(p, ";");
		char part[64];

		snprintf(part, sizeof(part), "%.*s", (int)n, p);
		if (!n || !ofi_list_has(known, part)) {
			snprintf(out, size,
				 "--ofi-provider '%s': libfabric %u.%u knows no provider '%s': see "
				 "fi_info -l",
				 want, FI_MAJOR(ofi_fn.version()), FI_MINOR(ofi_fn.version()),
				 part);
			return 2;
		}
		p += n + (p[n] == ';');
	}
	ofi_plan_rows(out, size);
	return 1;
}

static int ofi_query_stack(void *arg, char *out, size_t size);

/* The fingerprint's lines, from check_options' query child: one libfabric start-up per run
 * in the main process's children, not two. Empty until check_options ran. */
static char ofi_stack_lines[3072];

/* Child of check_options: ofi_query_provider's answer, then (unless it is a usage error) the
 * fingerprint's "KEY=VALUE" lines after a line "--". */
static int ofi_query_all(void *arg, char *out, size_t size)
{
	int code = ofi_query_provider(out, size);
	size_t used = strlen(out);

	(void)arg;
	if (code != 2 && used + 4 < size) {
		snprintf(out + used, size - used, "\n--\n");
		used = strlen(out);
		ofi_query_stack(NULL, out + used, size - used);
	}
	return code;
}

/* ---- the per-run zygote (ofi_zygote.c): libfabric's start-up paid once per run ---- */

static struct ofi_zygote ofi_zygote; /* one per run, shared by both rows */

static bool ofi_zygote_wanted(void)
{
	const char *use = getenv("FORKPIN_OFI_ZYGOTE");

	return !use || strcmp(use, "0");
}

/* In a zygote started without check_options: load libfabric and initialise its providers
 * (the first fi_getinfo) with the environment a case process would have set. */
static int ofi_zygote_prepare(char *text, size_t size, bool *usable)
{
	struct fi_info *info = NULL;

	ofi_case_env(); /* as in ofi_open_common, before initialisation */
	if (ofi_load(text, size)) {
		*usable = false;
		return 1;
	}
	if (!ofi_getinfo_rma(NULL, false, &info))
		ofi_fn.freeinfo(info);
	return 0;
}

/* In the zygote check_options starts: its query (which initialises every provider), so the
 * run pays libfabric's start-up once in all, not once for the query and once more here. */
static int ofi_zygote_query(char *text, size_t size, bool *usable)
{
	char err[256];
	int code;

	ofi_case_env();
	code = ofi_query_all(NULL, text, size);
	*usable = code != 2 && !ofi_load(err, sizeof(err));
	if (getenv("FORKPIN_OFI_TEST_ZYGOTE_FD")) /* test hook: a provider keeping a file open */
		*usable = *usable && open("/dev/null", O_RDONLY) >= 0;
	return code;
}

/*
 * The fallbacks when the zygote above kept a descriptor (a provider opened a device at
 * fi_getinfo: its case processes would share that context): a zygote that only initialises
 * the providers (fi_getparams runs every provider's init, not its getinfo), else one that
 * loads libfabric (psm's constructors) and libibverbs' drivers, else one that only loads
 * libfabric. Each case process then does the rest itself.
 */
static int ofi_zygote_prepare_load(char *text, size_t size, bool *usable)
{
	ofi_case_env();
	*usable = !ofi_load(text, size);
	return 0;
}

/* The same, and libibverbs' drivers loaded (no device opened): the verbs provider's start-up
 * in each case process then opens the device without loading them first. */
static int ofi_zygote_prepare_drivers(char *text, size_t size, bool *usable)
{
	ofi_zygote_prepare_load(text, size, usable);
	if (*usable)
		ofi_load_verbs_drivers();
	return 0;
}

/* The zygote in use is a lighter one: the case processes initialise the providers. */
static bool ofi_zygote_fell_back;

/* What the zygote in use has done (FORKPIN_OFI_STATS). */
static const char *ofi_zygote_level = "libfabric initialised, providers queried";

/* check_options' zygote kept a descriptor: try the lighter ones. */
static void ofi_zygote_fall_back(void)
{
	static const struct {
		ofi_zygote_prepare_fn prepare;
		const char *level;
	} lighter[] = {
	    {ofi_prepare_providers, "providers initialised, no fi_getinfo"},
	    {ofi_zygote_prepare_drivers, "libfabric and the verbs drivers loaded"},
	    {ofi_zygote_prepare_load, "libfabric loaded only"},
	};
	char why[512], text[64];
	size_t i;

	snprintf(why, sizeof(why), "%s", ofi_zygote.why);
	for (i = 0; i < FP_ARRAY_SIZE(lighter) && ofi_zygote.sock < 0; i++) {
		ofi_zygote_start(&ofi_zygote, lighter[i].prepare, text, sizeof(text));
		ofi_zygote_level = lighter[i].level;
		ofi_zygote_fell_back = true;
		if (ofi_zygote.sock < 0) {
			size_t used = strlen(why);

			snprintf(why + used, sizeof(why) - used, "; %s: %s", lighter[i].level,
				 ofi_zygote.why);
		}
	}
	if (ofi_zygote.sock < 0)
		snprintf(ofi_zygote.why, sizeof(ofi_zygote.why), "%.*s",
			 (int)sizeof(ofi_zygote.why) - 1, why);
	else if (getenv("FORKPIN_OFI_STATS"))
		fprintf(stderr, "ofi-stats: full zygote unused: %s\n", why);
}

/*
 * What the two rows share with other cases (resource.h): the CPU for libfabric's provider
 * start-up. A case process forked from the zygote that initialised the providers starts in
 * milliseconds, and any number may run at once. Without it (the verbs provider opens the
 * device at start-up, so in the test VM the zygote cannot initialise it) each case process
 * initialises the verbs provider itself. That took seconds of CPU under TCG while every case
 * read /proc/kallsyms twice, and four at once on a small guest stretched each past the case
 * timeout, a verdict a serial run never gives: one at a time then. With the run's copy of
 * kallsyms (ofi_kallsyms.c) it is ~0.2 s, and one case per online CPU may run. Read after
 * check_options, which starts the zygote and takes the copy.
 */
static unsigned ofi_startup_units(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (ofi_zygote.tried && ofi_zygote.sock >= 0 && !ofi_zygote_fell_back)
		return 64;
	return ofi_kallsyms_copy_taken() && cpus > 1 ? (unsigned)cpus : 1;
}

static const struct fp_resource ofi_startup = {.name = "libfabric's provider start-up",
					       .units = ofi_startup_units};

static void ofi_zygote_report(void)
{
	static bool said;

	if (said || !getenv("FORKPIN_OFI_STATS"))
		return;
	said = true;
	if (ofi_zygote.sock >= 0)
		fprintf(stderr, "ofi-stats: zygote ready (%s)\n", ofi_zygote_level);
	else
		fprintf(stderr, "ofi-stats: zygote unused: %s\n", ofi_zygote.why);
}

static int ofi_check_options(char *err, size_t err_size)
{
	const char *want = fp_option_get("ofi-provider");
	static bool checked; /* both rows share this hook: one query per run */
	char text[6144], *line, *save = NULL, *stack;
	int code;

	if (checked)
		return 0;
	if (want &&
	    (!want[0] || strspn(want, "abcdefghijklmnopqrstuvwxyz0123456789_;") != strlen(want))) {
		snprintf(err, err_size,
			 "--ofi-provider '%s': expected a provider name such as tcp, efa or "
			 "'verbs;ofi_rxm' (see fi_info -l)",
			 want);
		return -EINVAL;
	}
	ofi_kallsyms_snapshot(); /* before the query and the case processes start */
	if (ofi_zygote_wanted())
		code = ofi_zygote_start(&ofi_zygote, ofi_zygote_query, text, sizeof(text));
	else
		code = fp_text_from_child(ofi_query_all, NULL, text, sizeof(text), OFI_DEADLINE_MS);
	if (code == 2) {
		ofi_zygote_stop(&ofi_zygote, "usage error");
		snprintf(err, err_size, "%s", text);
		return -EINVAL;
	}
	checked = true;
	if (code < 0)
		return 0; /* the query failed: each case finds out for itself */
	stack = strstr(text, "\n--\n");
	if (stack) {
		*stack = '\0';
		snprintf(ofi_stack_lines, sizeof(ofi_stack_lines), "%s", stack + 4);
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');

		if (eq) {
			*eq = '\0';
			setenv(line, eq + 1, 1);
		}
	}
	if (getenv(ofi_plan_var(true)) && getenv(ofi_plan_var(false)))
		ofi_zygote_stop(&ofi_zygote, "both rows SKIP: no provider here");
	else if (ofi_zygote_wanted() && ofi_zygote.sock < 0)
		ofi_zygote_fall_back();
	return 0;
}

static const char *const ofi_fork_env[] = {
    "FI_EFA_FORK_SAFE", "RDMAV_FORK_SAFE",     "IBV_FORK_SAFE",
    "FI_FORK_UNSAFE",	"FI_MR_CACHE_MONITOR", "FI_MR_CACHE_MAX_COUNT",
};

/* Child of fingerprint: "KEY=VALUE\n" lines. */
static int ofi_query_stack(void *arg, char *out, size_t size)
{
	struct fi_info *info = NULL, *i;
	char list[1024] = "";
	size_t used;

	(void)arg;
	if (ofi_load(list, sizeof(list))) {
		snprintf(out, size, "libfabric=%s\n", list);
		return 0;
	}

	snprintf(out, size, "libfabric=%u.%u (headers %d.%d)\n", FI_MAJOR(ofi_fn.version()),
		 FI_MINOR(ofi_fn.version()), FI_MAJOR_VERSION, FI_MINOR_VERSION);
	if (!ofi_fn.getinfo(OFI_API_VERSION, NULL, NULL, 0, NULL, &info)) {
		for (i = info; i; i = i->next) {
			char item[96];

			snprintf(item, sizeof(item), "%s %u.%u", i->fabric_attr->prov_name,
				 FI_MAJOR(i->fabric_attr->prov_version),
				 FI_MINOR(i->fabric_attr->prov_version));
			ofi_list_add(list, sizeof(list), item);
		}
		ofi_fn.freeinfo(info);
	}
	used = strlen(out);
	snprintf(out + used, size - used, "providers=%s\n", list[0] ? list : "none");
	info = NULL;
	list[0] = '\0';
	if (!ofi_getinfo_rma(NULL, false, &info)) {
		for (i = info; i; i = i->next) {
			char item[96];

			snprintf(item, sizeof(item), "%s%s", i->fabric_attr->prov_name,
				 ofi_provider_pins(i->fabric_attr->prov_name) ? " (pins)" : "");
			ofi_list_add(list, sizeof(list), item);
		}
		ofi_fn.freeinfo(info);
	}
	used = strlen(out);
	snprintf(out + used, size - used, "rma_providers=%s\n", list[0] ? list : "none");
	return 0;
}

static void ofi_fingerprint(struct fp_env *env)
{
	const char *want = fp_option_get("ofi-provider");
	char text[3072], *line, *save = NULL;
	size_t i;

	if (ofi_stack_lines[0])
		snprintf(text, sizeof(text), "%s", ofi_stack_lines);
	else {
		ofi_kallsyms_snapshot();
		if (fp_text_from_child(ofi_query_stack, NULL, text, sizeof(text),
				       OFI_DEADLINE_MS) != 0)
			fp_env_set(env, "ofi.libfabric", "query failed");
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '='), key[64];

		if (!eq)
			continue;
		*eq = '\0';
		snprintf(key, sizeof(key), "ofi.%s", line);
		fp_env_set(env, key, "%s", eq + 1);
	}
	fp_env_set(env, "ofi.provider", "%s", want ? want : "default (first with FI_RMA per row)");
	for (i = 0; i < FP_ARRAY_SIZE(ofi_fork_env); i++) {
		char key[64];
		const char *v = getenv(ofi_fork_env[i]);

		snprintf(key, sizeof(key), "ofi.env.%s", ofi_fork_env[i]);
		fp_env_set(env, key, "%s", v ? v : "unset");
	}
}

static int ofi_spawn_row(bool pins, void (*body)(void *arg, int fd), const void *arg,
			 size_t arg_size, int fd)
{
	int pid;

	/* a row planned to SKIP never loads libfabric: the runner's fork is cheaper */
	if (getenv(ofi_plan_var(pins)) || !ofi_zygote_wanted())
		return -ENOSYS;
	pid = ofi_zygote_spawn(&ofi_zygote, ofi_zygote_prepare, body, arg, arg_size, fd);
	ofi_zygote_report();
	return pid;
}

static int ofi_spawn(void (*body)(void *arg, int fd), const void *arg, size_t arg_size, int fd)
{
	return ofi_spawn_row(true, body, arg, arg_size, fd);
}

static int ofi_api_spawn(void (*body)(void *arg, int fd), const void *arg, size_t arg_size, int fd)
{
	return ofi_spawn_row(false, body, arg, arg_size, fd);
}

static const struct fp_backend_ops ofi_ops = {
    .open = ofi_open,
    .reg = ofi_register,
    .dma_to_host_start = ofi_dma_to_host_start,
    .dma_from_host_start = ofi_dma_from_host_start,
    .dma_wait = ofi_dma_wait,
    .dereg = ofi_dereg,
    .close = ofi_close,
    .fingerprint = ofi_fingerprint,
    .check_options = ofi_check_options,
    .spawn = ofi_spawn,
};

/* Same hooks; open() takes a provider that does not pin. No fingerprint: the ofi row reports
 * the shared stack once. */
static const struct fp_backend_ops ofi_api_ops = {
    .open = ofi_api_open,
    .reg = ofi_register,
    .dma_to_host_start = ofi_dma_to_host_start,
    .dma_from_host_start = ofi_dma_from_host_start,
    .dma_wait = ofi_dma_wait,
    .dereg = ofi_dereg,
    .close = ofi_close,
    .check_options = ofi_check_options,
    .spawn = ofi_api_spawn,
};

#define OFI_OPS		(&ofi_ops)
#define OFI_API_OPS	(&ofi_api_ops)
#define OFI_RESOURCE	(&ofi_startup)
#define OFI_UNAVAILABLE NULL
#else
#define OFI_OPS		NULL
#define OFI_API_OPS	NULL
#define OFI_RESOURCE	NULL
#define OFI_UNAVAILABLE "built without libfabric: install libfabric-dev and reconfigure"
#endif /* HAVE_LIBFABRIC */

const struct fp_backend fp_ofi_backend = {
    .name = "ofi",
    .summary = "libfabric fi_mr_reg + fi_write/fi_read over a loopback RDM endpoint, providers "
	       "that pin (verbs, efa)",
    .caps = OFI_CAPS | FP_CAP_PINS,
    .limits =
	{
	    .max_transfer = OFI_MAX_TRANSFER,
	    .case_budget = OFI_CASE_BUDGET,
	    .align = 1,
	},
    .unavailable = OFI_UNAVAILABLE,
    .ops = OFI_OPS,
    .options = ofi_options,
    .resource = OFI_RESOURCE,
};

/* Shares the ofi row's options (listed once, under ofi). */
const struct fp_backend fp_ofi_api_backend = {
    .name = "ofi-api",
    .summary = "libfabric RMA with providers that do not pin (tcp, shm): API-level checks, "
	       "not DMA proofs",
    .caps = OFI_CAPS | FP_CAP_QUEUED_DMA,
    .limits =
	{
	    .max_transfer = OFI_MAX_TRANSFER,
	    .case_budget = OFI_CASE_BUDGET,
	    .align = 1,
	},
    .unavailable = OFI_UNAVAILABLE,
    .ops = OFI_API_OPS,
    .resource = OFI_RESOURCE,
};
