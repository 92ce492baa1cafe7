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
#include <strings.h>

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

/* ModuleGraphParser's reading of a graph's text: a JSON object, else the text from its
 * first '{' (a prefix of leaked stderr). 1 with *root, 0 when there is no '{' at all (no
 * modules), -1 (error recorded, naming the text as `what`) when libjq cannot parse what
 * Gson's lenient parser might have. */
static int read_root(const char *text, size_t len, const char *path, const char *what, jv *root)
{
	if (len > INT_MAX)
		return bds_util_fail("'%s': %s is too large (%zu bytes)", path, what, len);
	/* a lone surrogate (\ud800 to \udfff) is a character of its own to Gson; libjq
	 * reads each as U+FFFD, so two different ones would compare equal */
	for (size_t i = 0; i + 3 < len; i++)
		if (text[i] == '\\' && (text[i + 1] == 'u' || text[i + 1] == 'U') && (text[i + 2] == 'd' || text[i + 2] == 'D') &&
		    strchr("89abcdefABCDEF", text[i + 3]) && text[i + 3])
			return bds_util_fail("'%s': %s escapes a UTF-16 surrogate, which bds cannot compare as "
			                     "bazel-diff's Gson does",
			                     path, what);
	*root = jv_parse_sized(text, (int)len);
	if (jv_get_kind(*root) == JV_KIND_OBJECT)
		return 1;
	jv_free(*root);
	*root = jv_null();
	const char *brace = memchr(text, '{', len);
	if (!brace)
		return 0;
	*root = jv_parse_sized(brace, (int)(len - (size_t)(brace - text)));
	if (jv_get_kind(*root) == JV_KIND_OBJECT)
		return 1;
	jv_free(*root);
	*root = jv_null();
	return bds_util_fail("'%s': %s is not a JSON object that bds can read as bazel-diff's lenient parser would",
	                     path, what);
}

/* ModuleGraphParser.parseModuleGraph. 0, or -1 (error recorded) when bds cannot read the
 * graph as Gson would. */
