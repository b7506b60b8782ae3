"""The markdown of a benchmark run (from its JSON): how it ran, one table per group, and the targets."""
from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from typing import Any

FLOWS = ("fix", "git merge", "git rebase", "git commit", "git push")
FORMATTING = ("formatting", "formatting: wagtail")
GROUP_ORDER = ("check", "hooks", *FLOWS, *FORMATTING)
SAME_PATH_BOUND = 1.1  # issue 14, point 3: black-formatted migrations cost what the same ones in makemigrations' style cost
TARGET_SIZE = 20000
SHA = re.compile(r"\b[0-9a-f]{40}\b")
Result = dict[str, Any]


def ms(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.1f}"


def signed(value: float) -> str:
    return ("+" if value >= 0 else "−") + ms(abs(value))


def step_cell(step: Result) -> str:
    cpu, wall = step["cpu_ms"], step["wall_ms"]
    return f"{ms(cpu['median'])} ({ms(cpu['min'])}–{ms(cpu['max'])}) · {ms(wall['median'])}"


def comparison_cell(comparison: Result) -> str:
    cpu = comparison["cpu"]
    if comparison["kind"] == "ratio":
        return f"{cpu['median']:.2f}× ({cpu['min']:.2f}–{cpu['max']:.2f})"
    return f"{signed(cpu['median'])} ({signed(cpu['min'])} to {signed(cpu['max'])})"


def groups_named(results: Result, name: str) -> dict[int, Result]:
    return {group["size"]: group for group in results["groups"] if group["group"] == name}


def group_table(name: str, by_size: dict[int, Result]) -> list[str]:
    sizes = sorted(by_size)
    pairs = ", ".join(f"{by_size[size]['pairs']} at {size:,}" for size in sizes)
    lines = [f"### {name}", "", f"Pairs (rounds): {pairs}.", ""]
    lines += [f"- {note}" for note in dict.fromkeys(note for size in sizes for note in by_size[size]["notes"])]
    lines += ["", f"| {name}: CPU ms median (min–max) · wall ms median | " + " | ".join(f"{size:,} migrations" for size in sizes) + " |",
              "|---|" + "---|" * len(sizes)]
    steps = list(dict.fromkeys(step for size in sizes for step in by_size[size]["steps"]))
    for step in steps:
        cells = [step_cell(by_size[size]["steps"][step]) if step in by_size[size]["steps"] else "—" for size in sizes]
        command = next(by_size[size]["steps"][step]["command"] for size in sizes if step in by_size[size]["steps"])
        shown = step if command == step else f"{step}: `{SHA.sub(lambda match: match[0][:7], command)}`"
        lines.append(f"| {shown} | " + " | ".join(cells) + " |")
    labels = list(dict.fromkeys(comparison["label"] for size in sizes for comparison in by_size[size]["comparisons"]))
    for label in labels:
        cells = []
        for size in sizes:
            found = [comparison for comparison in by_size[size]["comparisons"] if comparison["label"] == label]
            cells.append(comparison_cell(found[0]) if found else "—")
        lines.append(f"| **{label}** (CPU, per pair) | " + " | ".join(cells) + " |")
    return lines + [""]


def _comparison(group: Result | None, label: str) -> Result | None:
    if group is None:
        return None
    return next((comparison for comparison in group["comparisons"] if comparison["label"] == label), None)


def _median(found: Result | None, measure: str) -> float | None:
    return None if found is None else float(found[measure]["median"])


def _step(group: Result | None, name: str) -> Result | None:
    return None if group is None else group["steps"].get(name)


def target_size(results: Result) -> int:
    sizes = sorted({group["size"] for group in results["groups"] if group["group"] != FORMATTING[1]})  # not wagtail's count
    return TARGET_SIZE if TARGET_SIZE in sizes else max((size for size in sizes if size <= TARGET_SIZE), default=max(sizes, default=0))


