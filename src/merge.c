/* SPDX-License-Identifier: MIT */
/*
 * `forkpin merge REPORT...`: the reports of a fleet (one `forkpin run --json` per node, e.g.
 * from setup/slurm/fleet-run) as one table, nodes x cases. The nodes that differ from the
 * majority come first, then the cases on which they differ, with each node's diagnosis.
 * A report a run never finished (complete: false, or only its PATH.partial) is marked
 * incomplete on its node, and the cases it did not reach are not-run: never a pass.
 * Exit 1 when a node failed, is not qualified or is incomplete; 4 when no node ran a case;
 * 2 on a report that cannot be read. --json, --junit and --html write the whole grid.
 */
#define _GNU_SOURCE
#include "merge.h"
#include "cmd.h"
#include "json_read.h"
#include "report.h"
#include "report_file.h"
#include "subcommands.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHO		 "forkpin merge"
#define usage_error(...) fp_usage_error(WHO, __VA_ARGS__)
#define SHOWN_CASES	 50 /* differing cases printed; the output files hold them all */
#define SHOWN_NODES	 8  /* differing nodes named per case */
#define FIX		 "give a report written by `forkpin run --json`"

static const char *const cell_names[FP_NCELLS] = {"pass",    "xfail", "skip",
						  "not-run", "error", "FAIL"};

const char *fp_cell_name(enum fp_cell c)
{
	return c < FP_NCELLS ? cell_names[c] : "?";
}

enum fp_cell fp_cell_of(const char *result, const char *status)
{
	if (!strcmp(result, "pass") || !strcmp(result, "control-detected"))
		return FP_CELL_PASS;
	if (!strcmp(result, "xfail"))
		return FP_CELL_XFAIL;
	if (!strcmp(result, "skip"))
		return FP_CELL_SKIP;
	/* A failure that never got to compare the memory says nothing about fork safety yet. */
	if (!strcmp(result, "fail") && status &&
	    (!strcmp(status, "error") || !strcmp(status, "timeout") || !strcmp(status, "signal")))
		return FP_CELL_ERROR;
	return FP_CELL_FAIL;
}

size_t fp_merge_majority(const struct fp_merge_grid *g, enum fp_cell *majority, size_t *differs)
{
	size_t c, n, k, differing = 0;

	memset(differs, 0, g->nnodes * sizeof(*differs));
	for (c = 0; c < g->ncases; c++) {
		size_t count[FP_NCELLS] = {0}, best = 0, odd = 0;

		for (n = 0; n < g->nnodes; n++)
			count[g->cells[n * g->ncases + c]]++;
		/* Strictly more wins, so a tie stays with the healthier (lower) cell. */
		for (k = 1; k < FP_NCELLS; k++)
			if (count[k] > count[best])
				best = k;
		majority[c] = (enum fp_cell)best;
		for (n = 0; n < g->nnodes; n++)
			if (g->cells[n * g->ncases + c] != majority[c]) {
				differs[n]++;
				odd++;
			}
		differing += odd > 0;
	}
	return differing;
}

/* What a node's report says as a whole, from the best to the worst. */
enum node_verdict { NODE_PASS, NODE_SKIPPED, NODE_NOT_QUALIFIED, NODE_INCOMPLETE, NODE_FAIL };

static const char *const verdict_names[] = {"pass", "skipped", "NOT QUALIFIED", "INCOMPLETE",
					    "FAIL"};

struct node_case {
	char *id, *why;
	enum fp_cell cell;
};

struct node {
	const char *path;
	char *host, *version, *timestamp, *kernel, *qualify;
	char *stopped; /* why the run is incomplete; NULL when it finished */
	bool partial;  /* read from PATH.partial: the run never wrote its report */
	struct node_case *cases;
	size_t n, cap;
	size_t count[FP_NCELLS]; /* over the merged cases, not-run included */
	size_t differs;
	enum node_verdict verdict;
};

struct merge {
	struct node *nodes;
	size_t nnodes;
	char **ids; /* the union of the case ids, in order of first appearance */
	size_t ncases, ids_cap;
	size_t *slots, nslots; /* open addressing over ids: index + 1, 0 is free */
	enum fp_cell *cells;   /* [node * ncases + case] */
	const char **whys;     /* the same, the case's explanation */
	enum fp_cell *majority;
	size_t *order; /* the nodes as shown: differing first */
	size_t differing_cases;
};

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		fprintf(stderr, "%s: out of memory\n", WHO);
		exit(FP_EXIT_FAIL);
	}
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = s ? strdup(s) : NULL;

	if (s && !p) {
		fprintf(stderr, "%s: out of memory\n", WHO);
		exit(FP_EXIT_FAIL);
	}
	return p;
}

