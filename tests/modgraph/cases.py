#!/usr/bin/env python3
"""Random module-graph cases for tests/modgraph.bats.

  cases.py gen SEED N         N cases, one JSON line each: {"from", "to", "labels", "unsure"}
  cases.py run BDS_DIFF FILE  bds-diff --module-query on each case of FILE: one line per
                              case, "PLAIN", the repositories space-separated, or "REFUSED"
                              (exit 1 with one line on stderr)
  cases.py gen-expand SEED N  N cases of --fine-grained-repos with Bzlmod: {"graph", "repos",
                              "unsure"}, the graph's text null where `bazel mod graph` failed
  cases.py run-expand BDS_MODGRAPH FILE
                              bds-modgraph --fine-grained-repos on each case of FILE: one
                              line per case, the repositories, or "REFUSED"

The graphs are `bazel mod graph --output=json` trees, mostly well formed, sometimes bent
where bazel-diff's Gson reading has corners: JSON null, objects, numbers, booleans and
arrays where strings belong; a "dependencies" that is no array; non-objects in it; a
key met twice; text before the graph (bazel-diff 17-18 leaked stderr into it), after it,
or no object at all. "unsure" marks a case where bds may refuse: a number or array in a
module's key, name, version or apparentName (Gson reads them through; libjq keeps no
literal text), or text that is not strict JSON around a '{'.
"""
import json
import os
import random
import subprocess
import sys
import tempfile

NAMES = ["rules_x", "rules_y", "a.b", "c-d", "zlib", "rules_x_ext", ""]
VERSIONS = ["1.0", "2.0", "", "1.0.bcr.1", "0.1-rc"]


class Gen:
    def __init__(self, rnd, bent_unexpanded=False):
        self.r = rnd
        self.unsure = False
        # "unexpanded" other than true (gen-expand only: gen's corpus stays as it was)
        self.bent_unexpanded = bent_unexpanded

    def unexpanded(self):
        if not self.bent_unexpanded or self.r.random() < 0.6:
            return True
        v = self.r.choice([False, "true", "TRUE", "false", "yes", 1, 0, None, {"a": 1}, [True], [True, False]])
        if isinstance(v, list):
            self.unsure = True
        return v

    def value(self, s):
        """s, or now and then something else where a string belongs."""
        x = self.r.random()
        if x < 0.97:
            return s
        if x < 0.9775:
            return None
        if x < 0.985:
            return {"k": s}
        if x < 0.9925:
            return self.r.choice([True, False])
        self.unsure = True
        return self.r.choice([1, 2.5, [s], [s, s], []])

    def module(self, name, version, depth):
        m = {}
        fields = [("key", "%s@%s" % (name, version)), ("name", name), ("version", version), ("apparentName", name)]
        for k, v in fields:
            if self.r.random() < 0.95:
                m[k] = self.value(v)
        if depth < 3 and self.r.random() < 0.6:
            x = self.r.random()
            if x < 0.9:
                deps = [self.module(self.r.choice(NAMES), self.r.choice(VERSIONS), depth + 1)
                        for _ in range(self.r.randint(0, 3))]
                if self.r.random() < 0.1:
                    deps.append(self.r.choice([1, "s", None, [1]]))
                m["dependencies"] = deps
            elif x < 0.94:
                m["dependencies"] = None
            elif x < 0.97:
                m["dependencies"] = {"a": 1}
            else:
                m["dependencies"] = "none"
        if self.r.random() < 0.1:
            m["unexpanded"] = self.unexpanded()
        return m

    def graph(self):
        root = {"key": "<root>", "name": "", "version": "", "apparentName": "", "dependencies": []}
        for _ in range(self.r.randint(0, 5)):
            root["dependencies"].append(self.module(self.r.choice(NAMES), self.r.choice(VERSIONS), 1))
        return root

    def mutate(self, g):
        """the next revision's graph: versions bumped, modules added or dropped"""
        g = json.loads(json.dumps(g))
        deps = g["dependencies"]
        for _ in range(self.r.randint(1, 2)):
            x = self.r.random()
            if x < 0.4 and deps:
                d = self.r.choice(deps)
                if isinstance(d, dict):
                    d["version"] = self.value(self.r.choice(VERSIONS))
            elif x < 0.7:
                deps.append(self.module(self.r.choice(NAMES), self.r.choice(VERSIONS), 1))
            elif deps:
                deps.pop(self.r.randrange(len(deps)))
        return g

    def text(self, g):
        """the graph as text, now and then bent"""
        s = json.dumps(g, indent=self.r.choice([None, 2]), ensure_ascii=False)
        x = self.r.random()
        if x < 0.82:
            return s
        if x < 0.85:
            return "INFO: Invocation ID: 1234\nWARNING: leaked\n" + s
        if x < 0.85:
            self.unsure = True
            return "Loading {1 package}\n" + s
        if x < 0.88:
            self.unsure = True
            return s + "\ntrailing"
        if x < 0.90:
            self.unsure = True
            return "[" + s + "]"
        if x < 0.93:
            return self.r.choice(["", "garbage", "[1, 2]", "null", "\"x\""])
        if x < 0.96:
            self.unsure = True
            return s[: len(s) // 2]
        return "  \n" + s + "\n\n"


def gen(seed, n):
    r = random.Random(seed)
    for _ in range(n):
        g = Gen(r)
        base = g.graph()
        a = g.text(base)
        x = r.random()
        if x < 0.08:
            b = a
        elif x < 0.12:
            b = None
        elif x < 0.15:
            a, b = None, g.text(base)
        else:
            b = g.text(g.mutate(base))
        labels = ["//:a", "//pkg:t", "//external:x"]
        for _ in range(r.randint(2, 8)):
            name = r.choice(NAMES)
            ver = r.choice(VERSIONS)
            labels.append(r.choice([
                "@@%s+//:t" % name, "@@%s+%s//p:t" % (name, ver), "@@%s~%s//:t" % (name, ver),
                "@@%s+ext+repo//:t" % name, "@@%s//:t" % name, "@@//:t", "@@%s+" % name, "@%s//:t" % name]))
        print(json.dumps({"from": a, "to": b, "labels": labels, "unsure": g.unsure}, ensure_ascii=False))


def hashes_file(path, graph, labels):
    doc = {"hashes": {l: "aa~bb" for l in labels}, "metadata": {}}
    if graph is not None:
        doc["metadata"]["moduleGraphJson"] = graph
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False)


