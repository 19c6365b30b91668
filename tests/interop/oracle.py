#!/usr/bin/env python3
"""Independent oracle for the real-corpus interop tests (cli/tests/interop.rs).

The Rust test unpacks the base, each artifact and the composed output with umoci, so
whiteouts, opaque directories and layer order are resolved by umoci, not by us. This
script then recomputes what the composed filesystem must be from the issue's rules alone,
without sharing a line of code with the core:

  walk ROOTFS OUT.json
      Records every entry of an unpacked rootfs: type, mode, uid, gid, size, sha256,
      symlink target, mtime (whole seconds), device number and xattrs.

  expect PLAN.json OUT.json
      PLAN = {"base": "base-walk.json",
              "artifacts": [{"rootfs": DIR, "include": [...], "exclude": [...]}, ...]}
      Writes {"tree": {path: [candidate, ...]}, "layer": {path: artifact index or null},
      "below_base_symlink": [...], "in_base": [...]} -- the expected filesystem (each
      path lists the entries the rules allow there, usually exactly one), the expected
      entries of the new layer (null: a parent directory), the layer paths below a
      symlink of the base and those the base has literally.

  compare EXPECTED.json ACTUAL-walk.json
      Prints every difference and exits 1 if there is one.

Rules implemented (issue 2, "Selection rules" and "Flatten and merge"):
  * globs over absolute paths, leading "/" optional, "*" and "?" never cross "/",
    "**" does; an entry is selected when an include matches it or a parent directory
    and no exclude matches it or a parent directory;
  * artifacts apply in order, the later one wins on the same path, type changes
    included; a directory over a directory keeps the children below;
  * parent directories of selected entries are written: where the base has a directory
    there the base's mode, owner and mtime stay; elsewhere the directory comes from an
    artifact that contributed an entry below it (which one is not pinned by the issue,
    so every such artifact's directory is an accepted candidate).
"""

import hashlib
import json
import os
import re
import stat
import sys

TYPES = [
    (stat.S_ISDIR, "dir"),
    (stat.S_ISREG, "file"),
    (stat.S_ISLNK, "symlink"),
    (stat.S_ISCHR, "char"),
    (stat.S_ISBLK, "block"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
]


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                return h.hexdigest()
            h.update(chunk)


def describe(full):
    """One entry as a dict of the attributes the comparison looks at."""
    st = os.lstat(full)
    kind = next(name for test, name in TYPES if test(st.st_mode))
    entry = {
        "type": kind,
        "mode": "%04o" % stat.S_IMODE(st.st_mode),
        "uid": st.st_uid,
        "gid": st.st_gid,
        # Whole seconds: tar's ustar field holds seconds; GNU tar's pax records may carry
        # a fraction that not every writer keeps.
        "mtime": int(st.st_mtime),
    }
    if kind == "file":
        entry["size"] = st.st_size
        entry["sha256"] = file_sha256(full)
    elif kind == "symlink":
        entry["target"] = os.readlink(full)
    elif kind in ("char", "block"):
        entry["rdev"] = [os.major(st.st_rdev), os.minor(st.st_rdev)]
    try:
        names = sorted(os.listxattr(full, follow_symlinks=False))
    except OSError:
        names = []
    xattrs = {}
    for n in names:
        try:
            xattrs[n] = os.getxattr(full, n, follow_symlinks=False).hex()
        except OSError:
            pass
    if xattrs:
        entry["xattrs"] = xattrs
    return entry


def walk(rootfs):
    """Maps "/abs/path" (and "/" for the root) to describe() of every entry."""
    out = {"/": describe(rootfs)}
    for dirpath, dirnames, filenames in os.walk(rootfs):
        rel = os.path.relpath(dirpath, rootfs)
        prefix = "/" if rel == "." else "/" + rel + "/"
        for name in dirnames + filenames:
            out[prefix + name] = describe(os.path.join(dirpath, name))
        # os.walk does not descend into symlinked directories (followlinks=False), and
        # lists them in dirnames: recorded above as symlinks, which is what we want.
    return out


def glob_regex(pattern):
    """Translates one include/exclude glob into an anchored regex over paths without the
    leading "/": "*" and "?" stay within a component, "**" crosses "/", "{a,b}" picks
    one, "[...]" is a class, "\\x" escapes."""
    p = pattern.strip("/")
    out = []
    i = 0
    depth = 0
    while i < len(p):
        c = p[i]
        if p.startswith("**", i):
            at_start = i == 0 or p[i - 1] == "/"
            at_end = i + 2 == len(p) or p[i + 2] == "/"
            if at_start and at_end:
                if i + 2 == len(p):
                    out.append(".*")  # "a/**": everything below a
                    i += 2
                else:
                    out.append("(?:.*/)?")  # "**/b" and "a/**/b": zero or more dirs
                    i += 3
                continue
            out.append("[^/]*")  # "a**b" is just a star
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = p.index("]", i + 2 if p[i + 1:i + 2] in ("!", "^") else i + 1)
            body = p[i + 1:j]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out.append("(?!/)[" + body.replace("\\", "\\\\") + "]")
            i = j
        elif c == "{":
            out.append("(?:")
            depth += 1
        elif c == "}" and depth:
            out.append(")")
            depth -= 1
        elif c == "," and depth:
            out.append("|")
        elif c == "\\" and i + 1 < len(p):
            i += 1
            out.append(re.escape(p[i]))
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.DOTALL)