static void grow_cases(struct node *nd)
{
	if (nd->n < nd->cap)
		return;
	nd->cap = nd->cap ? nd->cap * 2 : 64;
	nd->cases = realloc(nd->cases, nd->cap * sizeof(*nd->cases));
	if (!nd->cases) {
		fprintf(stderr, "%s: out of memory\n", WHO);
		exit(FP_EXIT_FAIL);
	}
}

/* One case object of a report (or of a .partial line), or exit 2 naming it. */
static void add_case(struct node *nd, const struct fp_json *c, size_t index)
{
	static const char *const verdicts[] = {"pass",		 "fail", "skip", "control-detected",
					       "control-missed", "xfail"};
	const char *id = fp_json_get_string(c, "id"), *result = fp_json_get_string(c, "result");
	const char *why = fp_json_get_string(c, "explanation");
	const char *diagnosis = fp_json_get_string(c, "diagnosis");
	size_t k;

	for (k = 0; result && k < FP_ARRAY_SIZE(verdicts) && strcmp(result, verdicts[k]); k++)
		;
	if (!id || !result || k == FP_ARRAY_SIZE(verdicts))
		usage_error("%s: case %zu has no string \"id\" or a \"result\" that is not a "
			    "verdict: %s",
			    nd->path, index, FIX);
	grow_cases(nd);
	nd->cases[nd->n++] = (struct node_case){
	    .id = xstrdup(id),
	    .why = xstrdup(why	       ? why
			   : diagnosis ? diagnosis
				       : ""),
	    .cell = fp_cell_of(result, fp_json_get_string(c, "status")),
	};
}

/* The members every report and .partial header share. */
static void read_identity(struct node *nd, const struct fp_json *root, const struct fp_json *env)
{
	const struct fp_json *version = fp_json_get(root, "schema_version");
	const char *host = fp_json_get_string(root, "hostname");

	if (!env || env->type != FP_JSON_OBJECT)
		usage_error("%s: no \"env\" object: %s", nd->path, FIX);
	if (version &&
	    (version->type != FP_JSON_NUMBER || version->number > FP_REPORT_SCHEMA_VERSION))
		usage_error("%s: schema_version newer than %d: merge it with a newer forkpin",
			    nd->path, FP_REPORT_SCHEMA_VERSION);
	if (!host)
		host = fp_json_get_string(env, "node.hostname");
	nd->host = xstrdup(host ? host : nd->path);
	nd->version = xstrdup(fp_json_get_string(root, "forkpin"));
	nd->timestamp = xstrdup(fp_json_get_string(root, "timestamp"));
	if (!nd->timestamp) /* a .partial header: when the run started */
		nd->timestamp = xstrdup(fp_json_get_string(root, "started"));
	nd->kernel = xstrdup(fp_json_get_string(env, "kernel.release"));
	nd->qualify = xstrdup(fp_json_get_string(env, "qualify.verdict"));
}

static void load_report(struct node *nd, const struct fp_json *root)
{
	const struct fp_json *cases = fp_json_get(root, "cases");
	const struct fp_json *complete = fp_json_get(root, "complete");
	const char *stopped = fp_json_get_string(root, "stopped");
	size_t i;

	if (!cases || cases->type != FP_JSON_ARRAY)
		usage_error("%s: no \"cases\" array: %s", nd->path, FIX);
	read_identity(nd, root, fp_json_get(root, "env"));
	for (i = 0; i < cases->count; i++)
		add_case(nd, cases->items[i], i + 1);
	/* Reports older than "complete" were written only by runs that finished. */
	if (complete && complete->type == FP_JSON_FALSE)
		nd->stopped = xstrdup(stopped && *stopped ? stopped : "the run stopped early");
}

/* The case a .partial was running when it stopped: an error, never a pass. */
static void add_stopped_case(struct node *nd, const char *id)
{
	grow_cases(nd);
	nd->cases[nd->n++] = (struct node_case){
	    .id = xstrdup(id),
	    .why = xstrdup("the run stopped during this case: no result (hang, crash or kill)"),
	    .cell = FP_CELL_ERROR,
	};
}

