// SPDX-License-Identifier: MIT
/*
 * rdma-core for the processes that use it (rdma_lib.h): forkpin's own definitions of the
 * libibverbs and librdmacm functions it calls, each loading the real one on its first call.
 *
 * Why not link them: a linked library is mapped into every forkpin process, and libibverbs
 * and librdmacm bring libnl-3 and libnl-route-3 with them: 20 of the 54 mappings of the runner
 * and of each case process it forks, though only the verbs, verbs-odp and verbs-remote rows and
 * `forkpin peer` call them. fork() copies every mapping (dup_mmap), and each case forks twice
 * (the case process, then its verification child), so each case paid for them twice.
 * docs/bench.md ("Host matrix and harness overhead") has the measured cost. libfabric is
 * loaded the same way, by ofi_lib.c, for its own reasons.
 *
 * Each wrapper is one line of the table below, with the header's prototype (the compiler
 * checks it against rdma-core's declaration): dlopen(RTLD_NOW | RTLD_LOCAL) of the library on
 * the first call of any of its functions, dlsym of the function on its own first call.
 * RTLD_LOCAL and no --export-dynamic: librdmacm's own ibv_* calls bind to the real libibverbs
 * (its dependency), never to these wrappers, which forkpin's dynamic symbol table does not
 * list. Without the library every wrapper fails as the real call does without a device; the
 * rows check fp_rdma_lib_missing() at plan and open time and SKIP with its reason.
 *
 * Wrapped: what forkpin's objects reference (`nm -u`), which is not always what the source
 * calls: ibv_reg_mr, ibv_query_port and ibv_query_gid_ex are macros or inline functions over
 * ibv_reg_mr / ibv_reg_mr_iova2, ibv_query_port (or a context op) and _ibv_query_gid_ex.
 */
#define _GNU_SOURCE
#include "rdma_lib.h"

#if HAVE_LIBIBVERBS || HAVE_LIBRDMACM

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>

#include "../util.h"
#if HAVE_LIBRDMACM
#include <rdma/rdma_cma.h>
#endif

static struct {
	const char *file, *install;
	void *handle;
	int state; /* 0 not tried, 1 loaded, -1 missing (why) */
	char why[384];
} fp_rdma_libs[] = {
    [FP_RDMA_IBVERBS] =
	{"libibverbs.so.1",
	 "apt-get install libibverbs1 ibverbs-providers, or dnf install libibverbs"},
    [FP_RDMA_RDMACM] = {"librdmacm.so.1", "apt-get install librdmacm1, or dnf install librdmacm"},
};
static pthread_mutex_t fp_rdma_lock = PTHREAD_MUTEX_INITIALIZER;

const char *fp_rdma_lib_missing(enum fp_rdma_lib lib)
{
	typeof(fp_rdma_libs[0]) *l = &fp_rdma_libs[lib];
	size_t n = strlen(l->file);
	const char *e;

	if (__atomic_load_n(&l->state, __ATOMIC_ACQUIRE) == 0) {
		pthread_mutex_lock(&fp_rdma_lock);
		if (l->state == 0) {
			l->handle = dlopen(l->file, RTLD_NOW | RTLD_LOCAL);
			e = l->handle ? NULL : dlerror();
			if (!e)
				;
			else if (!strncmp(e, l->file, n) && strstr(e, "cannot open shared object"))
				snprintf(l->why, sizeof(l->why), "%s not installed (%s)", l->file,
					 l->install);
			else
				snprintf(l->why, sizeof(l->why), "%s cannot be loaded: %s (%s)",
					 l->file, e, l->install);
			__atomic_store_n(&l->state, l->handle ? 1 : -1, __ATOMIC_RELEASE);
		}
		pthread_mutex_unlock(&fp_rdma_lock);
	}
	return l->state > 0 ? NULL : l->why;
}

void *fp_rdma_lib_sym(enum fp_rdma_lib lib, const char *name)
{
	return fp_rdma_lib_missing(lib) ? NULL : dlsym(fp_rdma_libs[lib].handle, name);
}

/* @name's real function, looked up once into *@cache. */
static void *fp_rdma_fn(enum fp_rdma_lib lib, const char *name, void **cache)
{
	void *p = __atomic_load_n(cache, __ATOMIC_ACQUIRE);

	if (!p) {
		p = fp_rdma_lib_sym(lib, name);
		__atomic_store_n(cache, p, __ATOMIC_RELEASE);
	}
	return p;
}

/* One wrapper: RET NAME PARAMS calling the real NAME with ARGS, or failing with FAIL (and
 * errno ENOSYS) when it cannot be loaded. (NAME) keeps rdma-core's function-like macros of
 * the same name out of the definition. */