def ancestors(path):
    """"/a/b/c" -> ["/a/b", "/a"] (never "/")."""
    out = []
    while True:
        path = os.path.dirname(path)
        if path == "/":
            return out
        out.append(path)


class Rules:
    def __init__(self, include, exclude):
        self.include = [glob_regex(p) for p in include]
        self.exclude = [glob_regex(p) for p in exclude]

    @staticmethod
    def hit(regexes, path):
        keys = [path] + ancestors(path)
        return any(r.match(k[1:]) for r in regexes for k in keys)

    def selected(self, path):
        return path != "/" and self.hit(self.include, path) and not self.hit(self.exclude, path)


def resolve(base, path, hops=40):
    """Where `path` leads in the base walk when every symlink on the way is followed
    inside the image root; None when it leads nowhere."""
    parts = [p for p in path.split("/") if p]
    done = []
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        current = "/" + "/".join(done + [part])
        entry = base.get(current)
        if entry is None:
            return None
        if entry["type"] == "symlink":
            hops -= 1
            if hops < 0:
                return None
            target = entry["target"]
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        done.append(part)
    return "/" + "/".join(done) if done else "/"


def remove_subtree(tree, path):
    prefix = path + "/"
    for k in [k for k in tree if k.startswith(prefix)]:
        del tree[k]