/*
 * PATH.partial (JSON lines): the header, then a line per finished case, and {"running": ID}
 * before each. A case that started and has no line is where the run died: an error. The
 * last line may be cut by the kill; any other bad line is bad input.
 */
static void load_partial(struct node *nd, char *text, size_t len)
{
	char err[256], *line = text, *end, *running = NULL;
	size_t lineno = 0;

	for (; line < text + len; line = end + 1) {
		struct fp_json *v;
		bool last;

		end = memchr(line, '\n', text + len - line);
		last = !end;
		if (!end)
			end = text + len;
		lineno++;
		if (end == line)
			continue;
		v = fp_json_parse(line, end - line, err, sizeof(err));
		if (!v && last && lineno > 1)
			break;
		if (!v)
			usage_error("%s: line %zu: %s: not a forkpin report", nd->path, lineno,
				    err);
		if (lineno == 1) {
			if (!fp_json_get(v, "partial"))
				usage_error("%s: line 1 is not a .partial header: %s", nd->path,
					    FIX);
			read_identity(nd, v, fp_json_get(v, "env"));
		} else if (fp_json_get_string(v, "running")) {
			free(running);
			running = xstrdup(fp_json_get_string(v, "running"));
		} else {
			add_case(nd, v, nd->n + 1);
			free(running);
			running = NULL;
		}
		fp_json_free(v);
	}
	if (!lineno)
		usage_error("%s: empty: %s", nd->path, FIX);
	nd->partial = true;
	nd->stopped = xstrdup("no final report: the run was killed or is still running");
	if (running)
		add_stopped_case(nd, running);
	free(running);
}

static bool is_partial(const char *path, const char *text, size_t len)
{
	size_t n = strlen(path);
	const char *nl = memchr(text, '\n', len);

	if (n > 8 && !strcmp(path + n - 8, ".partial"))
		return true;
	/* A .partial renamed: its first line alone is an object with "partial". */
	return nl && nl + 1 < text + len && memmem(text, nl - text, "\"partial\": true", 15);
}

static void load_node(struct node *nd, const char *path)
{
	char err[256];
	size_t len;
	char *text = fp_read_report(WHO, path, &len);
	struct fp_json *root;

	nd->path = path;
	if (is_partial(path, text, len)) {
		load_partial(nd, text, len);
	} else {
		root = fp_json_parse(text, len, err, sizeof(err));
		if (!root)
			usage_error("%s: %s: not valid JSON (%s)", path, err, FIX);
		load_report(nd, root);
		fp_json_free(root);
	}
	free(text);
}

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* The index of case @id in the union, added when new. */
static size_t case_index(struct merge *m, const char *id)
{
	size_t i, slot;

	if (m->ncases * 2 >= m->nslots) {
		free(m->slots);
		m->nslots = m->nslots ? m->nslots * 2 : 1024;
		m->slots = xcalloc(m->nslots, sizeof(*m->slots));
		for (i = 0; i < m->ncases; i++) {
			for (slot = hash(m->ids[i]) & (m->nslots - 1); m->slots[slot];
			     slot = (slot + 1) & (m->nslots - 1))
				;
			m->slots[slot] = i + 1;
		}
	}
	for (slot = hash(id) & (m->nslots - 1); m->slots[slot]; slot = (slot + 1) & (m->nslots - 1))
		if (!strcmp(m->ids[m->slots[slot] - 1], id))
			return m->slots[slot] - 1;
	if (m->ncases == m->ids_cap) {
		m->ids_cap = m->ids_cap ? m->ids_cap * 2 : 256;
		m->ids = realloc(m->ids, m->ids_cap * sizeof(*m->ids));
		if (!m->ids)
			usage_error("out of memory");
	}
	m->ids[m->ncases] = xstrdup(id);
	m->slots[slot] = ++m->ncases;
	return m->ncases - 1;
}

static void check_hosts(const struct merge *m)
{
	size_t i, j;

	for (i = 0; i < m->nnodes; i++)
		for (j = i + 1; j < m->nnodes; j++)
			if (!strcmp(m->nodes[i].host, m->nodes[j].host))
				usage_error("%s and %s are both from host %s: give one report per "
					    "node",
					    m->nodes[i].path, m->nodes[j].path, m->nodes[i].host);
}