def targets(results: Result) -> list[Result]:
    """The targets of issue 14, point 2 (CPU time, at 20,000 migrations when measured): measured and met or not."""
    size = target_size(results)

    def at(name: str) -> Result | None:
        return groups_named(results, name).get(size)

    rows: list[Result] = []

    def add(target: str, measured: str | None, met: bool | None) -> None:
        rows.append({"target": target, "size": size, "measured": measured or "not measured", "met": met if measured else None})

    def limit(target: str, value: float | None, bound: float, text: Callable[[float], str]) -> None:
        add(target, None if value is None else text(value), None if value is None else value <= bound)

    check, hooks, fix = at("check"), at("hooks"), at("fix")
    warm_rev = _step(check, "check --rev (warm)")
    limit("warm `check --rev` ≤ 40 ms", _median(warm_rev, "cpu_ms"), 40, lambda value: f"{ms(value)} ms")
    for comparison in hooks["comparisons"] if hooks else []:
        hook = comparison["numerator"]
        limit(f"{hook}: ≤ +20 ms over `python -I -c pass`", comparison["cpu"]["median"], 20, lambda value: f"{signed(value)} ms")
    for operation, bound in (("merge", 1.5), ("commit", 2.0)):
        found = _comparison(at(f"git {operation}"), f"git {operation}: with migguard ÷ without")
        limit(f"`git {operation}` with migguard ≤ {bound}× plain git", _median(found, "cpu"), bound,
              lambda value: f"{value:.2f}×")
    incremental = _step(check, "check --rev (incremental: one new commit with a migration)")
    ratio = _comparison(check, "check --rev (incremental) ÷ check --rev (warm)")
    if incremental and ratio:
        value, times = incremental["cpu_ms"]["median"], ratio["cpu"]["median"]
        add("incremental `check --rev` ≤ 60 ms or ≤ 1.5× a warm one", f"{ms(value)} ms, {times:.2f}× warm", value <= 60 or times <= 1.5)
    else:
        add("incremental `check --rev` ≤ 60 ms or ≤ 1.5× a warm one", None, None)
    over_status = _comparison(check, "check (warm) over git status")
    limit("work-tree `check` (cached) ≤ 60 ms over `git status`", _median(over_status, "cpu"), 60,
          lambda value: f"{signed(value)} ms")
    for strategy in ("merge", "renumber"):
        found = _comparison(fix, f"fix {strategy} (cold) ÷ check (cold)")
        limit(f"`fix --strategy {strategy}` ≤ 2× a cold `check` of the same tree", _median(found, "cpu"), 2.0,
              lambda value: f"{value:.2f}×")
    add(*_fastest_django(check))
    showmigrations = _comparison(check, "Django showmigrations ÷ check (cold)")
    value = _median(showmigrations, "cpu")
    add("cold `check` ≥ 3× faster than `showmigrations`", None if value is None else f"{value:.1f}×",
        None if value is None else value >= 3)
    add(*_linear(results))
    add(*_same_path(groups_named(results, "formatting").get(size)))
    return rows


def _same_path(group: Result | None) -> tuple[str, str | None, bool | None]:
    """Issue 14, point 3: a cold `check` of black-formatted migrations against the same ones in makemigrations' style."""
    target = f"black-formatted migrations on the same path: cold `check` ÷ the same in makemigrations' style ≤ {SAME_PATH_BOUND}×"
    found = None if group is None else next((comparison for comparison in group["comparisons"]
                                             if comparison["label"].startswith("check (cold): ")), None)
    if found is None:
        return target, None, None
    value = found["cpu"]["median"]
    return target, f"{value:.2f}× ({found['cpu']['min']:.2f}–{found['cpu']['max']:.2f})", value <= SAME_PATH_BOUND


def _fastest_django(check: Result | None) -> tuple[str, str | None, bool | None]:
    """Per pair, Django's fastest command over the warm work-tree `check`; the median of those."""
    target = "≥ 20× Django's fastest command (against the warm work-tree `check`)"
    found = [comparison["cpu"]["values"] for comparison in (check or {}).get("comparisons", [])
             if comparison["label"].endswith("÷ check (warm)") and comparison["numerator"] != "check (incremental: one new migration)"]
    if not found:
        return target, None, None
    value = statistics.median(min(values) for values in zip(*found, strict=True))
    return target, f"{value:.1f}×", value >= 20


def _linear(results: Result) -> tuple[str, str | None, bool | None]:
    """A cold `check`'s CPU per migration (Python's start taken off) across sizes from 5,000 up: within 1.3× of each other."""
    target = "cold `check` linear (µs per migration within 1.3× from 5,000 up)"
    per_migration = {}
    for size, group in sorted(groups_named(results, "check").items()):
        cold, start = _step(group, "check (cold)"), _step(group, "python -I -c pass")
        if cold and start:
            per_migration[size] = (cold["cpu_ms"]["median"] - start["cpu_ms"]["median"]) * 1000 / size
    text = ", ".join(f"{value:.0f} µs at {size:,}" for size, value in per_migration.items())
    counted = [value for size, value in per_migration.items() if size >= 5000]
    if len(counted) < 2:
        return target, text or None, None
    return target, text, max(counted) <= 1.3 * min(counted)


def _sizes(sizes: list[int]) -> str:
    return ", ".join(f"{size:,}" for size in sizes) or "no size"


def _django_sizes(results: Result) -> list[int]:
    return [size for size, group in sorted(groups_named(results, "check").items()) if "Django showmigrations" in group["steps"]]