static int parse_graph(const char *text, size_t len, const char *path, struct graph *g)
{
	g->modules = jv_object();
	g->empty = 0;
	g->unsure = NULL;
	jv root;
	int rc = read_root(text, len, path, "its moduleGraphJson", &root);
	if (rc <= 0)
		return rc;
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

/* --- Bzlmod's dependents of fine-grained repositories (docs/algorithm.md 1.5) ------------ */

/* ModuleGraphParser.parseModuleGraphEdges' view: apparent names and their direct deps, each
 * in the order Kotlin's LinkedHashMap and LinkedHashSet keep (first seen first). */
struct edges {
	jv nodes;    /* array: every apparent name, first seen first */
	jv deps;     /* object: apparent name -> array of its deps' apparent names, unique */
	jv roots;    /* object: the root module's apparent names -> true */
	int empty;   /* Gson would have thrown: bazel-diff expands nothing */
	const char *unsure; /* a value bds cannot read as Gson would (NULL: none) */
};

/* A member_string result that is no string: -1 is Gson throwing, -2 a value bds cannot
 * read as Gson does. */
static void edges_note(struct edges *e, int have, const char *what)
{
	if (have == -1)
		e->empty = 1;
	if (have == -2 && !e->unsure)
		e->unsure = what;
}

/* `name` in the edges (consumed): added once, in first-seen order. */
static void edges_node(struct edges *e, jv name)
{
	if (!jv_object_has(jv_copy(e->deps), jv_copy(name))) {
		e->nodes = jv_array_append(e->nodes, jv_copy(name));
		e->deps = jv_object_set(e->deps, jv_copy(name), jv_array());
	}
	jv_free(name);
}

/* The edge from -> to (both consumed), once; `from` is a node already. */
static void edges_add(struct edges *e, jv from, jv to)
{
	jv list = jv_object_get(jv_copy(e->deps), jv_copy(from));
	int n = jv_array_length(jv_copy(list)), seen = 0;
	for (int i = 0; i < n && !seen; i++)
		seen = jv_equal(jv_array_get(jv_copy(list), i), jv_copy(to));
	if (!seen)
		list = jv_array_append(list, jv_copy(to));
	e->deps = jv_object_set(e->deps, from, list);
	jv_free(to);
}

/* `depObj.get("unexpanded")?.asBoolean ?: false`: 1 or 0, -1 where Gson throws (JSON null,
 * an object), -2 for an array (Gson reads a one-element one through). A string is
 * Boolean.parseBoolean's "true" in any case; a number is never true. */
static int unexpanded_of(jv dep)
{
	jv u = jv_object_get(jv_copy(dep), jv_string("unexpanded"));
	int rc;
	switch (jv_get_kind(u)) {
	case JV_KIND_INVALID:
	case JV_KIND_FALSE:
	case JV_KIND_NUMBER: rc = 0; break;
	case JV_KIND_TRUE: rc = 1; break;
	case JV_KIND_STRING: {
		const char *v = jv_string_value(u);
		rc = jv_string_length_bytes(jv_copy(u)) == 4 && strncasecmp(v, "true", 4) == 0;
		break;
	}
	case JV_KIND_ARRAY: rc = -2; break;
	default: rc = -1; break;
	}
	jv_free(u);
	return rc;
}

/* ModuleGraphParser.walkEdges: the object's apparent name (a root one when `is_root`), an
 * edge to each object among its "dependencies" that has one, and the walk on into each
 * such dependency not marked "unexpanded". `obj` is borrowed. */
static void walk_edges(struct edges *e, jv obj, int is_root)
{
	jv name;
	int have = member_string(obj, "apparentName", &name);
	if (have != 1) {
		edges_note(e, have, "apparentName");
		return;
	}
	if (is_root)
		e->roots = jv_object_set(e->roots, jv_copy(name), jv_true());
	edges_node(e, jv_copy(name));
	jv deps = jv_object_get(jv_copy(obj), jv_string("dependencies"));
	jv_kind kind = jv_get_kind(deps);
	if (kind != JV_KIND_ARRAY) {
		if (kind != JV_KIND_INVALID)
			e->empty = 1; /* asJsonArray on anything else throws */
		jv_free(deps);
		jv_free(name);
		return;
	}
	int n = jv_array_length(jv_copy(deps));
	for (int i = 0; i < n; i++) {
		jv d = jv_array_get(jv_copy(deps), i);
		jv dep_name;
		int dep_have = jv_get_kind(d) == JV_KIND_OBJECT ? member_string(d, "apparentName", &dep_name) : 0;
		if (dep_have == 1) {
			edges_add(e, jv_copy(name), dep_name);
			int unexpanded = unexpanded_of(d);
			if (unexpanded < 0)
				edges_note(e, unexpanded, "unexpanded");
			else if (!unexpanded)
				walk_edges(e, d, 0);
		} else {
			edges_note(e, dep_have, "apparentName");
		}
		jv_free(d);
	}
	jv_free(deps);
	jv_free(name);
}

/* ModuleGraphParser.findTransitiveDependents: every apparent name that reaches one of
 * `targets` (an array of names) through the edges, breadth first, the root's left out. A
 * jv array, in bazel-diff's order. */
static jv transitive_dependents(const struct edges *e, jv targets)
{
	jv out = jv_array();
	if (jv_array_length(jv_copy(e->nodes)) == 0 || jv_array_length(jv_copy(targets)) == 0) {
		jv_free(targets);
		return out;
	}
	/* reverse: dep -> the names that depend on it, first seen first */
	jv reverse = jv_object();
	jv_array_foreach(e->nodes, i, from)
	{
		jv list = jv_object_get(jv_copy(e->deps), jv_copy(from));
		jv_array_foreach(list, k, to)
		{
			jv parents = jv_object_get(jv_copy(reverse), jv_copy(to));
			if (jv_get_kind(parents) == JV_KIND_INVALID)
				parents = jv_array();
			int seen = 0;
			jv_array_foreach(parents, m, p)
			{
				int eq = jv_equal(p, jv_copy(from));
				seen = seen || eq;
			}
			if (!seen)
				parents = jv_array_append(parents, jv_copy(from));
			reverse = jv_object_set(reverse, to, parents);
		}
		jv_free(list);
		jv_free(from);
	}
	jv visited = jv_object();
	jv_array_foreach(targets, i, t)
	{
		visited = jv_object_set(visited, t, jv_true());
	}
	/* the queue is `targets` with each newly visited name appended; `head` walks it */
	jv queue = targets;
	for (int head = 0; head < jv_array_length(jv_copy(queue)); head++) {
		jv cur = jv_array_get(jv_copy(queue), head);
		jv parents = jv_object_get(jv_copy(reverse), cur);
		if (jv_get_kind(parents) == JV_KIND_ARRAY) {
			jv_array_foreach(parents, k, p)
			{
				if (jv_object_has(jv_copy(visited), jv_copy(p))) {
					jv_free(p);
					continue;
				}
				visited = jv_object_set(visited, jv_copy(p), jv_true());
				if (!jv_object_has(jv_copy(e->roots), jv_copy(p)))
					out = jv_array_append(out, jv_copy(p));
				queue = jv_array_append(queue, p);
			}
		}
		jv_free(parents);
	}
	jv_free(queue);
	jv_free(visited);
	jv_free(reverse);
	return out;
}

char *bds_modgraph_fine_grained(const char *text, size_t len, const char *path, const char *repos)
{
	/* userSupplied: the values as given; the names to expand from have "@@", then "@",
	 * taken off their front (removePrefix), the empty ones dropped */
	jv given = jv_array(), targets = jv_array();
	for (const char *p = repos;;) {
		size_t n = strcspn(p, ",");
		if (n > 0) {
			given = jv_array_append(given, jv_string_sized(p, (int)n));
			const char *v = p;
			size_t vn = n;
			if (vn >= 2 && memcmp(v, "@@", 2) == 0)
				v += 2, vn -= 2;
			if (vn >= 1 && v[0] == '@')
				v += 1, vn -= 1;
			int seen = 0;
			jv_array_foreach(targets, i, t)
			{
				seen = seen || ((size_t)jv_string_length_bytes(jv_copy(t)) == vn && memcmp(jv_string_value(t), v, vn) == 0);
				jv_free(t);
			}
			if (vn > 0 && !seen)
				targets = jv_array_append(targets, jv_string_sized(v, (int)vn));
		}
		if (!p[n])
			break;
		p += n + 1;
	}
	struct edges e = {jv_array(), jv_object(), jv_object(), 0, NULL};
	char *out = NULL;
	jv root = jv_null(), dependents = jv_array();
	int rc = jv_array_length(jv_copy(targets)) == 0 || len == 0 ? 0 : read_root(text, len, path, "its text", &root);
	if (rc < 0)
		goto done;
	if (rc == 1)
		walk_edges(&e, root, 1);
	if (e.unsure) {
		bds_util_fail("'%s': an \"%s\" in the module graph is not a string or a boolean: bds cannot read it as "
		              "bazel-diff's Gson would",
		              path, e.unsure);
		goto done;
	}
	if (!e.empty) {
		jv_free(dependents);
		dependents = transitive_dependents(&e, jv_copy(targets));
	}
	/* userSupplied + dependents.map { "@$it" }: a set, the given values first */
	size_t cap = strlen(repos) + 1;
	jv_array_foreach(dependents, i, d)
	{
		cap += (size_t)jv_string_length_bytes(d) + 2;
	}
	out = bds_util_xmalloc(cap);
	strcpy(out, repos);
	jv_array_foreach(dependents, i, d)
	{
		jv at = jv_string_fmt("@%s", jv_string_value(d));
		int seen = 0;
		jv_array_foreach(given, k, g)
		{
			int eq = jv_equal(g, jv_copy(at));
			seen = seen || eq;
		}
		if (!seen) {
			size_t n = strlen(out);
			if (n > 0 && out[n - 1] != ',')
				strcat(out, ",");
			strcat(out, jv_string_value(at));
			given = jv_array_append(given, jv_copy(at));
		}
		jv_free(at);
		jv_free(d);
	}
done:
	jv_free(root);
	jv_free(dependents);
	jv_free(targets);
	jv_free(given);
	jv_free(e.nodes);
	jv_free(e.deps);
	jv_free(e.roots);
	return out;
}