static enum node_verdict node_verdict(const struct node *nd)
{
	if (nd->count[FP_CELL_FAIL] || nd->count[FP_CELL_ERROR])
		return NODE_FAIL;
	if (nd->stopped)
		return NODE_INCOMPLETE;
	if (nd->qualify && strcmp(nd->qualify, "qualified"))
		return NODE_NOT_QUALIFIED;
	return nd->count[FP_CELL_PASS] || nd->count[FP_CELL_XFAIL] ? NODE_PASS : NODE_SKIPPED;
}

static bool node_failed(const struct node *nd)
{
	return nd->verdict >= NODE_NOT_QUALIFIED;
}

/*
 * The order nodes are shown in: those that differ from the majority or failed first (a
 * failing node stays on top even where most nodes fail like it), the worst verdict first,
 * then the most differences, then by name.
 */
static const struct node *sort_nodes;

static int order_cmp(const void *a, const void *b)
{
	const struct node *x = &sort_nodes[*(const size_t *)a],
			  *y = &sort_nodes[*(const size_t *)b];

	bool x_first = x->differs || node_failed(x), y_first = y->differs || node_failed(y);

	if (x_first != y_first)
		return x_first ? -1 : 1;
	if (x->verdict != y->verdict)
		return x->verdict > y->verdict ? -1 : 1;
	if (x->differs != y->differs)
		return x->differs > y->differs ? -1 : 1;
	return strcmp(x->host, y->host);
}

/* The grid over the union of the cases, each node's counts, the majority, the order. */
static void build_grid(struct merge *m)
{
	size_t n, i, c;
	size_t *differs = xcalloc(m->nnodes, sizeof(*differs));

	for (n = 0; n < m->nnodes; n++)
		for (i = 0; i < m->nodes[n].n; i++)
			case_index(m, m->nodes[n].cases[i].id);
	m->cells = xcalloc(m->nnodes * m->ncases, sizeof(*m->cells));
	m->whys = xcalloc(m->nnodes * m->ncases, sizeof(*m->whys));
	for (i = 0; i < m->nnodes * m->ncases; i++)
		m->cells[i] = FP_CELL_NOT_RUN;
	for (n = 0; n < m->nnodes; n++) {
		struct node *nd = &m->nodes[n];

		for (i = 0; i < nd->n; i++) {
			c = n * m->ncases + case_index(m, nd->cases[i].id);
			/* A case run more than once (--repeat) counts its worst run. */
			if (!m->whys[c] || nd->cases[i].cell > m->cells[c]) {
				m->cells[c] = nd->cases[i].cell;
				m->whys[c] = nd->cases[i].why;
			}
		}
		for (c = 0; c < m->ncases; c++)
			nd->count[m->cells[n * m->ncases + c]]++;
		nd->verdict = node_verdict(nd);
	}
	m->majority = xcalloc(m->ncases, sizeof(*m->majority));
	m->differing_cases = fp_merge_majority(
	    &(struct fp_merge_grid){.nnodes = m->nnodes, .ncases = m->ncases, .cells = m->cells},
	    m->majority, differs);
	m->order = xcalloc(m->nnodes, sizeof(*m->order));
	for (n = 0; n < m->nnodes; n++) {
		m->nodes[n].differs = differs[n];
		m->order[n] = n;
	}
	free(differs);
	sort_nodes = m->nodes;
	qsort(m->order, m->nnodes, sizeof(*m->order), order_cmp);
}

static enum fp_cell cell(const struct merge *m, size_t node, size_t c)
{
	return m->cells[node * m->ncases + c];
}

static const char *why(const struct merge *m, size_t node, size_t c)
{
	const char *w = m->whys[node * m->ncases + c];

	if (cell(m, node, c) == FP_CELL_NOT_RUN)
		return m->nodes[node].stopped ? "not reached: the run is incomplete"
					      : "not in this node's report";
	return w ? w : "";
}

static const char *or_unknown(const char *s)
{
	return s && *s ? s : "?";
}

