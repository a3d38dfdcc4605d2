/* SPDX-License-Identifier: MIT */
/*
 * A small strict JSON reader (RFC 8259) for forkpin's own reports (`forkpin compare`):
 * objects, arrays, strings with every escape including \u surrogate pairs, numbers, true,
 * false, null. Strict: no trailing commas, comments, leading zeros, lone surrogates,
 * control characters or invalid UTF-8 in strings, or text after the value.
 */
#ifndef FORKPIN_JSON_READ_H
#define FORKPIN_JSON_READ_H

#include <stddef.h>

enum fp_json_type {
	FP_JSON_NULL,
	FP_JSON_FALSE,
	FP_JSON_TRUE,
	FP_JSON_NUMBER,
	FP_JSON_STRING,
	FP_JSON_ARRAY,
	FP_JSON_OBJECT,
};

struct fp_json {
	enum fp_json_type type;
	double number;		/* NUMBER */
	char *string;		/* STRING: UTF-8, NUL-terminated (\u0000 is refused) */
	size_t count;		/* ARRAY, OBJECT: members */
	struct fp_json **items; /* ARRAY: the elements; OBJECT: the values */
	char **keys;		/* OBJECT: the names, in order */
};

/* Parse @len bytes of @text. NULL with "line L, column C: problem" in @err on bad input. */
struct fp_json *fp_json_parse(const char *text, size_t len, char *err, size_t err_size);
void fp_json_free(struct fp_json *v);

/* The member @key of the object @obj (the first if repeated), or NULL (also when @obj is
 * not an object). */
const struct fp_json *fp_json_get(const struct fp_json *obj, const char *key);
/* The string member @key of @obj, or NULL when it is absent or not a string. */
const char *fp_json_get_string(const struct fp_json *obj, const char *key);

#endif
