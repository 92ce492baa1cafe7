#!/usr/bin/env python3
"""Extracts the shell steps of one job of a CI example (tests/examples.bats).

usage: examples-steps.py github|gitlab FILE JOB OUTDIR [--expr NAME=VALUE ...] [--set VAR=VALUE ...]

Writes OUTDIR/steps/NN.sh, one script per step in order, each exporting the environment the
CI would give it (the workflow's, the job's and the step's env for GitHub; the file's and the
job's variables for GitLab), then the step's own lines; and OUTDIR/job.json, the job as
parsed. --expr gives the value of a GitHub `${{ NAME }}` expression: any other expression is
an error, so an edit that adds one fails the test rather than running with a blank. --set
replaces the value of a variable the YAML sets (the store, the bds checkout): a variable it
does not set is an error, so the test cannot override a name the example no longer uses.
A GitLab job's before_script and script run as one script, as GitLab runs them.
"""
import json
import os
import re
import shlex
import sys

import yaml


def die(msg):
    print("examples-steps.py: " + msg, file=sys.stderr)
    sys.exit(1)


def main(argv):
    if len(argv) < 4:
        die("usage: examples-steps.py github|gitlab FILE JOB OUTDIR [--expr N=V ...] [--set V=X ...]")
    kind, path, job_name, outdir = argv[:4]
    exprs, sets = {}, {}
    rest = argv[4:]
    while rest:
        if len(rest) < 2 or rest[0] not in ("--expr", "--set") or "=" not in rest[1]:
            die("bad argument: " + " ".join(rest))
        name, value = rest[1].split("=", 1)
        (exprs if rest[0] == "--expr" else sets)[name] = value
        rest = rest[2:]
    with open(path) as f:
        doc = yaml.safe_load(f)
    if kind == "github":
        job = doc.get("jobs", {}).get(job_name)
        steps = github_steps(doc, job, job_name, exprs)
    elif kind == "gitlab":
        job = gitlab_job(doc, job_name)
        steps = gitlab_steps(doc, job)
    else:
        die("unknown kind " + kind)
    used = set()
    for env, _ in steps:
        for k in env:
            if k in sets:
                env[k] = sets[k]
                used.add(k)
    if set(sets) - used:
        die("--set of a variable no step gets: " + ", ".join(sorted(set(sets) - used)))
    os.makedirs(os.path.join(outdir, "steps"), exist_ok=True)
    with open(os.path.join(outdir, "job.json"), "w") as f:
        json.dump(job, f, sort_keys=True)
    for i, (env, body) in enumerate(steps):
        with open(os.path.join(outdir, "steps", "%02d.sh" % i), "w") as f:
            for k in sorted(env):
                f.write("export %s=%s\n" % (k, shlex.quote(str(env[k]))))
            f.write(body if body.endswith("\n") else body + "\n")


def expand(value, exprs):
    """A GitHub value with its ${{ }} expressions replaced; env.X from the env given."""
    def one(m):
        name = m.group(1)
        if name not in exprs:
            die("no value for the expression ${{ %s }}" % name)
        return exprs[name]
    return re.sub(r"\$\{\{\s*([^}]*?)\s*\}\}", one, str(value))


def github_steps(doc, job, job_name, exprs):
    if not isinstance(job, dict):
        die("no job " + job_name)
    steps = []
    for step in job.get("steps", []):
        if "run" not in step:
            continue
        env = {}
        for level in (doc.get("env") or {}, job.get("env") or {}, step.get("env") or {}):
            for k, v in level.items():
                env[k] = expand(v, dict(exprs, **{"env." + n: str(x) for n, x in env.items()}))
        steps.append((env, expand(step["run"], exprs)))
    if not steps:
        die("job %s has no run step" % job_name)
    return steps


def gitlab_job(doc, job_name):
    job = doc.get(job_name)
    if not isinstance(job, dict):
        die("no job " + job_name)
    merged = {}
    for base in ([job["extends"]] if isinstance(job.get("extends"), str) else job.get("extends", [])):
        merged.update(gitlab_job(doc, base))
    merged.update({k: v for k, v in job.items() if k != "extends"})
    return merged


def gitlab_steps(doc, job):
    env = {k: str(v) for k, v in (doc.get("variables") or {}).items()}
    env.update({k: str(v) for k, v in (job.get("variables") or {}).items()})
    lines = list(job.get("before_script", [])) + list(job.get("script", []))
    if not lines:
        die("the job has no script")
    return [(env, "\n".join(lines))]


main(sys.argv[1:])
