#!/usr/bin/env python3
"""The small-file tree of issue 8 (workload 3): a deterministic, seeded source-tree shape.
    tree.py make DIR FILES      write FILES files (10 000 in the full run) into about FILES/16
                                directories up to 4 deep; sizes log-normal with a median of
                                4 KiB, capped at 1 MiB (~120 MB for 10 000 files); modes 0644,
                                0755 and 0600; about 2 % relative symlinks to files of the tree
    tree.py compare SRC COPY    what differs between two trees: missing entries, types,
                                contents, modes, symlink targets, mtimes (whole seconds).
                                Prints one TSV row: "check", then "identical" or what differed
                                (a count per kind and an example)."""
import hashlib
import json
import math
import os
import random
import sys

SEED = 8
MEDIAN = 4096
SIGMA = 1.5
CAP = 1 << 20
MTIME = 1_700_000_000


def make(root, files):
    rng = random.Random(SEED)
    dirs = [""]
    for i in range(max(1, files // 16) - 1):
        parent = rng.choice([d for d in dirs if d.count("/") < 3] or [""])
        dirs.append(os.path.join(parent, f"d{i:04}"))
    for d in dirs:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    written = []
    total = 0
    for i in range(files):
        size = min(CAP, int(rng.lognormvariate(math.log(MEDIAN), SIGMA)))
        rel = os.path.join(rng.choice(dirs), f"f{i:05}{rng.choice(('.c', '.h', '.rs', '.py', '.txt', ''))}")
        path = os.path.join(root, rel)
        with open(path, "wb") as out:
            out.write(rng.randbytes(size))
        os.chmod(path, rng.choices((0o644, 0o755, 0o600), (90, 8, 2))[0])
        os.utime(path, (MTIME + i, MTIME + i))
        written.append(rel)
        total += size
    links = 0
    for i in range(files // 50):
        target = rng.choice(written)
        rel = os.path.join(rng.choice(dirs), f"l{i:04}")
        os.symlink(os.path.relpath(target, os.path.dirname(rel) or "."), os.path.join(root, rel))
        links += 1
    print(json.dumps({"files": files, "dirs": len(dirs), "symlinks": links, "bytes": total}))


def digest(path):
    h = hashlib.blake2b()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.digest()


def entries(root):
    found = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            found[os.path.relpath(path, root)] = os.lstat(path)
    return found


def compare(src, copy):
    want, got = entries(src), entries(copy)
    differences = {}
    examples = []

    def differ(kind, rel):
        differences[kind] = differences.get(kind, 0) + 1
        if len(examples) < 10:
            examples.append(f"{kind}: {rel}")

    for rel, st in sorted(want.items()):
        other = got.get(rel)
        if other is None:
            differ("missing", rel)
            continue
        if (st.st_mode & 0o170000) != (other.st_mode & 0o170000):
            differ("type", rel)
            continue
        a, b = os.path.join(src, rel), os.path.join(copy, rel)
        if os.path.islink(a):
            if os.readlink(a) != os.readlink(b):
                differ("symlink target", rel)
            continue
        if (st.st_mode & 0o7777) != (other.st_mode & 0o7777):
            differ("mode", rel)
        if os.path.isfile(a):
            if st.st_size != other.st_size or digest(a) != digest(b):
                differ("content", rel)
            if int(st.st_mtime) != int(other.st_mtime):
                differ("mtime", rel)
    for rel in sorted(set(got) - set(want)):
        differ("extra", rel)
    if not differences:
        print("check\tidentical")
    else:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(differences.items()))
        print(f"check\tDIFFERS: {kinds} (e.g. {examples[0]})")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
