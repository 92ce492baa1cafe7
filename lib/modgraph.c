/* modgraph: bazel-diff v37's Bzlmod logic: ModuleGraphParser and
 * CalculateImpactedTargetsInteractor's module path (docs/algorithm.md 4.5), the expansion of
 * --fineGrainedHashExternalRepos (1.5) and queryBzlmodRepos' synthetic //external targets
 * (1.6), read with libjq. bazel-diff reads the graph with
 * Gson's lenient parser and turns any exception into "no modules"; where libjq's strict
 * parser cannot prove what Gson would have read, the answer is an error, never a guess. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "modgraph.h"

#include "digest.h"
#include "fs.h"
#include "hash.h"
#include "proto-canon.h"
#include "proto.h"
#include "util.h"

#include <dirent.h>
#include <jv.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

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
	case JV_KIND_STRING:
		/* a NUL would end the name early wherever bds uses it as C text */
		if (memchr(jv_string_value(v), 0, (size_t)jv_string_length_bytes(jv_copy(v)))) {
			jv_free(v);
			return -2;
		}
		*out = v;
		return 1;
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

/* Does the JSON text escape a UTF-16 surrogate (\ud800 to \udfff)? A lone one is a
 * character of its own to Gson; libjq reads each as U+FFFD, so two different ones would
 * compare equal. */
static int has_surrogate_escape(const char *text, size_t len)
{
	for (size_t i = 0; i + 3 < len; i++)
		if (text[i] == '\\' && (text[i + 1] == 'u' || text[i + 1] == 'U') && (text[i + 2] == 'd' || text[i + 2] == 'D') &&
		    strchr("89abcdefABCDEF", text[i + 3]) && text[i + 3])
			return 1;
	return 0;
}

/* ModuleGraphParser's reading of a graph's text: a JSON object, else the text from its
 * first '{' (a prefix of leaked stderr). 1 with *root, 0 when there is no '{' at all (no
 * modules), -1 (error recorded, naming the text as `what`) when libjq cannot parse what
 * Gson's lenient parser might have. */