static void print_nodes(const struct merge *m)
{
	size_t i, w = 4;

	for (i = 0; i < m->nnodes; i++)
		if (strlen(m->nodes[i].host) > w)
			w = strlen(m->nodes[i].host);
	printf("%-*s  %-13s %5s %5s %5s %5s %5s %7s %6s  %-8s %-24s %s\n", (int)w, "NODE",
	       "VERDICT", "PASS", "FAIL", "ERROR", "XFAIL", "SKIP", "NOT-RUN", "DIFFER", "FORKPIN",
	       "KERNEL", "WRITTEN");
	for (i = 0; i < m->nnodes; i++) {
		const struct node *nd = &m->nodes[m->order[i]];

		printf("%-*s  %-13s %5zu %5zu %5zu %5zu %5zu %7zu %6zu  %-8s %-24s %s\n", (int)w,
		       nd->host, verdict_names[nd->verdict], nd->count[FP_CELL_PASS],
		       nd->count[FP_CELL_FAIL], nd->count[FP_CELL_ERROR], nd->count[FP_CELL_XFAIL],
		       nd->count[FP_CELL_SKIP], nd->count[FP_CELL_NOT_RUN], nd->differs,
		       or_unknown(nd->version), or_unknown(nd->kernel),
		       nd->partial ? "(partial)" : or_unknown(nd->timestamp));
	}
	for (i = 0; i < m->nnodes; i++) {
		const struct node *nd = &m->nodes[m->order[i]];

		if (nd->stopped)
			printf("%s: INCOMPLETE: %s (%s)\n", nd->host, nd->stopped, nd->path);
	}
}

/* How many nodes differ from the majority on case @c, and whether one of them failed. */
static size_t odd_nodes(const struct merge *m, size_t c, bool *failing)
{
	size_t i, odd = 0;

	*failing = false;
	for (i = 0; i < m->nnodes; i++)
		if (cell(m, i, c) != m->majority[c]) {
			odd++;
			*failing |= cell(m, i, c) >= FP_CELL_ERROR;
		}
	return odd;
}

static void print_difference(const struct merge *m, size_t c, size_t odd)
{
	size_t i, named = 0;

	printf("  %s: majority %s (%zu of %zu)\n", m->ids[c], fp_cell_name(m->majority[c]),
	       m->nnodes - odd, m->nnodes);
	for (i = 0; i < m->nnodes; i++) {
		size_t n = m->order[i];

		if (cell(m, n, c) == m->majority[c])
			continue;
		if (named++ == SHOWN_NODES) {
			printf("    ... and %zu more nodes\n", odd - SHOWN_NODES);
			break;
		}
		printf("    %s %s%s%.200s\n", m->nodes[n].host, fp_cell_name(cell(m, n, c)),
		       *why(m, n, c) ? ": " : "", why(m, n, c));
	}
}

/* Each case on which a node differs, those where one failed first: the majority, then each
 * node that differs with its diagnosis. */
static void print_differences(const struct merge *m)
{
	size_t c, odd, shown = 0;
	bool failing;
	int pass;

	if (!m->differing_cases)
		return;
	printf("\nCases where a node differs from the majority (%zu):\n", m->differing_cases);
	for (pass = 0; pass < 2; pass++)
		for (c = 0; c < m->ncases && shown < SHOWN_CASES; c++) {
			odd = odd_nodes(m, c, &failing);
			if (odd && failing == !pass) {
				print_difference(m, c, odd);
				shown++;
			}
		}
	if (m->differing_cases > shown)
		printf("  ... and %zu more cases (--json, --html: all of them)\n",
		       m->differing_cases - shown);
}

/* JSON: {"forkpin", "timestamp", "nodes": [...] (as shown), "cases": [{"id", "majority",
 * "results": [{"result", "why"}, ...] (one per node, in the order of "nodes")}], "exit_code"} */
