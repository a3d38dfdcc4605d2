/* SPDX-License-Identifier: MIT */
#include "json_read.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

struct parser {
	const char *p, *end, *start;
	char *err;
	size_t err_size;
	bool failed;
	int depth;
};

static void __attribute__((format(printf, 2, 3))) fail(struct parser *ps, const char *fmt, ...)
{
	size_t line = 1, col = 1;
	const char *c;
	char what[200];
	va_list ap;

	if (ps->failed)
		return;
	ps->failed = true;
	for (c = ps->start; c < ps->p; c++, col++)
		if (*c == '\n') {
			line++;
			col = 0;
		}
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->err_size, "line %zu, column %zu: %s", line, col, what);
}

static void skip_space(struct parser *ps)
{
	while (ps->p < ps->end && strchr(" \t\r\n", *ps->p) && *ps->p)
		ps->p++;
}

static struct fp_json *new_value(struct parser *ps, enum fp_json_type type)
{
	struct fp_json *v = calloc(1, sizeof(*v));

	if (!v)
		fail(ps, "out of memory");
	else
		v->type = type;
	return v;
}

/* A growing byte buffer for strings. */
struct buf {
	char *data;
	size_t len, cap;
};

static bool buf_put(struct buf *b, const char *bytes, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->cap ? b->cap * 2 : 32) + n;
		char *grown = realloc(b->data, cap);

		if (!grown)
			return false;
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, bytes, n);
	b->len += n;
	b->data[b->len] = '\0';
	return true;
}

static size_t utf8_encode(unsigned long cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* The length of the valid UTF-8 sequence at @s (RFC 3629: no overlongs, no surrogates,
 * nothing past U+10FFFF), or 0. */
static size_t utf8_valid(const unsigned char *s, const unsigned char *end)
{
	size_t n, i;
	unsigned long cp;

	if (s[0] < 0x80)
		return 1;
	n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
	if (!n || s[0] > 0xf4 || (size_t)(end - s) < n)
		return 0;
	cp = s[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static bool read_hex4(struct parser *ps, unsigned long *out)
{
	int i;

	*out = 0;
	if (ps->end - ps->p < 4) {
		fail(ps, "\\u needs four hex digits");
		return false;
	}
	for (i = 0; i < 4; i++) {
		char c = *ps->p++;
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;

		if (d < 0) {
			fail(ps, "\\u needs four hex digits");
			return false;
		}
		*out = *out * 16 + (unsigned long)d;
	}
	return true;
}

/* After "\u": one code point, joining a surrogate pair. */
static bool read_unicode_escape(struct parser *ps, struct buf *b)
{
	unsigned long cp, low;
	char utf8[4];

	if (!read_hex4(ps, &cp))
		return false;
	if (cp >= 0xdc00 && cp <= 0xdfff) {
		fail(ps, "a low surrogate \\u%04lx without a high one before it", cp);
		return false;
	}
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
			fail(ps, "the high surrogate \\u%04lx is not followed by a low one", cp);
			return false;
		}
		ps->p += 2;
		if (!read_hex4(ps, &low))
			return false;
		if (low < 0xdc00 || low > 0xdfff) {
			fail(ps, "the high surrogate \\u%04lx is followed by \\u%04lx", cp, low);
			return false;
		}
		cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
	}
	if (cp == 0) {
		fail(ps, "\\u0000 is not supported (strings end at NUL)");
		return false;
	}
	if (!buf_put(b, utf8, utf8_encode(cp, utf8)))
		fail(ps, "out of memory");
	return !ps->failed;
}

static bool read_escape(struct parser *ps, struct buf *b)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *hit;
	char c;

	if (ps->p == ps->end) {
		fail(ps, "the string ends inside an escape");
		return false;
	}
	c = *ps->p++;
	if (c == 'u')
		return read_unicode_escape(ps, b);
	hit = c ? strchr(from, c) : NULL;
	if (!hit) {
		ps->p--;
		fail(ps, "unknown escape \\%c", c);
		return false;
	}
	if (!buf_put(b, &to[hit - from], 1))
		fail(ps, "out of memory");
	return !ps->failed;
}

/* At the opening quote: the string's bytes, NUL-terminated, in a new allocation. */
static char *read_string(struct parser *ps)
{
	struct buf b = {0};

	ps->p++;
	buf_put(&b, "", 0);
	while (!ps->failed) {
		const unsigned char *u = (const unsigned char *)ps->p;
		size_t n;

		if (ps->p == ps->end) {
			fail(ps, "the string does not end");
		} else if (*ps->p == '"') {
			ps->p++;
			return b.data;
		} else if (*ps->p == '\\') {
			ps->p++;
			read_escape(ps, &b);
		} else if (*u < 0x20) {
			fail(ps, "a control character (0x%02x) in a string: escape it", *u);
		} else if (!(n = utf8_valid(u, (const unsigned char *)ps->end))) {
			fail(ps, "invalid UTF-8 in a string");
		} else {
			if (!buf_put(&b, ps->p, n))
				fail(ps, "out of memory");
			ps->p += n;
		}
	}
	free(b.data);
	return NULL;
}