static int read_root(const char *text, size_t len, const char *path, const char *what, jv *root)
{
	*root = jv_null();
	if (len > INT_MAX)
		return bds_util_fail("'%s': %s is too large (%zu bytes)", path, what, len);
	if (has_surrogate_escape(text, len))
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

/* --- Bzlmod repositories as synthetic //external targets (docs/algorithm.md 1.6) -------- */

/* The pairs [apparent, canonical] of `bazel mod dump_repo_mapping ""` (discoverRepoMapping):
 * one JSON object a line, each line trimmed as Kotlin trims it; bazel-diff's filters
 * applied; a name met again keeps its first place and takes the later canonical name. */
int bds_modgraph_repo_mapping(const char *out, size_t len, const char *path, jv *mapping)
{
	static const char *const skip_prefixes[] = {"bazel_tools", "_builtins", "local_config_", "rules_java_builtin"};
	jv map = jv_object(); /* apparent -> canonical, insertion ordered */
	int empty = 0, rc = 0;
	*mapping = jv_array();
	for (size_t i = 0; i < len && !empty && rc == 0;) {
		size_t n = 0;
		while (i + n < len && out[i + n] != '\n' && out[i + n] != '\r')
			n++;
		size_t tl = 0;
		char *line = bds_hash_module_graph_text(out + i, n, &tl);
		/* a line ends at "\n", "\r\n" or "\r", as Java's readLine */
		i += n;
		if (i < len && out[i] == '\r')
			i++;
		else if (i < len && out[i] == '\n')
			i++;
		if (i < len && i > 0 && out[i - 1] == '\r' && out[i] == '\n')
			i++;
		if (!line) {
			rc = bds_util_fail("'%s': %s", path, bds_util_error());
			break;
		}
		if (tl > 0) {
			/* the whole line (no recovery from its first '{' here): an object, another
			 * value (asJsonObject throws: no mapping), or text libjq cannot read, which
			 * Gson's lenient parser may (a byte order mark, a comment...) */
			jv root = jv_null();
			int r = has_surrogate_escape(line, tl) ? -2 : tl > INT_MAX ? -3 : 0;
			if (r == 0) {
				root = jv_parse_sized(line, (int)tl);
				r = jv_is_valid(root) ? 0 : -4;
			}
			if (r < 0) {
				rc = bds_util_fail("'%s': a line of it %s", path,
				                   r == -2   ? "escapes a UTF-16 surrogate, which bds cannot compare as bazel-diff's Gson does"
				                   : r == -3 ? "is too large"
				                             : "is not JSON that bds can read as bazel-diff's lenient parser would");
			} else if (jv_get_kind(root) != JV_KIND_OBJECT) {
				empty = 1;
			} else {
				jv_object_foreach(root, k, v)
				{
					jv canonical;
					jv wrap = JV_OBJECT(jv_string("v"), v);
					int have = member_string(wrap, "v", &canonical);
					jv_free(wrap);
					if (have == -1)
						empty = 1;
					if (have == 1 && memchr(jv_string_value(k), 0, (size_t)jv_string_length_bytes(jv_copy(k))) && rc == 0)
						rc = bds_util_fail("'%s': a repository name holds a NUL, which bds cannot carry into a label", path);
					if (have == -2 && rc == 0)
						rc = bds_util_fail("'%s': the canonical name of '%s' is not a string: bds cannot read it "
						                   "as bazel-diff's Gson would",
						                   path, jv_string_value(k));
					if (have == 1 && rc == 0) {
						const char *a = jv_string_value(k), *c = jv_string_value(canonical);
						int skip = !*a || !*c || strcmp(a, "bazel_tools") == 0 || strcmp(a, "local_config_platform") == 0;
						for (size_t s = 0; s < sizeof skip_prefixes / sizeof *skip_prefixes && !skip; s++)
							skip = strncmp(c, skip_prefixes[s], strlen(skip_prefixes[s])) == 0;
						if (!skip)
							map = jv_object_set(map, jv_copy(k), jv_copy(canonical));
					}
					if (have == 1)
						jv_free(canonical);
					jv_free(k);
				}
			}
			jv_free(root);
		}
		free(line);
	}
	if (rc == 0 && !empty) {
		jv_object_foreach(map, k, v)
		{
			*mapping = jv_array_append(*mapping, JV_ARRAY(k, v));
		}
	}
	jv_free(map);
	if (rc < 0) {
		jv_free(*mapping);
		*mapping = jv_invalid();
	}
	return rc;
}

/* Does `s` hold the byte `c`? */
static int has_char(jv s, char c)
{
	return memchr(jv_string_value(s), c, (size_t)jv_string_length_bytes(jv_copy(s))) != NULL;
}

char **bds_modgraph_show_repo_names(jv mapping)
{
	size_t n = 0, cap = (size_t)jv_array_length(jv_copy(mapping)) + 1;
	char **out = bds_util_xcalloc(cap, sizeof *out);
	/* the canonical names, each once, in the mapping's order; a Bzlmod one carries '+'
	 * (or '~' before Bazel 7.1): show_repo refuses a whole batch with a WORKSPACE name */
	jv seen = jv_object();
	jv_array_foreach(mapping, i, pair)
	{
		jv c = jv_array_get(jv_copy(pair), 1);
		if (!jv_object_has(jv_copy(seen), jv_copy(c))) {
			seen = jv_object_set(seen, jv_copy(c), jv_true());
			if (has_char(c, '+') || has_char(c, '~'))
				out[n++] = bds_util_xasprintf("@@%s", jv_string_value(c));
		}
		jv_free(c);
		jv_free(pair);
	}
	jv_free(seen);
	jv_free(mapping);
	return out;
}

/* ModuleGraphParser.parseModuleGraphDepEdges' walk (extractDepEdges): a module's `name` to
 * its dependencies' names, through every dependency object, "unexpanded" or not. A module
 * without "dependencies" is no node. `obj` is borrowed. */
static void extract_dep_edges(struct edges *e, jv obj)
{
	jv name;
	int have = member_string(obj, "name", &name);
	if (have != 1) {
		edges_note(e, have, "name");
		return;
	}
	jv deps = jv_object_get(jv_copy(obj), jv_string("dependencies"));
	jv_kind kind = jv_get_kind(deps);
	if (kind != JV_KIND_ARRAY) {
		if (kind != JV_KIND_INVALID)
			e->empty = 1;
		jv_free(deps);
		jv_free(name);
		return;
	}
	edges_node(e, jv_copy(name));
	jv_array_foreach(deps, i, d)
	{
		jv dep_name;
		int dep_have = jv_get_kind(d) == JV_KIND_OBJECT ? member_string(d, "name", &dep_name) : 0;
		if (dep_have == 1) {
			edges_add(e, jv_copy(name), dep_name);
			extract_dep_edges(e, d);
		} else {
			edges_note(e, dep_have, "name");
		}
		jv_free(d);
	}
	jv_free(deps);
	jv_free(name);
}

static int cmp_java(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	return bds_util_java_cmp(x, strlen(x), y, strlen(y));
}

/* A jv array of strings (consumed), sorted in Java String order, each once (toSortedSet;
 * the lists breakCycles sorts are sets already). */
static jv sorted_java(jv list)
{
	int n = jv_array_length(jv_copy(list));
	const char **v = bds_util_xcalloc((size_t)n + 1, sizeof *v);
	for (int i = 0; i < n; i++) {
		jv s = jv_array_get(jv_copy(list), i);
		v[i] = jv_string_value(s); /* lives as long as `list` holds it */
		jv_free(s);
	}
	qsort(v, (size_t)n, sizeof *v, cmp_java);
	jv out = jv_array();
	for (int i = 0; i < n; i++)
		if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
			out = jv_array_append(out, jv_string(v[i]));
	free(v);
	jv_free(list);
	return out;
}

/* ModuleGraphParser.breakCycles' depth-first search from `node` (consumed). */
static void break_cycles_from(jv edges, jv node, jv *result, jv *visited, jv *on_path)
{
	if (jv_object_has(jv_copy(*visited), jv_copy(node))) {
		jv_free(node);
		return;
	}
	*on_path = jv_object_set(*on_path, jv_copy(node), jv_true());
	jv targets = jv_object_get(jv_copy(edges), jv_copy(node));
	if (jv_get_kind(targets) != JV_KIND_ARRAY) {
		jv_free(targets);
		targets = jv_array();
	}
	jv kept = jv_array(), sorted = sorted_java(targets);
	jv_array_foreach(sorted, i, t)
	{
		if (jv_object_has(jv_copy(*on_path), jv_copy(t))) { /* a back edge */
			jv_free(t);
			continue;
		}
		kept = jv_array_append(kept, jv_copy(t));
		break_cycles_from(edges, t, result, visited, on_path);
	}
	jv_free(sorted);
	*result = jv_object_set(*result, jv_copy(node), kept);
	*on_path = jv_object_delete(*on_path, jv_copy(node));
	*visited = jv_object_set(*visited, node, jv_true());
}

/* A growing byte buffer for the targets written. */
struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void buf_put(struct buf *b, const void *data, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = bds_util_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, data, n);
	b->n += n;
}

