#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks that rvmbus's glue (rust/rvmbus) keeps its layers.

Each folder of rust/rvmbus is a layer; a file may name (in `use crate::...`
lines and in `crate::...` paths) only its own folder and the layers below
it, and the interface folders (drivers, hv, sysfs, pm) may not name each
other. The crate root and vmbus_drv.rs, the module itself, sit on top.

    scripts/layer-check.py            check; exit 1 and list each violation
    scripts/layer-check.py --graph    also print the module graph by layer

The graph lists, for each file, the modules it names; `super` is its own
folder. It also reports import cycles between files of the same layer.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "rust", "rvmbus")

# Bottom to top. Folders on one line are siblings: neither may name the other.
LAYERS = [
    ("proto",),
    ("support",),
    ("transport",),
    ("bus",),
    ("drivers", "hv", "sysfs", "pm"),
    ("debug",),
    ("vmbus_drv", "rvmbus_main"),
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def strip_comments(src):
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return re.sub(r"//[^\n]*", "", src)


def top_names(text):
    """The first path segments after one `crate::` (a name or a `{...}` tree)."""
    return sorted({p[0] for p in flatten(text) if p})


def layer_of(rel):
    first = rel.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first


def module_of(rel):
    m = rel[:-3]
    if m.endswith("/mod"):
        m = m[:-4]
    return m.replace(os.sep, "::")


def flatten(text):
    """Every path (a list of segments) that one use tree names."""
    text = text.lstrip()
    if text.startswith("*"):
        return [[]]
    m = re.match(r"(\w+)", text)
    if m and not text.startswith("{"):
        rest = text[m.end():]
        if rest.startswith("::"):
            return [[m.group(1)] + p for p in flatten(rest[2:])] or [[m.group(1)]]
        return [[m.group(1)]]
    if not text.startswith("{"):
        return []
    depth, cur, parts = 0, "", []
    for ch in text[1:]:
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                break
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        p = p.strip()
        if not p or p.startswith("self"):
            out.append([])
            continue
        out.extend(flatten(p))
    return out


def parent_of(rel):
    """The path of the module that `super` names in file `rel`."""
    segs = module_of(rel).split("::")
    if rel.endswith("mod.rs"):
        return segs[:-1]
    return segs[:-1]


MODULES = set()


def main():
    graph = "--graph" in sys.argv
    files = []
    for d, _, names in os.walk(ROOT):
        for n in names:
            if n.endswith(".rs"):
                files.append(os.path.relpath(os.path.join(d, n), ROOT))
    files.sort()
    MODULES.update(module_of(f) for f in files)
    MODULES.add("proto")
    bad = []
    deps = {}
    for rel in files:
        src = strip_comments(open(os.path.join(ROOT, rel)).read())
        names = set()
        for m in re.finditer(r"\bcrate::", src):
            names.update(top_names(src[m.end():m.end() + 4000]))
        own = layer_of(rel)
        if own not in RANK:
            bad.append(f"{rel}: folder '{own}' is not a layer (add it to LAYERS)")
            continue
        for n in sorted(names):
            if n == own:
                continue
            if n not in RANK:
                bad.append(f"{rel}: names crate::{n}, which is not a layer")
            elif RANK[n] >= RANK[own]:
                bad.append(f"{rel} ({own}) names crate::{n}: not below it")
        # Module-level edges: every path a `crate::`/`super::` tree names,
        # cut to the longest prefix that is a module of the crate.
        mod = module_of(rel)
        edges = set()
        for m in re.finditer(r"\b(crate|super)::", src):
            base = [] if m.group(1) == "crate" else parent_of(rel)
            for path in flatten(src[m.end():m.end() + 4000]):
                full = base + path
                for k in range(len(full), 0, -1):
                    cand = "::".join(full[:k])
                    if cand in MODULES:
                        edges.add(cand)
                        break
        deps[mod] = sorted(e for e in edges if e and e != mod)
    if graph:
        for names in reversed(LAYERS):
            print("layer " + " | ".join(names) + ":")
            for rel in files:
                if layer_of(rel) in names:
                    mod = module_of(rel)
                    print(f"  {mod} -> {', '.join(deps.get(mod, [])) or '(nothing)'}")
        # Cycles between modules of one layer (a file naming another that
        # names it back, directly or through others of that layer).
        mods = set(deps)
        cyc = set()
        for a in mods:
            seen, stack = set(), [a]
            while stack:
                x = stack.pop()
                for y in deps.get(x, []):
                    if y == a:
                        cyc.add(a)
                    elif y in mods and y not in seen:
                        seen.add(y)
                        stack.append(y)
        print("modules on an intra-layer cycle: " + (", ".join(sorted(cyc)) or "none"))
    for b in bad:
        print("layer-check: " + b, file=sys.stderr)
    print(f"layer-check: {len(files)} files, {len(bad)} layering violations")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