static void write_json(FILE *f, const struct merge *m, int code)
{
	size_t i, c, k;
	char now[32];

	fputs("{\n  \"forkpin\": ", f);
	fp_json_write_string(f, FORKPIN_VERSION);
	fputs(",\n  \"timestamp\": ", f);
	fp_json_write_string(f, fp_utc_timestamp(now, sizeof(now)));
	fprintf(f, ",\n  \"exit_code\": %d,\n  \"nodes\": [", code);
	for (i = 0; i < m->nnodes; i++) {
		const struct node *nd = &m->nodes[m->order[i]];

		fputs(i ? ",\n    {\"hostname\": " : "\n    {\"hostname\": ", f);
		fp_json_write_string(f, nd->host);
		fputs(", \"verdict\": ", f);
		fp_json_write_string(f, verdict_names[nd->verdict]);
		fprintf(f, ", \"complete\": %s, \"partial\": %s, \"stopped\": ",
			nd->stopped ? "false" : "true", nd->partial ? "true" : "false");
		fp_json_write_string(f, nd->stopped ? nd->stopped : "");
		fputs(", \"report\": ", f);
		fp_json_write_string(f, nd->path);
		fputs(", \"forkpin\": ", f);
		fp_json_write_string(f, or_unknown(nd->version));
		fputs(", \"kernel\": ", f);
		fp_json_write_string(f, or_unknown(nd->kernel));
		fputs(", \"timestamp\": ", f);
		fp_json_write_string(f, or_unknown(nd->timestamp));
		fprintf(f, ", \"differs\": %zu, \"counts\": {", nd->differs);
		for (k = 0; k < FP_NCELLS; k++)
			fprintf(f, "%s\"%s\": %zu", k ? ", " : "", fp_cell_name(k), nd->count[k]);
		fputs("}}", f);
	}
	fputs("\n  ],\n  \"cases\": [", f);
	for (c = 0; c < m->ncases; c++) {
		fputs(c ? ",\n    {\"id\": " : "\n    {\"id\": ", f);
		fp_json_write_string(f, m->ids[c]);
		fputs(", \"majority\": ", f);
		fp_json_write_string(f, fp_cell_name(m->majority[c]));
		fputs(", \"results\": [", f);
		for (i = 0; i < m->nnodes; i++) {
			fputs(i ? ", {\"result\": " : "{\"result\": ", f);
			fp_json_write_string(f, fp_cell_name(cell(m, m->order[i], c)));
			fputs(", \"why\": ", f);
			fp_json_write_string(f, why(m, m->order[i], c));
			fputc('}', f);
		}
		fputs("]}", f);
	}
	fputs("\n  ]\n}\n", f);
}

static void xml_attr(FILE *f, const char *name, const char *value)
{
	fprintf(f, " %s=\"", name);
	fp_xml_write_escaped(f, value);
	fputc('"', f);
}

/* JUnit: one testsuite per node (name = its host), a case's classname HOST.backend.memtype. */
static void write_junit_node(FILE *f, const struct merge *m, size_t n)
{
	const struct node *nd = &m->nodes[n];
	size_t c, errors = nd->count[FP_CELL_ERROR] + (nd->stopped ? 1 : 0);

	fputs("  <testsuite", f);
	xml_attr(f, "name", nd->host);
	xml_attr(f, "hostname", nd->host);
	xml_attr(f, "timestamp", or_unknown(nd->timestamp));
	fprintf(f, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\">\n",
		m->ncases + (nd->stopped ? 1 : 0), nd->count[FP_CELL_FAIL], errors,
		nd->count[FP_CELL_SKIP] + nd->count[FP_CELL_NOT_RUN]);
	for (c = 0; c < m->ncases; c++) {
		const char *id = m->ids[c], *scenario = strrchr(id, '/');
		char classname[256];
		enum fp_cell v = cell(m, n, c);

		snprintf(classname, sizeof(classname), "%s.%.*s", nd->host,
			 scenario ? (int)(scenario - id) : (int)strlen(id), id);
		for (char *p = classname + strlen(nd->host) + 1; *p; p++)
			if (*p == '/')
				*p = '.';
		fputs("    <testcase", f);
		xml_attr(f, "classname", classname);
		xml_attr(f, "name", scenario ? scenario + 1 : id);
		fputs(">", f);
		if (v == FP_CELL_FAIL || v == FP_CELL_ERROR) {
			fputs(v == FP_CELL_FAIL ? "<failure" : "<error", f);
			xml_attr(f, "message", why(m, n, c));
			fputs("/>", f);
		} else if (v == FP_CELL_SKIP || v == FP_CELL_NOT_RUN) {
			fputs("<skipped", f);
			xml_attr(f, "message", why(m, n, c));
			fputs("/>", f);
		}
		fputs("</testcase>\n", f);
	}
	if (nd->stopped) {
		fputs("    <testcase classname=\"forkpin.run\" name=\"complete\"><error", f);
		xml_attr(f, "message", nd->stopped);
		fputs("/></testcase>\n", f);
	}
	fputs("  </testsuite>\n", f);
}

static void write_junit(FILE *f, const struct merge *m, int code)
{
	size_t i;

	(void)code;
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"forkpin merge\">\n",
	      f);
	for (i = 0; i < m->nnodes; i++)
		write_junit_node(f, m, m->order[i]);
	fputs("</testsuites>\n", f);
}

static const char *cell_class(enum fp_cell c)
{
	static const char *const classes[FP_NCELLS] = {"pass",	 "xfail", "skip",
						       "notrun", "fail",  "fail"};
	return classes[c];
}

