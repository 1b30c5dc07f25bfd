#!/usr/bin/env python3
"""Writes OUT/REPORT.md and OUT/plots/*.png from the rows compare.sh kept in OUT/raw:
    report.py OUT TARGETS        (TARGETS: the known targets, comma-separated, in report order)
One table per workload, one column per target; each cell is the figure with its ratio to the
local disk and, for a DatenLord target, to JuiceFS in the same set-up. Plots: grouped bars,
one colour per target (matplotlib; without it the report says so and has tables only)."""
import math
import os
import sys

# DatenLord targets and the JuiceFS target in the same set-up.
PEER = {"datenlord": "juicefs", "datenlord-s3-cold": "juicefs-s3-cold", "datenlord-s3-warm": "juicefs-s3-warm",
        "datenlord-redis": "juicefs-redis"}
BASE = "local-disk"
# The local disk with the cold targets' fio read jobs (raw/local-disk/fio-cold.tsv): the base
# of their fio ratios, so that a cold read is set against the same reads on the disk.
COLD_BASE = "local-disk (cold reads)"


def base_of(target, values):
    return COLD_BASE if target.endswith("-cold") and COLD_BASE in values else BASE


def read_rows(path):
    """The TSV rows of one workload (header and '#' notes left out)."""
    try:
        with open(path) as f:
            lines = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#")]
    except FileNotFoundError:
        return []
    return [l.split("\t") for l in lines[1:]]


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


class Results:
    def __init__(self, out, targets):
        self.out = out
        self.targets = [t for t in targets if os.path.isdir(os.path.join(out, "raw", t))]

    def rows(self, target, workload):
        return read_rows(os.path.join(self.out, "raw", target, f"{workload}.tsv"))

    def status(self, target, workload):
        try:
            with open(os.path.join(self.out, "raw", target, f"{workload}.status")) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None


def figure(value):
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def ratio(value, other):
    if value is None or not other:
        return "—"
    r = value / other
    return f"{r:.2f}x" if r >= 0.1 else f"{r:.2g}x"


def table(results, workload, keys, values, unit, targets=None):
    """keys: row labels in order; values[target][key] -> number. Markdown lines."""
    targets = targets or results.targets
    head = ["" if unit is None else unit] + targets
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in keys:
        cells = [key]
        for t in targets:
            v = values.get(t, {}).get(key)
            cell = figure(v)
            if v is not None and t not in (BASE, COLD_BASE):
                base = base_of(t, values)
                if key not in values.get(base, {}):
                    base = BASE
                cell += f" ({ratio(v, values.get(base, {}).get(key))}"
                if t in PEER:
                    cell += f" / {ratio(v, values.get(PEER[t], {}).get(key))}"
                cell += ")"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def notes(results, workload):
    lines = []
    for t in results.targets:
        s = results.status(t, workload)
        if s and not s.startswith("ok"):
            lines.append(f"- {t}: {s}" + (" — the table has the rows it finished." if s.startswith(("timeout", "failed")) else ""))
    return lines