static size_t digits(struct parser *ps)
{
	size_t n = 0;

	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
		ps->p++;
		n++;
	}
	return n;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static struct fp_json *read_number(struct parser *ps)
{
	const char *begin = ps->p;
	char text[64];
	struct fp_json *v;

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p < ps->end && *ps->p == '0') {
		ps->p++;
		if (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
			fail(ps, "a number with a leading zero");
			return NULL;
		}
	} else if (!digits(ps)) {
		fail(ps, "a number needs digits");
		return NULL;
	}
	if (ps->p < ps->end && *ps->p == '.' && (ps->p++, !digits(ps))) {
		fail(ps, "a number needs digits after '.'");
		return NULL;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (!digits(ps)) {
			fail(ps, "a number needs digits in its exponent");
			return NULL;
		}
	}
	if ((size_t)(ps->p - begin) >= sizeof(text)) {
		fail(ps, "a number longer than %zu characters", sizeof(text) - 1);
		return NULL;
	}
	memcpy(text, begin, (size_t)(ps->p - begin));
	text[ps->p - begin] = '\0';
	v = new_value(ps, FP_JSON_NUMBER);
	if (v)
		v->number = strtod(text, NULL);
	return v;
}

static struct fp_json *read_value(struct parser *ps);

/* Append @item (and @key, for objects) to @v; false when out of memory. */
static bool append(struct parser *ps, struct fp_json *v, struct fp_json *item, char *key)
{
	struct fp_json **items = realloc(v->items, (v->count + 1) * sizeof(*items));
	char **keys = NULL;

	if (items)
		v->items = items;
	if (items && v->type == FP_JSON_OBJECT) {
		keys = realloc(v->keys, (v->count + 1) * sizeof(*keys));
		if (keys)
			v->keys = keys;
	}
	if (!items || (v->type == FP_JSON_OBJECT && !keys)) {
		fail(ps, "out of memory");
		fp_json_free(item);
		free(key);
		return false;
	}
	if (keys)
		keys[v->count] = key;
	items[v->count++] = item;
	return true;
}

/* An object member: "key": value. */
static bool read_member(struct parser *ps, struct fp_json *obj)
{
	struct fp_json *item;
	char *key;

	skip_space(ps);
	if (ps->p == ps->end || *ps->p != '"') {
		fail(ps, "an object member needs a string name");
		return false;
	}
	key = read_string(ps);
	if (!key)
		return false;
	skip_space(ps);
	if (ps->p == ps->end || *ps->p != ':') {
		free(key);
		fail(ps, "':' expected after an object member's name");
		return false;
	}
	ps->p++;
	item = read_value(ps);
	if (!item) {
		free(key);
		return false;
	}
	return append(ps, obj, item, key);
}

/* At '[' or '{': the elements up to the closing bracket. */
static struct fp_json *read_container(struct parser *ps, enum fp_json_type type)
{
	char close = type == FP_JSON_ARRAY ? ']' : '}';
	struct fp_json *v = new_value(ps, type);

	ps->p++;
	if (!v)
		return NULL;
	if (++ps->depth > MAX_DEPTH)
		fail(ps, "nested deeper than %d", MAX_DEPTH);
	skip_space(ps);
	if (!ps->failed && ps->p < ps->end && *ps->p == close) {
		ps->p++;
		ps->depth--;
		return v;
	}
	while (!ps->failed) {
		struct fp_json *item;

		if (type == FP_JSON_OBJECT)
			read_member(ps, v);
		else if ((item = read_value(ps)))
			append(ps, v, item, NULL);
		skip_space(ps);
		if (ps->failed)
			break;
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			ps->depth--;
			return v;
		}
		if (ps->p == ps->end || *ps->p != ',')
			fail(ps, "',' or '%c' expected", close);
		else
			ps->p++;
	}
	fp_json_free(v);
	return NULL;
}

static struct fp_json *read_literal(struct parser *ps)
{
	static const struct {
		const char *word;
		enum fp_json_type type;
	} words[] = {{"true", FP_JSON_TRUE}, {"false", FP_JSON_FALSE}, {"null", FP_JSON_NULL}};
	size_t i, n;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		n = strlen(words[i].word);
		if ((size_t)(ps->end - ps->p) >= n && !memcmp(ps->p, words[i].word, n)) {
			ps->p += n;
			return new_value(ps, words[i].type);
		}
	}
	fail(ps, "a value expected (object, array, string, number, true, false or null)");
	return NULL;
}

static struct fp_json *read_value(struct parser *ps)
{
	struct fp_json *v;
	char *s;

	skip_space(ps);
	if (ps->p == ps->end) {
		fail(ps, "the text ends where a value is expected");
		return NULL;
	}
	switch (*ps->p) {
	case '{':
		return read_container(ps, FP_JSON_OBJECT);
	case '[':
		return read_container(ps, FP_JSON_ARRAY);
	case '"':
		s = read_string(ps);
		v = s ? new_value(ps, FP_JSON_STRING) : NULL;
		if (v)
			v->string = s;
		else
			free(s);
		return v;
	default:
		if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
			return read_number(ps);
		return read_literal(ps);
	}
}

struct fp_json *fp_json_parse(const char *text, size_t len, char *err, size_t err_size)
{
	struct parser ps = {
	    .p = text, .end = text + len, .start = text, .err = err, .err_size = err_size};
	struct fp_json *v = read_value(&ps);

	skip_space(&ps);
	if (v && ps.p != ps.end)
		fail(&ps, "text after the value");
	if (ps.failed) {
		fp_json_free(v);
		return NULL;
	}
	return v;
}

void fp_json_free(struct fp_json *v)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < v->count; i++) {
		fp_json_free(v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->string);
	free(v);
}

const struct fp_json *fp_json_get(const struct fp_json *obj, const char *key)
{
	size_t i;

	if (!obj || obj->type != FP_JSON_OBJECT)
		return NULL;
	for (i = 0; i < obj->count; i++)
		if (!strcmp(obj->keys[i], key))
			return obj->items[i];
	return NULL;
}

const char *fp_json_get_string(const struct fp_json *obj, const char *key)
{
	const struct fp_json *v = fp_json_get(obj, key);

	return v && v->type == FP_JSON_STRING ? v->string : NULL;
}
