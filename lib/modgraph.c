/* modgraph: bazel-diff v37's ModuleGraphParser and CalculateImpactedTargetsInteractor's
 * module path (docs/algorithm.md 4.5), read with libjq. bazel-diff reads the graph with
 * Gson's lenient parser and turns any exception into "no modules"; where libjq's strict
 * parser cannot prove what Gson would have read, the answer is an error, never a guess. */
#include "modgraph.h"

#include "util.h"

#include <jv.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* What reading one graph found. */
struct graph {
	jv modules; /* object: module key -> [name, version] */
	int empty;  /* Gson would have thrown: bazel-diff reads no modules at all */
	const char *unsure; /* a value bds cannot read as Gson would (NULL: none) */
};

/* Gson's JsonElement.getAsString for obj[name], as bazel-diff's `obj.get(name)?.asString`:
 * 1 with *out (a string jv) when there is one, 0 when the member is absent (Kotlin null);
 * -1 for a value whose getAsString throws (JSON null, an object: no modules at all), -2
 * for one bds cannot render as Gson does (a number keeps its literal text, which libjq
 * loses; a one-element array is read through). */
static int member_string(jv obj, const char *name, jv *out)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(name));
	switch (jv_get_kind(v)) {
	case JV_KIND_INVALID: jv_free(v); return 0;
	case JV_KIND_STRING: *out = v; return 1;
	case JV_KIND_TRUE: jv_free(v); *out = jv_string("true"); return 1;
	case JV_KIND_FALSE: jv_free(v); *out = jv_string("false"); return 1;
	case JV_KIND_NULL:
	case JV_KIND_OBJECT: jv_free(v); return -1;
	default: jv_free(v); return -2;
	}
}

/* ModuleGraphParser.extractModules: the object itself, then each object among its
 * "dependencies", depth first; a key seen again takes the later module. */
static void extract_modules(struct graph *g, jv obj)
{
	static const char *const fields[] = {"key", "name", "version", "apparentName"};
	jv v[4];
	int have[4];
	for (int i = 0; i < 4; i++) {
		have[i] = member_string(obj, fields[i], &v[i]);
		if (have[i] == -1)
			g->empty = 1;
		if (have[i] == -2 && !g->unsure)
			g->unsure = fields[i];
	}
	if (have[0] == 1 && have[1] == 1 && jv_string_length_bytes(jv_copy(v[1])) > 0 && have[2] == 1 && have[3] == 1)
		g->modules = jv_object_set(g->modules, jv_copy(v[0]), JV_ARRAY(jv_copy(v[1]), jv_copy(v[2])));
	for (int i = 0; i < 4; i++)
		if (have[i] == 1)
			jv_free(v[i]);
	jv deps = jv_object_get(jv_copy(obj), jv_string("dependencies"));
	jv_kind kind = jv_get_kind(deps);
	if (kind == JV_KIND_ARRAY) {
		int n = jv_array_length(jv_copy(deps));
		for (int i = 0; i < n; i++) {
			jv d = jv_array_get(jv_copy(deps), i);
			if (jv_get_kind(d) == JV_KIND_OBJECT)
				extract_modules(g, d);
			jv_free(d);
		}
	} else if (kind != JV_KIND_INVALID) {
		g->empty = 1; /* asJsonArray on anything else throws */
	}
	jv_free(deps);
}

/* ModuleGraphParser.parseModuleGraph: the text as a JSON object, else from its first '{'
 * (a prefix of leaked stderr); no '{' at all is no modules. 0, or -1 (error recorded) when
 * libjq cannot parse what Gson's lenient parser might have. */
static int parse_graph(const char *text, size_t len, const char *path, struct graph *g)
{
	g->modules = jv_object();
	g->empty = 0;
	g->unsure = NULL;
	if (len > INT_MAX)
		return bds_util_fail("'%s': its moduleGraphJson is too large (%zu bytes)", path, len);
	/* a lone surrogate (\ud800 to \udfff) is a character of its own to Gson; libjq
	 * reads each as U+FFFD, so two different ones would compare equal */
	for (size_t i = 0; i + 3 < len; i++)
		if (text[i] == '\\' && (text[i + 1] == 'u' || text[i + 1] == 'U') && (text[i + 2] == 'd' || text[i + 2] == 'D') &&
		    strchr("89abcdefABCDEF", text[i + 3]) && text[i + 3])
			return bds_util_fail("'%s': its moduleGraphJson escapes a UTF-16 surrogate, which bds cannot compare as "
			                     "bazel-diff's Gson does",
			                     path);
	jv root = jv_parse_sized(text, (int)len);
	if (jv_get_kind(root) != JV_KIND_OBJECT) {
		jv_free(root);
		const char *brace = memchr(text, '{', len);
		if (!brace)
			return 0;
		root = jv_parse_sized(brace, (int)(len - (size_t)(brace - text)));
		if (jv_get_kind(root) != JV_KIND_OBJECT) {
			jv_free(root);
			return bds_util_fail("'%s': its moduleGraphJson is not a JSON object that bds can read as bazel-diff's "
			                     "lenient parser would",
			                     path);
		}
	}
	extract_modules(g, root);
	jv_free(root);
	if (g->empty) { /* Gson threw somewhere: whatever else is there does not matter */
		jv_free(g->modules);
		g->modules = jv_object();
		return 0;
	}
	if (g->unsure)
		return bds_util_fail("'%s': a module's \"%s\" in its moduleGraphJson is not a string: bds cannot read it as "
		                     "bazel-diff's Gson would",
		                     path, g->unsure);
	return 0;
}