def expect(plan):
    with open(plan["base"]) as f:
        base = json.load(f)
    # 1. The new layer: path -> (candidates, artifact index or None for a parent).
    layer = {}
    # Every (path, artifact) the rules selected, overwritten or not: which artifact's
    # directory a parent comes from is not pinned, any of these is accepted.
    selections = []
    artifact_walks = []
    for index, art in enumerate(plan["artifacts"]):
        files = walk(art["rootfs"])
        artifact_walks.append(files)
        rules = Rules(art.get("include", []), art.get("exclude", []))
        for path in sorted(files):
            if not rules.selected(path):
                continue
            entry = files[path]
            # An earlier artifact's non-directory above the entry is replaced by a
            # directory (added with the parents below).
            for a in ancestors(path):
                if a in layer and layer[a][0][0]["type"] != "dir":
                    del layer[a]
            old = layer.get(path)
            if old is not None and old[0][0]["type"] == "dir" and entry["type"] != "dir":
                remove_subtree(layer, path)
            layer[path] = ([entry], index)
            selections.append((path, index))
    contributors = {}
    for path, index in selections:
        for a in ancestors(path):
            contributors.setdefault(a, set()).add(index)
    for parent in sorted({a for path in layer for a in ancestors(path)} - set(layer)):
        b = base.get(parent)
        if b is not None and b["type"] == "dir":
            layer[parent] = ([b], None)  # the base's mode, owner and mtime stay
            continue
        candidates = [artifact_walks[i][parent] for i in sorted(contributors[parent])
                      if artifact_walks[i].get(parent, {}).get("type") == "dir"]
        # Below a base symlink the layer shadows (a real /lib over /lib -> usr/lib), the
        # base "has" the directory only through that link: whether the new directory
        # copies the linked one (/usr/lib/x86_64-linux-gnu) is not pinned, so it is
        # accepted too.
        resolved = resolve(base, parent)
        if resolved is not None and resolved != parent and base[resolved]["type"] == "dir":
            candidates.append(base[resolved])
        # No artifact has a directory there: only the type is pinned.
        layer[parent] = (candidates or [{"type": "dir"}], None)
    # 2. The layer over the base, as layer.md says: a directory over a directory merges,
    # anything else replaces the lower entry and everything below it.
    tree = {k: [v] for k, v in base.items()}
    for path in sorted(layer):
        cands, _ = layer[path]
        old = tree.get(path)
        if old is not None and old[0]["type"] == "dir" and cands[0]["type"] != "dir":
            remove_subtree(tree, path)
        tree[path] = cands
    # New-layer paths below a base symlink: whether they "replace the base" depends on
    # reading the path literally or through the link, so the test leaves them out there.
    base_links = {k for k, v in base.items() if v["type"] == "symlink"}
    below_links = sorted(p for p in layer if any(a in base_links for a in ancestors(p)))
    return {
        "tree": tree,
        "layer": {p: a for p, (_, a) in layer.items()},
        "below_base_symlink": below_links,
        "in_base": sorted(p for p in layer if p in base),
    }


def matches(candidate, actual):
    """A full candidate must equal the entry; a bare {"type": ...} pins only the type."""
    if "mode" in candidate:
        return candidate == actual
    return actual.get("type") == candidate["type"]


def compare(expected, actual, limit=60):
    tree = expected["tree"]
    problems = []
    for path in sorted(set(tree) | set(actual)):
        if path not in actual:
            problems.append("missing in output: %s (expected %s)" % (path, json.dumps(tree[path][0], sort_keys=True)))
            continue
        if path not in tree:
            problems.append("unexpected in output: %s %s" % (path, json.dumps(actual[path], sort_keys=True)))
            continue
        got = actual[path]
        cands = tree[path]
        if any(matches(c, got) for c in cands):
            continue
        want = cands[0]
        diffs = ["%s: expected %r, got %r" % (k, want.get(k), got.get(k)) for k in sorted(set(want) | set(got)) if want.get(k) != got.get(k)]
        extra = " (or one of %d other accepted parent directories)" % (len(cands) - 1) if len(cands) > 1 else ""
        problems.append("differs: %s: %s%s" % (path, "; ".join(diffs), extra))
    for p in problems[:limit]:
        print(p)
    if len(problems) > limit:
        print("... and %d more differences" % (len(problems) - limit))
    print("compared %d expected and %d actual entries: %d differences" % (len(tree), len(actual), len(problems)))
    return 1 if problems else 0


def main(argv):
    if len(argv) != 4 or argv[1] not in ("walk", "expect", "compare"):
        print(__doc__, file=sys.stderr)
        return 2
    cmd, a, b = argv[1:]
    if cmd == "walk":
        with open(b, "w") as f:
            json.dump(walk(a), f, sort_keys=True)
        return 0
    if cmd == "expect":
        with open(a) as f:
            plan = json.load(f)
        with open(b, "w") as f:
            json.dump(expect(plan), f, sort_keys=True)
        return 0
    with open(a) as f:
        expected = json.load(f)
    with open(b) as f:
        actual = json.load(f)
    return compare(expected, actual)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