def plot(results, name, title, ylabel, keys, values, labels=None):
    """One grouped-bar PNG (log scale), bars labelled by `labels` (default: the keys); returns
    its Markdown line, or None without matplotlib or data."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    shown = [t for t in results.targets if any(values.get(t, {}).get(k) for k in keys)]
    if not shown or not keys:
        return None
    # tab20 pairs a dark and a light shade of each hue: the dark ones first, so the first ten
    # targets get ten different hues.
    tab20 = plt.get_cmap("tab20").colors
    colours = tab20[0::2] + tab20[1::2]
    order = list(results.all_targets)
    width = 0.8 / len(shown)
    fig, ax = plt.subplots(figsize=(max(7, 1.2 * len(keys) + 4), 4.5))
    for i, t in enumerate(shown):
        xs = [k + (i - (len(shown) - 1) / 2) * width for k in range(len(keys))]
        ys = [values.get(t, {}).get(k) or 0 for k in keys]
        ax.bar(xs, ys, width, label=t, color=colours[order.index(t) % len(colours)])
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels(labels or keys)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_yscale("log")
    # Whole decades from below the smallest bar, so bar heights compare at a glance.
    smallest = min(v for t in shown for k in keys if (v := values.get(t, {}).get(k)))
    ax.set_ylim(bottom=10 ** math.floor(math.log10(smallest)))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    os.makedirs(os.path.join(results.out, "plots"), exist_ok=True)
    fig.savefig(os.path.join(results.out, "plots", f"{name}.png"), dpi=100)
    plt.close(fig)
    return f"![{title}](plots/{name}.png)"


def fio_section(results):
    iops, mbs, lat = {}, {}, {}
    keys = []
    targets = list(results.targets)
    if BASE in targets and results.rows(BASE, "fio-cold"):
        targets.insert(targets.index(BASE) + 1, COLD_BASE)
    for t in targets:
        rows = results.rows(BASE, "fio-cold") if t == COLD_BASE else results.rows(t, "fio")
        for r in rows:
            if len(r) < 5:
                continue
            key = f"{r[0]} {r[1]} ×{r[2]}"
            if key not in keys:
                keys.append(key)
            iops.setdefault(t, {})[key] = number(r[3])
            mbs.setdefault(t, {})[key] = number(r[4])
            if len(r) >= 7 and number(r[5]) is not None:
                lat.setdefault(t, {})[key] = f"{figure(number(r[5]))} / {figure(number(r[6]))}"
    rand = [k for k in keys if k.startswith("rand")]
    seq = [k for k in keys if k.startswith("seq")]
    out = ["## 1. fio", "", "Random I/O: IOPS (ratio to the local disk / to JuiceFS in the same set-up).", ""]
    if COLD_BASE in targets:
        out[-1:-1] = ["", f"The reads of a -cold target are cold reads (see \"Cold phases\"); the column "
                      f"\"{COLD_BASE}\" is the same read jobs on the local disk (page cache dropped), and "
                      "the base of the -cold targets' ratios to the local disk."]
    out += table(results, "fio", rand, iops, "IOPS", targets)
    out += ["", "Sequential I/O of 1 MiB blocks: MB/s.", ""]
    out += table(results, "fio", seq, mbs, "MB/s", targets)
    out += ["", "Latency, mean / p99 in µs (lower is better).", ""]
    head = ["µs"] + targets
    out += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in keys:
        out.append("| " + " | ".join([k] + [lat.get(t, {}).get(k, "—") for t in targets]) + " |")
    out += [""] + notes(results, "fio")
    if COLD_BASE in targets:
        s = results.status(BASE, "fio-cold")
        if s and not s.startswith("ok"):
            out.append(f"- {COLD_BASE}: {s}")
    for kind in ("randread", "randwrite"):
        by_bs = [k for k in rand if k.startswith(kind + " ") and k.endswith("×1")]
        by_jobs = [k for k in rand if k.startswith(kind + "-jobs")]
        for name, ks, what, label in ((f"fio-{kind}-bs", by_bs, "by block size, 1 job", lambda k: k.split()[1]),
                                      (f"fio-{kind}-jobs", by_jobs, "4 KiB, by jobs", lambda k: k.split()[2] + " jobs")):
            line = plot(results, name, f"{kind} IOPS, {what}", "IOPS (log)", ks, iops, [label(k) for k in ks])
            if line:
                out += ["", line]
    line = plot(results, "fio-seq", "sequential 1 MiB, MB/s", "MB/s (log)", seq, mbs)
    if line:
        out += ["", line]
    return out


def meta_section(results):
    ops, keys = {}, []
    listing = {}
    for t in results.targets:
        for r in results.rows(t, "meta"):
            if r and r[0] == "readdir" and len(r) >= 5:
                listing.setdefault(t, {})[f"readdir {r[1]}"] = number(r[4].split()[0])
            elif len(r) >= 7:
                for op, v in zip(("create", "stat", "open", "rename", "unlink"), r[2:7]):
                    key = f"{op}, {r[0]}, {r[1]} worker{'s' if r[1] != '1' else ''}"
                    if key not in keys:
                        keys.append(key)
                    ops.setdefault(t, {})[key] = number(v)
    out = ["## 2. Metadata", "", "mdtest-style operations per second (ratio to the local disk / to JuiceFS).", ""]
    out += table(results, "meta", keys, ops, "ops/s")
    out += ["", "Listing a directory of 10 000 entries (200 in --quick): entries/s.", ""]
    out += table(results, "meta", ["readdir cold", "readdir warm"], listing, "entries/s")
    out += [""] + notes(results, "meta")
    for shape in ("flat", "tree"):
        for workers in ("1 worker", "4 workers"):
            ks = [k for k in keys if k.endswith(f"{shape}, {workers}")]
            line = plot(results, f"meta-{shape}-{workers.split()[0]}", f"metadata ops/s, {shape}, {workers}",
                        "ops/s (log)", ks, ops, [k.split(",")[0] for k in ks])
            if line:
                out += ["", line]
    return out


def simple_section(results, workload, title, intro, value_col, unit, extra=None):
    values, keys, checks = {}, [], {}
    for t in results.targets:
        for r in results.rows(t, workload):
            if r and r[0] == "check":
                checks[t] = r[1] if len(r) > 1 else ""
                continue
            if len(r) > value_col:
                if r[0] not in keys:
                    keys.append(r[0])
                values.setdefault(t, {})[r[0]] = number(r[value_col])
    out = [title, "", intro, ""]
    out += table(results, workload, keys, values, unit)
    if checks:
        out += ["", "Is the copy that came back out identical to the source (contents, modes, symlinks, mtimes)?", ""]
        out += [f"- {t}: {checks[t]}" for t in results.targets if t in checks]
    out += [""] + notes(results, workload)
    line = plot(results, workload, f"{workload}: {unit}", f"{unit} (log)", keys, values)
    if line:
        out += ["", line]
    return out


def cold_section(results):
    """How each cold target was made cold (raw/TARGET/cold.txt, written by compare.sh), what
    the checks found (cold-checks.log, written by cold.sh) and what its fio reads took from the
    S3 server."""
    out = []
    for t in results.targets:
        try:
            with open(os.path.join(results.out, "raw", t, "cold.txt")) as f:
                how = [l.strip() for l in f if l.strip()]
        except FileNotFoundError:
            continue
        try:
            with open(os.path.join(results.out, "raw", t, "cold-checks.log")) as f:
                checks = [l.strip() for l in f if l.strip()]
        except FileNotFoundError:
            checks = []
        cold = [c for c in checks if c.endswith((" 0 B (0.0%)", " 0 B (100.0%)")) or ", 0 B of " in c]
        out += [f"### {t}", ""] + [f"- {l}" for l in how]
        out.append(f"- checks: {len(checks)} evictions checked, {len(cold)} found nothing cached"
                   + ("" if len(cold) == len(checks) else "; not cold: " + "; ".join(c for c in checks if c not in cold)))
        rows = [r for r in results.rows(t, "fio") if len(r) >= 9 and "read" in r[0]]
        if rows:
            out += ["", "| fio read job | MB read | MB the S3 server read |", "|---|---|---|"]
            out += [f"| {r[0]} {r[1]} ×{r[2]} | {r[7]} | {r[8]} |" for r in rows]
        out.append("")
    if out:
        out = ["## Cold phases", "", "How each cold target's reads were made cold, and what they took from the S3 "
               "server (its process's rchar: what it read from its disk or page cache).", ""] + out
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    out, targets = sys.argv[1], sys.argv[2].split(",")
    results = Results(out, targets)
    results.all_targets = targets
    try:
        with open(os.path.join(out, "machine.txt")) as f:
            machine = [l.rstrip() for l in f if l.strip()]
    except FileNotFoundError:
        machine = []
    doc = ["# DatenLord performance report", "",
           "Made by `scripts/perf/compare.sh`: every target measured in one run on this machine. "
           "A cell is the figure, then in brackets its ratio to the local disk and, for a DatenLord "
           "target, to JuiceFS in the same set-up (datenlord ↔ juicefs, datenlord-s3-cold ↔ "
           "juicefs-s3-cold, datenlord-s3-warm ↔ juicefs-s3-warm, datenlord-redis ↔ juicefs-redis). "
           "Above 1.00x is faster.", "",
           "## Machine and versions", ""] + [f"- {l}" for l in machine] + [""]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        doc += ["(No plots: matplotlib is not installed.)", ""]
    doc += cold_section(results)
    doc += fio_section(results) + [""]
    doc += meta_section(results) + [""]
    doc += simple_section(results, "smallfiles", "## 3. Small-file tree",
                          "`cp -a` of a seeded source tree in (with sync), back out, and `rm -rf`: files/s.", 4, "files/s") + [""]
    doc += simple_section(results, "dataset", "## 4. Dataset epochs",
                          "Files of 128 KiB read whole in a shuffled order by 4 readers: MB/s. Epoch 1 cold "
                          "(page cache dropped, the filesystem's own cache evicted), epoch 2 with the page cache "
                          "dropped, epoch 3 warm.", 5, "MB/s") + [""]
    with open(os.path.join(out, "REPORT.md"), "w") as f:
        f.write("\n".join(doc))


if __name__ == "__main__":
    main()