def run(bds_diff, path):
    with open(path, encoding="utf-8") as f, tempfile.TemporaryDirectory() as d:
        for line in f:
            c = json.loads(line)
            fp, tp = os.path.join(d, "from.json"), os.path.join(d, "to.json")
            hashes_file(fp, c["from"], ["//:a"])
            hashes_file(tp, c["to"], c["labels"])
            p = subprocess.run([bds_diff, "--module-query", fp, tp], capture_output=True, text=True)
            if p.returncode == 1 and len(p.stderr.splitlines()) == 1:
                print("REFUSED")
            elif p.returncode == 0 and p.stderr == "":
                q = p.stdout.strip()
                if q == "":
                    print("PLAIN")
                else:
                    # "rdeps(//..., @@a//... + @@b//...)" -> "a b"
                    inner = q[len("rdeps(//..., "):-1]
                    print(" ".join(x[2:-5] for x in inner.split(" + ")))
            else:
                print("BAD exit %d: %s" % (p.returncode, p.stderr.strip()))


def gen_expand(seed, n):
    r = random.Random(seed)
    for _ in range(n):
        g = Gen(r, bent_unexpanded=True)
        graph = None if r.random() < 0.05 else g.text(g.graph())
        # distinct values, as the set bazel-diff reads ("@" + "" is "@")
        pool = ["@" + x for x in NAMES] + ["@@" + x for x in NAMES[:3]] + ["rules_y", "@nosuch"]
        repos = r.sample(pool, r.randint(1, 3))
        print(json.dumps({"graph": graph, "repos": repos, "unsure": g.unsure}, ensure_ascii=False))


def run_expand(bds_modgraph, path):
    with open(path, encoding="utf-8") as f, tempfile.TemporaryDirectory() as d:
        for line in f:
            c = json.loads(line)
            repos = ",".join(c["repos"])
            if c["graph"] is None:
                # no Bzlmod: bds-generate-hashes keeps the repositories as given
                print(repos)
                continue
            gp = os.path.join(d, "graph.json")
            with open(gp, "w", encoding="utf-8") as g:
                g.write(c["graph"])
            p = subprocess.run([bds_modgraph, "--fine-grained-repos", repos, gp], capture_output=True, text=True)
            if p.returncode == 1 and len(p.stderr.splitlines()) == 1:
                print("REFUSED")
            elif p.returncode == 0 and p.stderr == "":
                print(p.stdout.rstrip("\n"))
            else:
                print("BAD exit %d: %s" % (p.returncode, p.stderr.strip()))


if __name__ == "__main__":
    if sys.argv[1] == "gen":
        gen(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "gen-expand":
        gen_expand(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "run-expand":
        run_expand(sys.argv[2], sys.argv[3])
    else:
        run(sys.argv[2], sys.argv[3])