#define FP_RDMA_WRAP(lib, ret, name, params, args, fail)                                           \
	ret(name) params                                                                           \
	{                                                                                          \
		static void *sym;                                                                  \
		void *p = fp_rdma_fn(lib, #name, &sym);                                            \
		ret(*real) params;                                                                 \
                                                                                                   \
		if (!p) {                                                                          \
			errno = ENOSYS;                                                            \
			return fail;                                                               \
		}                                                                                  \
		memcpy(&real, &p, sizeof(p));                                                      \
		return real args;                                                                  \
	}
#define FP_RDMA_WRAP_VOID(lib, name, params, args)                                                 \
	void(name) params                                                                          \
	{                                                                                          \
		static void *sym;                                                                  \
		void *p = fp_rdma_fn(lib, #name, &sym);                                            \
		void(*real) params;                                                                \
                                                                                                   \
		if (!p)                                                                            \
			return;                                                                    \
		memcpy(&real, &p, sizeof(p));                                                      \
		real args;                                                                         \
	}

/* clang-format off */
#define V FP_RDMA_IBVERBS
/* libibverbs: FAIL is NULL, -1 (errno) or ENOSYS (the calls that return an errno value). */
FP_RDMA_WRAP(V, struct ibv_device **, ibv_get_device_list, (int *num_devices), (num_devices), NULL)
FP_RDMA_WRAP_VOID(V, ibv_free_device_list, (struct ibv_device **list), (list))
FP_RDMA_WRAP(V, const char *, ibv_get_device_name, (struct ibv_device *device), (device), NULL)
FP_RDMA_WRAP(V, struct ibv_context *, ibv_open_device, (struct ibv_device *device), (device), NULL)
FP_RDMA_WRAP(V, int, ibv_close_device, (struct ibv_context *context), (context), -1)
FP_RDMA_WRAP(V, int, ibv_query_device, (struct ibv_context *context, struct ibv_device_attr *device_attr), (context, device_attr), ENOSYS)
FP_RDMA_WRAP(V, int, ibv_query_port, (struct ibv_context *context, uint8_t port_num, struct _compat_ibv_port_attr *port_attr), (context, port_num, port_attr), ENOSYS)
FP_RDMA_WRAP(V, int, ibv_query_gid, (struct ibv_context *context, uint8_t port_num, int index, union ibv_gid *gid), (context, port_num, index, gid), -1)
FP_RDMA_WRAP(V, int, _ibv_query_gid_ex, (struct ibv_context *context, uint32_t port_num, uint32_t gid_index, struct ibv_gid_entry *entry, uint32_t flags, size_t entry_size), (context, port_num, gid_index, entry, flags, entry_size), ENOSYS)
FP_RDMA_WRAP(V, struct ibv_pd *, ibv_alloc_pd, (struct ibv_context *context), (context), NULL)
FP_RDMA_WRAP(V, int, ibv_dealloc_pd, (struct ibv_pd *pd), (pd), ENOSYS)
FP_RDMA_WRAP(V, struct ibv_mr *, ibv_reg_mr, (struct ibv_pd *pd, void *addr, size_t length, int access), (pd, addr, length, access), NULL)
#ifdef IBV_ACCESS_OPTIONAL_RANGE /* ibv_reg_mr's macro calls it for non-constant access flags */
FP_RDMA_WRAP(V, struct ibv_mr *, ibv_reg_mr_iova2, (struct ibv_pd *pd, void *addr, size_t length, uint64_t iova, unsigned int access), (pd, addr, length, iova, access), NULL)
#endif
FP_RDMA_WRAP(V, int, ibv_dereg_mr, (struct ibv_mr *mr), (mr), ENOSYS)
FP_RDMA_WRAP(V, struct ibv_comp_channel *, ibv_create_comp_channel, (struct ibv_context *context), (context), NULL)
FP_RDMA_WRAP(V, int, ibv_destroy_comp_channel, (struct ibv_comp_channel *channel), (channel), ENOSYS)
FP_RDMA_WRAP(V, struct ibv_cq *, ibv_create_cq, (struct ibv_context *context, int cqe, void *cq_context, struct ibv_comp_channel *channel, int comp_vector), (context, cqe, cq_context, channel, comp_vector), NULL)
FP_RDMA_WRAP(V, int, ibv_destroy_cq, (struct ibv_cq *cq), (cq), ENOSYS)
FP_RDMA_WRAP(V, int, ibv_get_cq_event, (struct ibv_comp_channel *channel, struct ibv_cq **cq, void **cq_context), (channel, cq, cq_context), -1)
FP_RDMA_WRAP_VOID(V, ibv_ack_cq_events, (struct ibv_cq *cq, unsigned int nevents), (cq, nevents))
FP_RDMA_WRAP(V, struct ibv_qp *, ibv_create_qp, (struct ibv_pd *pd, struct ibv_qp_init_attr *qp_init_attr), (pd, qp_init_attr), NULL)
FP_RDMA_WRAP(V, int, ibv_modify_qp, (struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask), (qp, attr, attr_mask), ENOSYS)
FP_RDMA_WRAP(V, int, ibv_query_qp, (struct ibv_qp *qp, struct ibv_qp_attr *attr, int attr_mask, struct ibv_qp_init_attr *init_attr), (qp, attr, attr_mask, init_attr), ENOSYS)
FP_RDMA_WRAP(V, int, ibv_destroy_qp, (struct ibv_qp *qp), (qp), ENOSYS)
FP_RDMA_WRAP(V, int, ibv_fork_init, (void), (), ENOSYS)
#if HAVE_IBV_IS_FORK_INITIALIZED
FP_RDMA_WRAP(V, enum ibv_fork_status, ibv_is_fork_initialized, (void), (), IBV_FORK_DISABLED)
#endif
FP_RDMA_WRAP(V, const char *, ibv_node_type_str, (enum ibv_node_type node_type), (node_type), "unknown")
FP_RDMA_WRAP(V, const char *, ibv_port_state_str, (enum ibv_port_state port_state), (port_state), "unknown")
FP_RDMA_WRAP(V, const char *, ibv_wc_status_str, (enum ibv_wc_status status), (status), "unknown")
#undef V

#if HAVE_LIBRDMACM
#define C FP_RDMA_RDMACM
/* librdmacm: FAIL is NULL or -1 (errno). */
FP_RDMA_WRAP(C, struct rdma_event_channel *, rdma_create_event_channel, (void), (), NULL)
FP_RDMA_WRAP_VOID(C, rdma_destroy_event_channel, (struct rdma_event_channel *channel), (channel))
FP_RDMA_WRAP(C, int, rdma_create_id, (struct rdma_event_channel *channel, struct rdma_cm_id **id, void *context, enum rdma_port_space ps), (channel, id, context, ps), -1)
FP_RDMA_WRAP(C, int, rdma_destroy_id, (struct rdma_cm_id *id), (id), -1)
FP_RDMA_WRAP(C, int, rdma_bind_addr, (struct rdma_cm_id *id, struct sockaddr *addr), (id, addr), -1)
FP_RDMA_WRAP(C, int, rdma_listen, (struct rdma_cm_id *id, int backlog), (id, backlog), -1)
FP_RDMA_WRAP(C, int, rdma_resolve_addr, (struct rdma_cm_id *id, struct sockaddr *src_addr, struct sockaddr *dst_addr, int timeout_ms), (id, src_addr, dst_addr, timeout_ms), -1)
FP_RDMA_WRAP(C, int, rdma_resolve_route, (struct rdma_cm_id *id, int timeout_ms), (id, timeout_ms), -1)
FP_RDMA_WRAP(C, int, rdma_create_qp, (struct rdma_cm_id *id, struct ibv_pd *pd, struct ibv_qp_init_attr *qp_init_attr), (id, pd, qp_init_attr), -1)
FP_RDMA_WRAP_VOID(C, rdma_destroy_qp, (struct rdma_cm_id *id), (id))
FP_RDMA_WRAP(C, int, rdma_connect, (struct rdma_cm_id *id, struct rdma_conn_param *conn_param), (id, conn_param), -1)
FP_RDMA_WRAP(C, int, rdma_accept, (struct rdma_cm_id *id, struct rdma_conn_param *conn_param), (id, conn_param), -1)
FP_RDMA_WRAP(C, int, rdma_reject, (struct rdma_cm_id *id, const void *private_data, uint8_t private_data_len), (id, private_data, private_data_len), -1)
FP_RDMA_WRAP(C, int, rdma_disconnect, (struct rdma_cm_id *id), (id), -1)
FP_RDMA_WRAP(C, int, rdma_get_cm_event, (struct rdma_event_channel *channel, struct rdma_cm_event **event), (channel, event), -1)
FP_RDMA_WRAP(C, int, rdma_ack_cm_event, (struct rdma_cm_event *event), (event), -1)
FP_RDMA_WRAP(C, int, rdma_set_option, (struct rdma_cm_id *id, int level, int optname, void *optval, size_t optlen), (id, level, optname, optval, optlen), -1)
FP_RDMA_WRAP(C, const char *, rdma_event_str, (enum rdma_cm_event_type event), (event), "UNKNOWN EVENT")
#undef C
#endif /* HAVE_LIBRDMACM */
/* clang-format on */

#endif /* HAVE_LIBIBVERBS || HAVE_LIBRDMACM */
