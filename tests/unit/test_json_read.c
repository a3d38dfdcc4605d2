/* SPDX-License-Identifier: MIT */
/* The strict JSON reader: every value kind, escapes and surrogate pairs, and the inputs a
 * strict reader must refuse, each with the line and column of the problem. */
#include "json_read.h"
#include "tap.h"

#include <math.h>
#include <string.h>

static struct fp_json *parse(const char *text, char *err)
{
	return fp_json_parse(text, strlen(text), err, 200);
}

static void test_values(void)
{
	char err[200] = "";
	struct fp_json *v =
	    parse(" {\"a\": [1, -2.5e2, 0, true, false, null], \"b\": {}, \"c\": [], "
		  "\"s\": \"x\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"}\n",
		  err);
	const struct fp_json *a = fp_json_get(v, "a");

	ok(v && v->type == FP_JSON_OBJECT && v->count == 4, "an object with four members (%s)",
	   err);
	ok(a && a->type == FP_JSON_ARRAY && a->count == 6 && a->items[0]->number == 1 &&
	       a->items[1]->number == -250 && a->items[2]->number == 0 &&
	       a->items[3]->type == FP_JSON_TRUE && a->items[4]->type == FP_JSON_FALSE &&
	       a->items[5]->type == FP_JSON_NULL,
	   "numbers, true, false and null in an array");
	ok(fp_json_get(v, "b")->count == 0 && fp_json_get(v, "c")->type == FP_JSON_ARRAY,
	   "empty object and array");
	ok(!strcmp(fp_json_get_string(v, "s"), "x\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80"),
	   "every escape, \\u to UTF-8, a surrogate pair to one 4-byte character");
	ok(!fp_json_get(v, "nosuch") && !fp_json_get_string(v, "a"),
	   "absent members and non-strings read as NULL");
	fp_json_free(v);
	v = parse("\"caf\xc3\xa9\"", err);
	ok(v && !strcmp(v->string, "caf\xc3\xa9"), "raw UTF-8 in a string is kept");
	fp_json_free(v);
}

static void refused(const char *text, const char *problem)
{
	char err[200] = "";
	struct fp_json *v = parse(text, err);

	ok(!v && strstr(err, problem), "refused: %s -> %s", text, err);
	fp_json_free(v);
}

int main(void)
{
	char err[200];
	struct fp_json *v;

	test_values();
	refused("[1,]", "a value expected");
	refused("{\"a\":1,}", "needs a string name");
	refused("01", "leading zero");
	refused("1.", "digits after '.'");
	refused("1e", "exponent");
	refused("-", "needs digits");
	refused("\"a\nb\"", "control character");
	refused("\"\\ud800\"", "not followed by a low one");
	refused("\"\\udc00\"", "low surrogate");
	refused("\"\\ud800\\u0041\"", "is followed by");
	refused("\"\\u12g4\"", "four hex digits");
	refused("\"\\u0000\"", "\\u0000");
	refused("\"\\q\"", "unknown escape");
	refused("\"\xc3\"", "invalid UTF-8");
	refused("\"\xc0\xaf\"", "invalid UTF-8");
	refused("\"\xed\xa0\x80\"", "invalid UTF-8");
	refused("\"abc", "does not end");
	refused("{\"a\" 1}", "':' expected");
	refused("[1 2]", "',' or ']' expected");
	refused("tru", "a value expected");
	refused("{} x", "text after the value");
	refused("", "ends where a value");
	refused(
	    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]"
	    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
	    "nested deeper");
	refused("{\n  \"a\": [1,\n  ]\n}", "line 3, column 3");
	v = parse("[[[[[[[[[[]]]]]]]]]]", err);
	ok(v && v->type == FP_JSON_ARRAY && v->items[0]->count == 1, "moderate nesting parses");
	fp_json_free(v);
	return done_testing();
}