/* canonicalRepoIsBaseForModule: `canonical` is "<name>+<version>" or "<name>~<version>",
 * the version holding neither separator (a module's own repository, not one of its
 * extensions'). */
static int is_base_repo(const char *canonical, size_t n, const char *name, size_t name_len)
{
	if (n <= name_len || memcmp(canonical, name, name_len) != 0)
		return 0;
	if (canonical[name_len] != '+' && canonical[name_len] != '~')
		return 0;
	for (size_t i = name_len + 1; i < n; i++)
		if (canonical[i] == '+' || canonical[i] == '~')
			return 0;
	return 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the changed modules (findChangedModules): added, removed, or of another
 * version; each named as in `to`, else as in `from`. A jv array of strings. */
static jv changed_module_names(jv from, jv to)
{
	jv names = jv_array();
	jv_object_foreach(to, key, mod)
	{
		jv old = jv_object_get(jv_copy(from), jv_copy(key));
		int changed = jv_get_kind(old) == JV_KIND_INVALID ||
		              !jv_equal(jv_array_get(jv_copy(old), 1), jv_array_get(jv_copy(mod), 1));
		if (changed)
			names = jv_array_append(names, jv_array_get(jv_copy(mod), 0));
		jv_free(old);
		jv_free(key);
		jv_free(mod);
	}
	jv_object_foreach(from, key, mod)
	{
		if (!jv_object_has(jv_copy(to), jv_copy(key)))
			names = jv_array_append(names, jv_array_get(jv_copy(mod), 0));
		jv_free(key);
		jv_free(mod);
	}
	return names;
}

enum bds_modgraph_path bds_modgraph_decide(const struct bds_diff_hashes *from, const struct bds_diff_hashes *to,
                                           char ***repos)
{
	*repos = NULL;
	/* both graphs, and different: anything else is the plain diff */
	if (!from->module_graph || !to->module_graph ||
	    (from->module_graph_len == to->module_graph_len &&
	     memcmp(from->module_graph, to->module_graph, from->module_graph_len) == 0))
		return BDS_MODGRAPH_PLAIN;
	struct graph f, t;
	if (parse_graph(from->module_graph, from->module_graph_len, from->path, &f) < 0) {
		jv_free(f.modules);
		return BDS_MODGRAPH_ERROR;
	}
	if (parse_graph(to->module_graph, to->module_graph_len, to->path, &t) < 0) {
		jv_free(f.modules);
		jv_free(t.modules);
		return BDS_MODGRAPH_ERROR;
	}
	int f_empty = jv_object_length(jv_copy(f.modules)) == 0, t_empty = jv_object_length(jv_copy(t.modules)) == 0;
	/* one side read no modules (bazel-diff issue #335): the plain diff */
	jv names = f_empty != t_empty ? jv_array() : changed_module_names(f.modules, t.modules);
	jv_free(f.modules);
	jv_free(t.modules);
	int n_names = jv_array_length(jv_copy(names));
	size_t n = 0, cap = 0;
	char **out = NULL;
	/* the canonical repositories of `to`'s "@@repo//..." labels that are a changed
	 * module's own; each once */
	for (size_t i = 0; i < to->count && n_names > 0; i++) {
		const struct bds_diff_target *x = &to->targets[i];
		if (x->dead || x->label_len < 2 || memcmp(x->label, "@@", 2) != 0)
			continue;
		const char *c = x->label + 2;
		size_t cn = x->label_len - 2;
		for (size_t k = 0; k + 1 < cn; k++)
			if (c[k] == '/' && c[k + 1] == '/') {
				cn = k;
				break;
			}
		if (cn == 0)
			continue;
		int base = 0;
		for (int m = 0; m < n_names && !base; m++) {
			jv name = jv_array_get(jv_copy(names), m);
			base = is_base_repo(c, cn, jv_string_value(name), (size_t)jv_string_length_bytes(jv_copy(name)));
			jv_free(name);
		}
		if (!base)
			continue;
		int seen = 0;
		for (size_t k = 0; k < n && !seen; k++)
			seen = strlen(out[k]) == cn && memcmp(out[k], c, cn) == 0;
		if (seen)
			continue;
		if (n + 1 >= cap) {
			cap = cap ? 2 * cap : 8;
			out = bds_util_xrealloc(out, cap * sizeof *out);
		}
		out[n++] = bds_util_xstrndup(c, cn);
	}
	jv_free(names);
	if (n == 0) {
		free(out);
		return BDS_MODGRAPH_PLAIN;
	}
	qsort(out, n, sizeof *out, cmp_str);
	out[n] = NULL;
	*repos = out;
	return BDS_MODGRAPH_QUERY;
}

char *bds_modgraph_query(char **repos)
{
	size_t len = strlen("rdeps(//..., )") + 1;
	for (char **r = repos; *r; r++)
		len += strlen(*r) + strlen("@@//... + ");
	char *q = bds_util_xmalloc(len), *p = q;
	p += sprintf(p, "rdeps(//..., ");
	for (char **r = repos; *r; r++)
		p += sprintf(p, "%s@@%s//...", r == repos ? "" : " + ", *r);
	strcpy(p, ")");
	return q;
}