static void buf_varint(struct buf *b, uint64_t v)
{
	uint8_t x[10];
	size_t n = 0;
	do {
		x[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			x[n] |= 0x80;
		n++;
	} while (v);
	buf_put(b, x, n);
}

/* A length-delimited field: its tag, length and bytes. */
static void buf_field(struct buf *b, uint32_t number, const void *data, size_t n)
{
	buf_varint(b, ((uint64_t)number << 3) | BDS_PROTO_LEN);
	buf_varint(b, n);
	buf_put(b, data, n);
}

/* One Build.Repository of `bazel mod show_repo --output=streamed_proto`, as bazel-diff's
 * Java code reads it: its canonical name (1), repository rule (2) and attributes (7). */
struct repo {
	jv canonical, rule;
	struct bds_proto_field *attrs; /* LEN fields: the attributes' bytes */
	size_t n_attrs;
};

/* A proto2 string field as Java reads it: bds refuses what Java would decode with
 * replacement characters, and a NUL it could not carry into a label. */
static int proto_string(const struct bds_proto_field *f, const char *path, const char *what, jv *out)
{
	if (!bds_util_is_utf8((const char *)f->data, f->len) || memchr(f->data, 0, f->len))
		return bds_util_fail("'%s': a repository's %s is not UTF-8 text without NUL", path, what);
	jv_free(*out);
	*out = jv_string_sized((const char *)f->data, (int)f->len);
	return 0;
}

static int parse_repo(const uint8_t *msg, size_t len, uint64_t offset, const char *path, struct repo *r)
{
	struct bds_proto_reader rd;
	struct bds_proto_field f;
	int rc;
	bds_proto_reader_init(&rd, msg, len, offset);
	while ((rc = bds_proto_next(&rd, &f)) == 1) {
		if (f.wire != BDS_PROTO_LEN)
			continue; /* another wire type: an unknown field to Java */
		if (f.number == 1 && proto_string(&f, path, "canonical name", &r->canonical) < 0)
			return -1;
		if (f.number == 2 && proto_string(&f, path, "rule name", &r->rule) < 0)
			return -1;
		if (f.number == 7) {
			r->attrs = bds_util_xrealloc(r->attrs, (r->n_attrs + 1) * sizeof *r->attrs);
			r->attrs[r->n_attrs++] = f;
		}
	}
	return rc < 0 ? bds_util_fail("'%s': %s", path, bds_util_error()) : 0;
}

/* An attribute's name (1), type (2, a known Discriminator: 1 to 21) and string_value (5),
 * each its last occurrence, as Java's parser keeps them. */
static void attribute_fields(const struct bds_proto_field *a, const char **name, size_t *name_len, uint64_t *type,
                             const char **value, size_t *value_len)
{
	struct bds_proto_reader rd;
	struct bds_proto_field f;
	*name = *value = NULL;
	*name_len = *value_len = 0;
	*type = 0;
	bds_proto_reader_init(&rd, a->data, a->len, 0);
	while (bds_proto_next(&rd, &f) == 1) {
		if (f.number == 1 && f.wire == BDS_PROTO_LEN)
			*name = (const char *)f.data, *name_len = f.len;
		else if (f.number == 2 && f.wire == BDS_PROTO_VARINT && f.varint >= 1 && f.varint <= 21)
			*type = f.varint;
		else if (f.number == 5 && f.wire == BDS_PROTO_LEN)
			*value = (const char *)f.data, *value_len = f.len;
	}
}

/* A file under a local repository's directory, for its content hash. */
struct local_file {
	char *rel, *full;
};

static int cmp_local_file(const void *a, const void *b)
{
	const struct local_file *x = a, *y = b;
	return bds_util_java_cmp(x->rel, strlen(x->rel), y->rel, strlen(y->rel));
}

/* Kotlin's walkTopDown of `dir` (relative path `rel`, "" at the top): every regular file
 * but MODULE.bazel.lock into *files. bds follows no link to a directory, and no link out of
 * the workspace (`ws_real`): where the warm machine's files are not the cold path's, it
 * refuses (-1, error recorded). A directory it cannot list is skipped, as Java skips it. */
static int walk_local(const char *dir, const char *rel, const char *ws_real, const char *repo, struct local_file **files,
                      size_t *n, int depth)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	int rc = 0;
	while (rc == 0 && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (!bds_util_is_utf8(e->d_name, strlen(e->d_name))) {
			rc = bds_util_fail("local repository '%s': a file name under '%s' is not UTF-8", repo, dir);
			break;
		}
		char *full = bds_util_xasprintf("%s/%s", dir, e->d_name);
		char *r = *rel ? bds_util_xasprintf("%s/%s", rel, e->d_name) : bds_util_xstrdup(e->d_name);
		struct stat ls, st;
		if (lstat(full, &ls) < 0 || stat(full, &st) < 0) {
			free(full), free(r); /* a dangling link: neither a file nor a directory */
			continue;
		}
		if (S_ISLNK(ls.st_mode)) {
			char *real = realpath(full, NULL);
			size_t wl = strlen(ws_real);
			int inside = real && strncmp(real, ws_real, wl) == 0 && (real[wl] == '/' || real[wl] == 0);
			free(real);
			if (S_ISDIR(st.st_mode) || !inside)
				rc = bds_util_fail("local repository '%s': '%s' is a symbolic link %s, which bds does not follow "
				                   "(bazel-diff hashes what it finds there, which a warm machine may not have)",
				                   repo, full, S_ISDIR(st.st_mode) ? "to a directory" : "out of the workspace");
		}
		if (rc == 0 && S_ISDIR(st.st_mode)) {
			if (depth >= 256)
				rc = bds_util_fail("local repository '%s': directories nested too deep under '%s'", repo, dir);
			else
				rc = walk_local(full, r, ws_real, repo, files, n, depth + 1);
			free(full), free(r);
		} else if (rc == 0 && S_ISREG(st.st_mode) && strcmp(e->d_name, "MODULE.bazel.lock") != 0) {
			*files = bds_util_xrealloc(*files, (*n + 1) * sizeof **files);
			(*files)[(*n)++] = (struct local_file){r, full};
		} else {
			free(full), free(r);
		}
	}
	closedir(d);
	return rc;
}