def header(results: Result) -> list[str]:
    """How the run was made: machine, installation, load, pairs."""
    machine, settings = results["machine"], results["settings"]
    packages = results["installed"]["packages"]
    install = ", ".join(f"{name} {found['version']} ({'editable' if found['editable'] else 'normal'} install)"
                        for name, found in packages.items())
    checkout = results["checkout"]
    lines = [
        f"Machine: {machine['cpus (nproc)']} CPUs ({machine['cpu model']}), {machine['system']}, "
        f"Python {results['installed']['python']}, {machine['git']}.",
        f"Installed in {'a fresh virtualenv made by this run' if results.get('fresh virtualenv') else 'a given virtualenv'}: "
        f"{install}; measured checkout: branch `{checkout['branch']}`, "
        f"commit {checkout['commit'][:10]}{' with uncommitted changes' if checkout['uncommitted changes'] else ''}.",
        f"Load average (1, 5, 15 min): {_load(results['load before'])} before, {_load(results.get('load after'))} after; "
        f"run took {results.get('seconds', 0) / 60:.0f} min.",
        f"Pairs: {settings['pairs']} per size up to {settings['large']:,} migrations, {settings['large pairs']} above. "
        "Each round runs every command of a table once, in the order listed; CPU time is user + sys of the whole process "
        "tree (`getrusage(RUSAGE_CHILDREN)` deltas); ratios and differences are computed pair by pair (same round), "
        "their median shown with the min–max.",
        f"Django's commands ran at {_sizes(_django_sizes(results))} migrations; the fix and git tables at "
        f"{_sizes(sorted(groups_named(results, 'fix')) or sorted(groups_named(results, 'git merge')))} migrations.",
        "",
    ]
    return lines


def markdown(results: Result) -> str:
    """Every table of the run, then the targets."""
    lines = header(results)
    for name in GROUP_ORDER:
        by_size = groups_named(results, name)
        if by_size:
            lines += group_table(name, by_size)
    lines += per_migration_table(results)
    return "\n".join(lines + target_table(results)) + "\n"


def target_table(results: Result) -> list[str]:
    rows = targets(results)
    lines = [f"**Failed** at {error['size']:,} migrations (that table is missing): {error['error']}" if error["size"]
             else f"**Failed** (that table is missing): {error['error']}" for error in results.get("errors", [])]
    lines += [f"### Targets (CPU time, at {target_size(results):,} migrations)", "", "| target | measured | met |", "|---|---|---|"]
    for row in rows:
        met = "—" if row["met"] is None else ("yes" if row["met"] else "**no**")
        lines.append(f"| {row['target']} | {row['measured']} | {met} |")
    return lines


def summary(results: Result) -> str:
    """The README's shorter form: medians only (CPU, and wall in brackets); the full tables give min–max."""
    lines = header(results)
    checks = groups_named(results, "check")
    if checks:
        sizes = sorted(checks)
        lines += ["| command: CPU ms median (wall) | " + " | ".join(f"{size:,}" for size in sizes) + " |",
                  "|---|" + "---|" * len(sizes)]
        for step in dict.fromkeys(step for size in sizes for step in checks[size]["steps"]):
            cells = [_median_cell(checks[size]["steps"].get(step)) for size in sizes]
            lines.append(f"| {step} | " + " | ".join(cells) + " |")
        lines.append("")
    size = target_size(results)
    hooks = groups_named(results, "hooks").get(size)
    if hooks:
        lines += [f"| hook with nothing to do, {size:,} migrations | CPU ms median (wall) | over Python's start (CPU, per pair) |",
                  "|---|---|---|"]
        over = {comparison["numerator"]: comparison for comparison in hooks["comparisons"]}
        for step, found in hooks["steps"].items():
            extra = comparison_cell(over[step]) if step in over else "—"
            lines.append(f"| {step} | {_median_cell(found)} | {extra} |")
        lines.append("")
    flows = [group for name in FLOWS for group in [groups_named(results, name).get(size)] if group]
    if flows:
        lines += [f"| {size:,} migrations | CPU ms median (wall) | ratio (CPU, per pair) |", "|---|---|---|"]
        for group in flows:
            lines += [f"| {step} | {_median_cell(found)} | |" for step, found in group["steps"].items()]
            lines += [f"| **{comparison['label']}** | | {comparison_cell(comparison)} |" for comparison in group["comparisons"]]
        lines.append("")
    formatting = [group for name in FORMATTING for _, group in sorted(groups_named(results, name).items())]
    if formatting:
        lines += ["| formatting: same migrations, another layout | ratio (CPU, per pair) |", "|---|---|"]
        lines += [f"| {comparison['label']}, {group['size']:,} migrations | {comparison_cell(comparison)} |"
                  for group in formatting for comparison in group["comparisons"]]
        lines.append("")
    lines += per_migration_table(results)
    return "\n".join(lines + target_table(results)) + "\n"