static void html_text(FILE *f, const char *s)
{
	fp_xml_write_escaped(f, s ? s : "");
}

static void html_nodes(FILE *f, const struct merge *m)
{
	size_t i, k;

	fputs("<h2>Nodes</h2>\n<table id=\"nodes\">\n<tr><th>node</th><th>verdict</th>", f);
	for (k = 0; k < FP_NCELLS; k++)
		fprintf(f, "<th>%s</th>", fp_cell_name(k));
	fputs("<th>differ</th><th>forkpin</th><th>kernel</th><th>written</th><th>report</th>"
	      "</tr>\n",
	      f);
	for (i = 0; i < m->nnodes; i++) {
		const struct node *nd = &m->nodes[m->order[i]];

		fprintf(f, "<tr class=\"%s\"><td>", node_failed(nd) ? "fail" : "pass");
		html_text(f, nd->host);
		fputs("</td><td>", f);
		html_text(f, verdict_names[nd->verdict]);
		if (nd->stopped) {
			fputs(": ", f);
			html_text(f, nd->stopped);
		}
		fputs("</td>", f);
		for (k = 0; k < FP_NCELLS; k++)
			fprintf(f, "<td>%zu</td>", nd->count[k]);
		fprintf(f, "<td>%zu</td><td>", nd->differs);
		html_text(f, or_unknown(nd->version));
		fputs("</td><td>", f);
		html_text(f, or_unknown(nd->kernel));
		fputs("</td><td>", f);
		html_text(f, nd->partial ? "(partial)" : or_unknown(nd->timestamp));
		fputs("</td><td>", f);
		html_text(f, nd->path);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n", f);
}

/* The grid: a row per case (the differing ones first), a column per node as shown. */
static void html_grid_row(FILE *f, const struct merge *m, size_t c)
{
	size_t i;

	fputs("<tr><th>", f);
	html_text(f, m->ids[c]);
	fputs("</th>", f);
	for (i = 0; i < m->nnodes; i++) {
		enum fp_cell v = cell(m, m->order[i], c);

		fprintf(f, "<td class=\"%s%s\" title=\"", cell_class(v),
			v != m->majority[c] ? " odd" : "");
		html_text(f, why(m, m->order[i], c));
		fprintf(f, "\">%s</td>", fp_cell_name(v));
	}
	fputs("</tr>\n", f);
}

static void html_grid(FILE *f, const struct merge *m)
{
	size_t i, c;
	bool failing;
	int pass;

	fputs("<h2>Nodes x cases</h2>\n<table id=\"grid\">\n<tr><th>case</th>", f);
	for (i = 0; i < m->nnodes; i++) {
		fputs("<th>", f);
		html_text(f, m->nodes[m->order[i]].host);
		fputs("</th>", f);
	}
	fputs("</tr>\n", f);
	for (pass = 0; pass < 2; pass++)
		for (c = 0; c < m->ncases; c++)
			if ((odd_nodes(m, c, &failing) > 0) == !pass)
				html_grid_row(f, m, c);
	fputs("</table>\n", f);
}

static void write_html(FILE *f, const struct merge *m, int code)
{
	size_t i, failed = 0;

	for (i = 0; i < m->nnodes; i++)
		failed += node_failed(&m->nodes[i]);
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	      "<title>forkpin fleet</title>\n<style>\n"
	      "body{font-family:sans-serif;margin:1.5em}\n"
	      "table{border-collapse:collapse;margin:0.5em 0 1.5em}\n"
	      "td,th{border:1px solid #bbb;padding:0.2em 0.5em;text-align:left}\n"
	      ".fail{background:#f8c8c8}.pass{background:#d4f0d4}.xfail{background:#f8e8b0}"
	      ".skip,.notrun{background:#eee}.odd{font-weight:bold;outline:2px solid #c00}\n"
	      "</style>\n</head>\n<body>\n<h1>forkpin fleet</h1>\n",
	      f);
	fprintf(f,
		"<p id=\"verdict\" class=\"%s\">%s: %zu nodes, %zu failed; %zu cases, %zu where a "
		"node differs from the majority</p>\n",
		code == FP_EXIT_FAIL ? "fail" : "pass", code == FP_EXIT_FAIL ? "FAIL" : "PASS",
		m->nnodes, failed, m->ncases, m->differing_cases);
	html_nodes(f, m);
	html_grid(f, m);
	fputs("</body>\n</html>\n", f);
}