/* computeLocalRepoContentHash: for a local_repository whose "path" (a STRING attribute)
 * names a directory, the hex SHA-256 of each file's path relative to it, a NUL, its
 * bytes and a NUL, in Java order of the paths. 1 with `hex`; 0 for none (no such
 * directory, or a file Java could not read: bazel-diff then adds no attribute); -1 error
 * recorded. */
static int local_content_hash(const char *workspace, const char *path, size_t path_len, const char *repo, char hex[65])
{
	if (path_len == 0)
		return 0;
	if (!bds_util_is_utf8(path, path_len) || memchr(path, 0, path_len))
		return bds_util_fail("local repository '%s': its path is not UTF-8 text without NUL", repo);
	char *p = bds_util_xstrndup(path, path_len);
	char *dir = p[0] == '/' ? bds_util_xstrdup(p) : bds_util_xasprintf("%s/%s", workspace, p);
	free(p);
	struct stat st;
	char *ws_real = realpath(workspace, NULL), *dir_real = NULL;
	struct local_file *files = NULL;
	size_t n = 0;
	int rc = 0;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		goto out;
	dir_real = realpath(dir, NULL);
	size_t wl = ws_real ? strlen(ws_real) : 0;
	if (!ws_real || !dir_real || strncmp(dir_real, ws_real, wl) != 0 || (dir_real[wl] != '/' && dir_real[wl] != 0)) {
		rc = bds_util_fail("local repository '%s': its directory '%s' is outside the workspace: bazel-diff hashes its "
		                   "files, which bds cannot prove a warm machine has",
		                   repo, dir);
		goto out;
	}
	if ((rc = walk_local(dir, "", ws_real, repo, &files, &n, 0)) < 0)
		goto out;
	if (n > 1) /* (no list at all when the directory is empty) */
		qsort(files, n, sizeof *files, cmp_local_file);
	struct bds_sha256 h;
	if (bds_sha256_init(&h) < 0) {
		rc = -1;
		goto out;
	}
	static const unsigned char zero = 0;
	int readable = 1;
	for (size_t i = 0; i < n && readable; i++) {
		bds_sha256_update(&h, files[i].rel, strlen(files[i].rel));
		bds_sha256_update(&h, &zero, 1);
		char *data = NULL;
		size_t len = 0;
		struct stat fst;
		if (stat(files[i].full, &fst) == 0 && fst.st_size > INT_MAX - 8) {
			/* Kotlin's readBytes fails with an Error bazel-diff does not catch */
			rc = bds_util_fail("local repository '%s': '%s' is too large for bazel-diff to read (it fails there)", repo,
			                   files[i].full);
			bds_sha256_free(&h);
			goto out;
		}
		if (bds_fs_read_file(files[i].full, (size_t)INT_MAX, &data, &len) < 0) {
			readable = 0; /* Java's readBytes threw: no content hash */
			break;
		}
		bds_sha256_update(&h, data, len);
		bds_sha256_update(&h, &zero, 1);
		free(data);
	}
	unsigned char digest[BDS_SHA256_LEN];
	bds_sha256_final(&h, digest);
	bds_sha256_free(&h);
	if (readable) {
		for (int i = 0; i < BDS_SHA256_LEN; i++)
			sprintf(hex + 2 * i, "%02x", digest[i]);
		rc = 1;
	}
out:
	for (size_t i = 0; i < n; i++)
		free(files[i].rel), free(files[i].full);
	free(files);
	free(dir);
	free(ws_real);
	free(dir_real);
	return rc;
}