def _median_cell(step: Result | None) -> str:
    return "—" if step is None else f"{ms(step['cpu_ms']['median'])} ({ms(step['wall_ms']['median'])})"


def _load(load: Result | None) -> str:
    if not load:
        return "?"
    return f"{' / '.join(str(value) for value in load['load average'])} ({load['at']})"


def _pairwise(values: list[float], minus: list[float], scale: float) -> Result:
    """Round by round: (value − minus) × scale; min, median, max."""
    found = [(value - other) * scale for value, other in zip(values, minus, strict=True)]
    return {"min": min(found), "median": statistics.median(found), "max": max(found)}


def _range_cell(found: Result) -> str:
    return f"{found['median']:.0f} ({found['min']:.0f}–{found['max']:.0f})"


def per_migration(group: Result) -> list[Result]:
    """Per variant of a formatting group, CPU µs per migration (pair by pair): a cold `check` and a cold `check --rev`
    over Python's start, and cold − warm (what reading and parsing every file costs), also per 1,000 bytes of migrations."""
    steps = group["steps"]
    start = steps["python -I -c pass"]["cpu_ms"]["values"]
    rows = []
    for variant, facts in group["facts"]["variants"].items():
        def values(kind: str, variant: str = variant) -> list[float]:
            return [float(value) for value in steps[f"{kind} · {variant}"]["cpu_ms"]["values"]]

        migrations, size_bytes = facts["migrations"], facts["bytes"]
        cold, warm, rev = values("check (cold)"), values("check (warm)"), values("check --rev (cold)")
        rows.append({"group": group["group"], "variant": variant, "migrations": migrations, "bytes per migration": size_bytes / migrations,
                     "nodes per migration": facts.get("nodes", 0) / migrations,
                     "cold": _pairwise(cold, start, 1000 / migrations), "parse": _pairwise(cold, warm, 1000 / migrations),
                     "parse per 1000 bytes": _pairwise(cold, warm, 1000 * 1000 / size_bytes),
                     "rev cold": _pairwise(rev, start, 1000 / migrations)})
    return rows


def per_migration_table(results: Result) -> list[str]:
    """The formatting groups' figures per migration, generated projects and real files side by side."""
    rows = [row for name in FORMATTING for _, group in sorted(groups_named(results, name).items()) for row in per_migration(group)]
    if not rows:
        return []
    lines = ["### formatting: CPU µs per migration, median (min–max) over the pairs", "",
             "Computed round by round from the tables above. Over Python's start: what a cold run costs per migration, "
             "migguard's imports included (a larger share of a small repository's figure); cold − warm: what the caches save "
             "(reading and parsing every file, building the graph; the graph is the same in both repositories of a table, so "
             "a difference between them is the files' layout), also per 1,000 bytes of migration files.", "",
             "| migrations | variant | bytes, syntax tree nodes per migration | cold `check` over Python's start | cold − warm `check` "
             "(what the caches save) | cold − warm, per 1,000 bytes | cold `check --rev` over Python's start |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['migrations']:,} | {row['variant']} | {row['bytes per migration']:,.0f}, {row['nodes per migration']:,.0f} | "
                     f"{_range_cell(row['cold'])} | "
                     f"{_range_cell(row['parse'])} | {_range_cell(row['parse per 1000 bytes'])} | {_range_cell(row['rev cold'])} |")
    generated = [row for row in rows if row["group"] == FORMATTING[0] and row["variant"] == "black-formatted"]
    lines.append("")
    for real in (row for row in rows if row["group"] == FORMATTING[1]):
        if generated:
            lines.append(_real_against_generated(real, generated[-1]))
    return lines + [""]


def _real_against_generated(real: Result, generated: Result) -> str:
    """One sentence: a real set's cost per migration against the largest generated black-formatted project's (medians)."""
    per_file, per_byte = real["parse"]["median"], real["parse per 1000 bytes"]["median"]
    base_file, base_byte = generated["parse"]["median"], generated["parse per 1000 bytes"]["median"]
    nodes = real["nodes per migration"] / generated["nodes per migration"] if generated["nodes per migration"] else float("nan")
    return (f"- {real['variant']}: cold − warm {per_file:.0f} µs per migration, {per_file / base_file:.1f}× the generated "
            f"black-formatted project's {base_file:.0f} µs at {generated['migrations']:,} migrations; its files are "
            f"{real['bytes per migration'] / generated['bytes per migration']:.1f}× larger ({real['bytes per migration']:,.0f} "
            f"bytes against {generated['bytes per migration']:,.0f}) and hold {nodes:.1f}× the syntax tree nodes "
            f"({real['nodes per migration']:,.0f} against {generated['nodes per migration']:,.0f}); per 1,000 bytes "
            f"{per_byte / base_byte:.2f}× ({per_byte:.0f} µs against {base_byte:.0f}).")