typedef void (*writer_fn)(FILE *f, const struct merge *m, int code);

/* Written like the run's reports: PATH.tmp, renamed over PATH when complete. */
static int write_output(const char *flag, const char *path, writer_fn write, const struct merge *m,
			int code)
{
	struct fp_outfile out;
	int err;

	if (!path)
		return 0;
	err = fp_outfile_open(&out, path);
	if (!err) {
		write(out.f, m, code);
		err = fp_outfile_commit(&out);
	}
	if (err)
		fprintf(stderr, "%s: %s %s: %s\n", WHO, flag, path, strerror(-err));
	return err;
}

static void print_help(FILE *f)
{
	fprintf(f,
		"usage: forkpin merge [--json FILE] [--junit FILE] [--html FILE] REPORT...\n"
		"One table of a fleet's `forkpin run --json` reports (one per node; a run's\n"
		"REPORT.partial where it never finished): the nodes that differ from the majority\n"
		"first, then each case on which a node differs, with its diagnosis.\n"
		"Options:\n"
		"      --json FILE       write the nodes x cases grid as JSON\n"
		"      --junit FILE      write JUnit XML, a testsuite per node\n"
		"      --html FILE       write a self-contained HTML page\n"
		"  -h, --help            this help\n"
		"Exit: 0 every node passed, 1 a node failed, is not qualified or is incomplete,\n"
		"2 bad usage or a report that cannot be read, 4 no node ran a case.\n");
}

struct merge_args {
	const char *json, *junit, *html;
	const char **reports;
	size_t n;
};

static void parse_args(struct merge_args *a, int argc, char **argv)
{
	const char **path;
	int i;

	a->reports = xcalloc(argc, sizeof(*a->reports));
	for (i = 2; i < argc; i++) {
		path = !strcmp(argv[i], "--json")    ? &a->json
		       : !strcmp(argv[i], "--junit") ? &a->junit
		       : !strcmp(argv[i], "--html")  ? &a->html
						     : NULL;
		if (path) {
			if (++i == argc)
				usage_error("%s needs a FILE", argv[i - 1]);
			*path = argv[i];
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			print_help(stdout);
			exit(FP_EXIT_OK);
		} else if (!strcmp(argv[i], "--")) {
			while (++i < argc)
				a->reports[a->n++] = argv[i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fp_reject_option(WHO, "merge", argv[i]);
		} else {
			a->reports[a->n++] = argv[i];
		}
	}
	if (!a->n)
		usage_error("give the reports: forkpin merge NODE1.json NODE2.json ...");
	fp_require_writable(WHO, "--json", a->json);
	fp_require_writable(WHO, "--junit", a->junit);
	fp_require_writable(WHO, "--html", a->html);
}

int fp_cmd_merge(int argc, char **argv)
{
	struct merge_args a = {0};
	struct merge m = {0};
	size_t i, failed = 0, ran = 0, odd = 0;
	int code, err = 0;

	parse_args(&a, argc, argv);
	m.nodes = xcalloc(a.n, sizeof(*m.nodes));
	for (m.nnodes = 0; m.nnodes < a.n; m.nnodes++)
		load_node(&m.nodes[m.nnodes], a.reports[m.nnodes]);
	check_hosts(&m);
	build_grid(&m);
	for (i = 0; i < m.nnodes; i++) {
		failed += node_failed(&m.nodes[i]);
		ran += m.nodes[i].verdict != NODE_SKIPPED;
		odd += m.nodes[i].differs > 0;
	}
	code = fp_exit_code(failed, ran);
	printf("forkpin merge: %zu nodes, %zu cases; failed: %zu of %zu nodes; differing from the "
	       "majority: %zu\n\n",
	       m.nnodes, m.ncases, failed, m.nnodes, odd);
	print_nodes(&m);
	print_differences(&m);
	err |= write_output("--json", a.json, write_json, &m, code);
	err |= write_output("--junit", a.junit, write_junit, &m, code);
	err |= write_output("--html", a.html, write_html, &m, code);
	printf("\n%s\n", code == FP_EXIT_FAIL	       ? "FLEET FAIL"
			 : code == FP_EXIT_NOTHING_RAN ? "FLEET: nothing ran"
						       : "FLEET PASS");
	return err ? FP_EXIT_FAIL : code;
}