/* How many times `c` is in s. */
static int count_char(jv s, char c)
{
	int k = 0;
	for (const char *p = jv_string_value(s); *p; p++)
		k += *p == c;
	return k;
}

/* Kotlin's substringBefore('+'): all of s when it has none. */
static jv before_plus(jv s)
{
	const char *v = jv_string_value(s);
	jv out = jv_string_sized(v, (int)strcspn(v, "+"));
	jv_free(s);
	return out;
}

/* repositoryToTarget: the Target of rule //external:<name> (class: the repository rule,
 * "bzlmod_repo" when it has none; the repository's attributes, and the content hash of a
 * local_repository's directory; an input //external:<dep> for each of `deps`, sorted, but
 * itself), varint-delimited into `b`. */
static void repo_target(struct buf *b, const struct repo *r, jv name, jv deps, const char *content_hash)
{
	struct buf rule = {0}, target = {0};
	jv label = jv_string_fmt("//external:%s", jv_string_value(name));
	buf_field(&rule, 1, jv_string_value(label), (size_t)jv_string_length_bytes(jv_copy(label)));
	const char *cls = jv_string_length_bytes(jv_copy(r->rule)) > 0 ? jv_string_value(r->rule) : "bzlmod_repo";
	buf_field(&rule, 2, cls, strlen(cls));
	for (size_t i = 0; i < r->n_attrs; i++)
		buf_field(&rule, 4, r->attrs[i].data, r->attrs[i].len);
	if (content_hash) {
		/* Attribute{name: "_bazel_diff_content_hash", type: STRING, string_value: hex} */
		struct buf a = {0};
		buf_field(&a, 1, "_bazel_diff_content_hash", strlen("_bazel_diff_content_hash"));
		buf_varint(&a, (2u << 3) | BDS_PROTO_VARINT);
		buf_varint(&a, 2);
		buf_field(&a, 5, content_hash, strlen(content_hash));
		buf_field(&rule, 4, a.p, a.n);
		free(a.p);
	}
	jv sorted = sorted_java(deps);
	jv_array_foreach(sorted, i, d)
	{
		if (!jv_equal(jv_copy(d), jv_copy(name))) {
			jv in = jv_string_fmt("//external:%s", jv_string_value(d));
			buf_field(&rule, 5, jv_string_value(in), (size_t)jv_string_length_bytes(jv_copy(in)));
			jv_free(in);
		}
		jv_free(d);
	}
	jv_free(sorted);
	buf_varint(&target, (1u << 3) | BDS_PROTO_VARINT);
	buf_varint(&target, 1); /* RULE */
	buf_field(&target, 2, rule.p, rule.n);
	buf_varint(b, target.n);
	buf_put(b, target.p, target.n);
	free(rule.p);
	free(target.p);
	jv_free(label);
	jv_free(name);
}

