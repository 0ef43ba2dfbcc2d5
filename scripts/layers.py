#!/usr/bin/env python3
"""The module graph of src/ as docs/ARCHITECTURE.md draws it: arrows point down.

Reads every `use crate::…`, `use super::…` and inline `crate::…` path in the library's source
files, resolves each to the file that defines the module it names, and fails (exit 1) on

  * a cycle between top-level modules (src/bgp ↔ src/config, …),
  * a cycle between files (src/a.rs → src/b.rs → src/a.rs),
  * a pure core (fsm, bfd, allocator, announce, packet) importing the runtime, the config loader
    or Kubernetes, and the leaf protocol layer (packet) importing anything of ours,
  * a wire layer below a top-level module (src/l2/wire) importing anything of ours but what
    WIRE_ALLOWED lists, inside its own module included (the L2 responder sits beside it).

`mod x;` declarations are not edges (a parent owns its children; it does not import them);
`#[cfg(test)]` test files count like any other file. `--graph` prints the top-level edges.
"""

import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")

# Top-level modules that must stay pure, and what each may never import.
RUNTIME = {"bgp", "watch", "config", "daemon", "http", "l2", "cluster", "metrics", "status"}
FORBIDDEN = {
    "packet": None,  # None: a leaf, imports nothing of ours
    "fsm": RUNTIME,
    # bfd builds on packet alone (docs/ARCHITECTURE.md).
    "bfd": RUNTIME | {"allocator", "announce", "fsm", "model", "standalone", "migrate", "state"},
    "allocator": RUNTIME | {"announce", "fsm", "bfd"},
    "announce": RUNTIME | {"fsm", "bfd"},
}

# Wire layers under a module that will also hold I/O: each may import only itself and these
# top-level modules (src/l2/wire: ARP/NDP frames, pure; the AF_PACKET responder beside it is not).
WIRE_ALLOWED = {
    ("l2", "wire"): {"packet"},
}


def wire_violation(mod, target):
    """The wire prefix `mod` lies under and may not reach `target` from, or None."""
    for prefix, allowed in WIRE_ALLOWED.items():
        if mod[: len(prefix)] != prefix:
            continue
        if target[: len(prefix)] == prefix or target[0] in allowed:
            return None
        return prefix
    return None


def module_path(path):
    rel = os.path.relpath(path, SRC)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return tuple(rel)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"//[^\n]*", "", text)
    # String literals may hold `crate::` in messages; drop them (escaped quotes included).
    return re.sub(r'"(?:\\.|[^"\\])*"', '""', text)


def expand_use(tree):
    """`a::{b, c::{d, e}}` → [a::b, a::c::d, a::c::e] (as lists of segments)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = tree.replace(" ", "").replace("\n", "")
    out = []

    def walk(prefix, s):
        if "{" not in s:
            for part in split_top(s):
                if part:
                    out.append(prefix + [p for p in part.split("::") if p])
            return
        for part in split_top(s):
            if "{" in part:
                head, rest = part.split("{", 1)
                walk(prefix + [p for p in head.split("::") if p], rest[:-1])
            elif part:
                out.append(prefix + [p for p in part.split("::") if p])

    walk([], tree)
    return out


def split_top(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


def references(mod, text):
    """Absolute module paths (tuples) that this file names."""
    refs = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        for segs in expand_use(m.group(1)):
            refs.append(absolute(mod, segs))
    body = re.sub(r"\buse\s+[^;]+;", "", text)
    for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", body):
        refs.append(absolute(mod, m.group(1).split("::")))
    return [r for r in refs if r is not None]


def absolute(mod, segs):
    segs = [s for s in segs if s not in ("*", "self")]
    if not segs:
        return None
    if segs[0] == "crate":
        return tuple(segs[1:])
    if segs[0] == "super":
        base = list(mod)
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
        return tuple(base + segs)
    if segs[0] == "self":
        return tuple(list(mod) + segs[1:])
    return None  # an external crate or std


def resolve(path, modules):
    while path and path not in modules:
        path = path[:-1]
    return path if path else None


def cycles(edges):
    """Every strongly connected component with more than one node (Tarjan), as sorted lists."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    nodes = sorted(set(edges) | {m for v in edges.values() for m in v})

    def visit(n):
        index[n] = low[n] = counter[0]
        counter[0] += 1
        stack.append(n)
        on.add(n)
        for m in sorted(edges.get(n, ())):
            if m not in index:
                visit(m)
                low[n] = min(low[n], low[m])
            elif m in on:
                low[n] = min(low[n], index[m])
        if low[n] == index[n]:
            comp = []
            while True:
                m = stack.pop()
                on.discard(m)
                comp.append(m)
                if m == n:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for n in nodes:
        if n not in index:
            visit(n)
    return out


def main():
    files = {}
    for root, _, names in os.walk(SRC):
        for name in names:
            p = os.path.join(root, name)
            if name.endswith(".rs") and os.path.relpath(p, SRC) != "main.rs":
                files[module_path(p)] = p
    file_edges, top_edges, errors = {}, {}, []
    for mod, path in files.items():
        with open(path, encoding="utf-8") as f:
            text = strip_comments(f.read())
        for ref in references(mod, text):
            target = resolve(ref, files)
            if target is None or target == mod or target == ():
                continue
            file_edges.setdefault(mod, set()).add(target)
            wire = wire_violation(mod, target)
            if wire is not None:
                errors.append(f"src/{os.path.relpath(path, SRC)}: src/{'/'.join(wire)} may import only {', '.join(sorted(WIRE_ALLOWED[wire]))} ({'::'.join(ref)})")
            a, b = mod[0], target[0]
            if a != b:
                top_edges.setdefault(a, set()).add(b)
                banned = FORBIDDEN.get(a, set())
                if banned is None or b in banned:
                    errors.append(f"src/{os.path.relpath(path, SRC)}: {a} must not import {b} ({'::'.join(ref)})")
    if "--graph" in sys.argv:
        for a in sorted(top_edges):
            print(f"{a} -> {', '.join(sorted(top_edges[a]))}")
    for comp in cycles(top_edges):
        errors.append("cycle between top-level modules: " + " <-> ".join(comp))
    for comp in cycles(file_edges):
        errors.append("cycle between files: " + " <-> ".join("src/" + "/".join(c) for c in comp))
    for e in sorted(set(errors)):
        print(e, file=sys.stderr)
    if errors:
        return 1
    print(f"layers ok: {len(files)} files, {sum(len(v) for v in top_edges.values())} edges between top-level modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