int bds_modgraph_repo_targets(jv mapping, const char *repos_path, const char *graph_text, size_t graph_len,
                              const char *graph_path, const char *workspace, FILE *out)
{
	char *data = NULL;
	size_t len = 0, n_repos = 0;
	struct repo *repos = NULL;
	struct buf b = {0};
	struct bds_proto_canon canon = {0};
	struct edges e = {jv_array(), jv_object(), jv_object(), 0, NULL};
	jv to_apparent = jv_object(), dep_edges = jv_object(), name_to_canonical = jv_object(), root = jv_null();
	int rc = -1;
	/* no mapping, or no Bzlmod name in it: bazel-diff asks show_repo nothing */
	char **asked_names = bds_modgraph_show_repo_names(jv_copy(mapping));
	int asked = asked_names[0] != NULL;
	bds_util_free_list(asked_names);
	if (!asked) {
		rc = 0;
		goto out;
	}
	if (bds_fs_read_file(repos_path, (size_t)1 << 30, &data, &len) < 0)
		goto out;
	/* Build.Repository.parseDelimitedFrom until the end */
	for (size_t at = 0; at < len;) {
		const uint8_t *p = (const uint8_t *)data + at;
		uint64_t n;
		int k = bds_proto_read_varint(&p, (const uint8_t *)data + len, &n);
		if (k < 0 || n > len - at - (size_t)k) {
			bds_util_fail("'%s': a repository message at byte %zu is truncated", repos_path, at);
			goto out;
		}
		repos = bds_util_xrealloc(repos, (n_repos + 1) * sizeof *repos);
		struct repo *r = &repos[n_repos++];
		*r = (struct repo){jv_string(""), jv_string(""), NULL, 0};
		if (parse_repo(p, (size_t)n, at + (size_t)k, repos_path, r) < 0)
			goto out;
		/* an attribute Java would refuse (a required field missing...) fails its parse */
		for (size_t i = 0; i < r->n_attrs; i++) {
			const uint8_t *res;
			size_t res_len;
			if (bds_proto_canon_attribute(&canon, r->attrs[i].data, r->attrs[i].len, &res, &res_len) < 0) {
				bds_util_fail("'%s': repository '%s': %s", repos_path, jv_string_value(r->canonical), bds_util_error());
				goto out;
			}
		}
		at += (size_t)k + (size_t)n;
	}
	/* canonical -> its apparent names, in the mapping's order */
	jv_array_foreach(mapping, i, pair)
	{
		jv c = jv_array_get(jv_copy(pair), 1), list = jv_object_get(jv_copy(to_apparent), jv_copy(c));
		if (jv_get_kind(list) != JV_KIND_ARRAY) {
			jv_free(list);
			list = jv_array();
		}
		to_apparent = jv_object_set(to_apparent, c, jv_array_append(list, jv_array_get(pair, 0)));
	}
	/* the module graph's edges by module name, cycles broken (bazel-diff: no edges where
	 * Gson throws) */
	int got = graph_len ? read_root(graph_text, graph_len, graph_path, "its text", &root) : 0;
	if (got < 0)
		goto out;
	if (got == 1)
		extract_dep_edges(&e, root);
	if (e.unsure) {
		bds_util_fail("'%s': a \"%s\" in the module graph is not a string: bds cannot read it as bazel-diff's Gson "
		              "would",
		              graph_path, e.unsure);
		goto out;
	}
	if (!e.empty) {
		jv visited = jv_object(), on_path = jv_object(), nodes = sorted_java(jv_copy(e.nodes));
		jv_array_foreach(nodes, i, node)
		{
			break_cycles_from(e.deps, node, &dep_edges, &visited, &on_path);
		}
		jv_free(nodes);
		jv_free(visited);
		jv_free(on_path);
	}
	/* a module's name -> its repository, for repositories with one '+' (no extension's) */
	for (size_t i = 0; i < n_repos; i++)
		if (count_char(repos[i].canonical, '+') == 1) {
			jv name = before_plus(jv_copy(repos[i].canonical));
			if (jv_string_length_bytes(jv_copy(name)) == 0) { /* ifEmpty { canonical } */
				jv_free(name);
				name = jv_copy(repos[i].canonical);
			}
			name_to_canonical = jv_object_set(name_to_canonical, name, jv_copy(repos[i].canonical));
		}
	for (size_t i = 0; i < n_repos; i++) {
		const struct repo *r = &repos[i];
		/* its module's deps -> their repositories -> the root's apparent names for them */
		jv deps = jv_array();
		if (count_char(r->canonical, '+') == 1) {
			jv module_deps = jv_object_get(jv_copy(dep_edges), before_plus(jv_copy(r->canonical)));
			if (jv_get_kind(module_deps) == JV_KIND_ARRAY) {
				jv_array_foreach(module_deps, k, m)
				{
					jv c = jv_object_get(jv_copy(name_to_canonical), m);
					jv names = jv_get_kind(c) == JV_KIND_STRING ? jv_object_get(jv_copy(to_apparent), c)
					                                            : (jv_free(c), jv_invalid());
					if (jv_get_kind(names) == JV_KIND_ARRAY)
						deps = jv_array_concat(deps, names);
					else
						jv_free(names);
				}
			}
			jv_free(module_deps);
		}
		char hex[65];
		int have_hash = 0;
		if (strcmp(jv_string_value(r->rule), "local_repository") == 0) {
			for (size_t k = 0; k < r->n_attrs; k++) {
				const char *an, *av;
				size_t anl, avl;
				uint64_t type;
				attribute_fields(&r->attrs[k], &an, &anl, &type, &av, &avl);
				if (anl == 4 && memcmp(an, "path", 4) == 0 && type == 2) {
					have_hash = local_content_hash(workspace, av ? av : "", av ? avl : 0, jv_string_value(r->canonical), hex);
					break;
				}
			}
		}
		if (have_hash < 0) {
			jv_free(deps);
			goto out;
		}
		jv names = jv_object_get(jv_copy(to_apparent), jv_copy(r->canonical));
		if (jv_get_kind(names) != JV_KIND_ARRAY) {
			jv_free(names);
			names = JV_ARRAY(jv_copy(r->canonical)); /* no apparent name: the canonical one */
		}
		jv_array_foreach(names, k, name)
		{
			repo_target(&b, r, name, jv_copy(deps), have_hash ? hex : NULL);
		}
		jv_free(names);
		jv_free(deps);
	}
	if (b.n && fwrite(b.p, 1, b.n, out) != b.n) {
		bds_util_fail("writing the repositories' targets failed");
		goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < n_repos; i++) {
		jv_free(repos[i].canonical);
		jv_free(repos[i].rule);
		free(repos[i].attrs);
	}
	free(repos);
	free(data);
	free(b.p);
	bds_proto_canon_free(&canon);
	jv_free(e.nodes);
	jv_free(e.deps);
	jv_free(e.roots);
	jv_free(to_apparent);
	jv_free(dep_edges);
	jv_free(name_to_canonical);
	jv_free(root);
	jv_free(mapping);
	return rc;
}
