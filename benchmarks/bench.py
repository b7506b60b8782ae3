"""Measure migguard as users install it: a normal `pip install` of a checkout in a fresh virtualenv, paired runs.

    python benchmarks/bench.py [--checkout PATH] [--sizes 1000,5000,20000,100000] [--pairs 7]
                               [--groups check,django,hooks,fix,git,formatting] [--json out.json] [--markdown out.md]
    python benchmarks/bench.py --report out.json      # the markdown of an earlier run

For each size a project is generated (apps of 100 chained migrations, models and lock files in step, one git
commit, `migguard install`); each table's commands then run in turn, round after round, and the CPU time
(user + sys of the whole process tree) and wall time of each run are recorded. Quick run:
`--sizes 1000 --pairs 3`. The formatting group adds, per size, the same project with black-formatted migrations, and
once, wagtail's real black-formatted migrations (its wheel fetched by `pip download --no-deps`, cached).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import environment  # noqa: E402
from formatting import formatting_group, wagtail_group  # noqa: E402
from measure import CommandFailed, Group, group_result, run_group  # noqa: E402
from projects import environment as command_environment  # noqa: E402
from report import markdown, summary  # noqa: E402
from scenarios import Project, Tools, check_group, fix_group, git_groups, hook_group  # noqa: E402

GROUPS = ("check", "django", "hooks", "fix", "git", "formatting")
FORMATTING_MAX = 20_000  # black-formatted copies of larger projects add minutes and say nothing new
WAGTAIL_DIRECTORY = "wagtail"
CHECKOUT = Path(__file__).resolve().parent.parent


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--checkout", type=Path, default=CHECKOUT, help="The migguard checkout to install and measure.")
    parser.add_argument("--sizes", default="1000,5000,20000,100000", help="Migrations per generated project, comma-separated.")
    parser.add_argument("--pairs", type=int, default=7, help="Rounds per table (each command once per round).")
    parser.add_argument("--large", type=int, default=20000, help="Above this many migrations, use --large-pairs rounds.")
    parser.add_argument("--large-pairs", type=int, default=3)
    parser.add_argument("--groups", default=",".join(GROUPS), help=f"What to measure, among {', '.join(GROUPS)}.")
    parser.add_argument("--django-max", type=int, default=20000, help="Largest size Django's commands run at.")
    parser.add_argument("--flow-sizes", help="Sizes of the fix and git merge/rebase/commit/push tables "
                        "(default: 20,000, else the largest size up to 20,000).")
    parser.add_argument("--venv", type=Path, help="Use this virtualenv (created with a normal install when missing).")
    parser.add_argument("--work", type=Path, help="Where the projects are generated (default: a temporary directory).")
    parser.add_argument("--keep", action="store_true", help="Keep the generated projects and the virtualenv.")
    parser.add_argument("--json", type=Path, help="Write the results here (also written after each table).")
    parser.add_argument("--markdown", type=Path, help="Write the markdown here (it is printed too).")
    parser.add_argument("--report", type=Path, help="Only print the markdown of this JSON results file.")
    parser.add_argument("--summary", action="store_true", help="With --report: the README's shorter tables (medians).")
    parsed = parser.parse_args(argv)
    parsed.sizes = [int(size) for size in parsed.sizes.split(",") if size.strip()]
    if parsed.flow_sizes is None:
        small = [size for size in parsed.sizes if size <= 20000]
        parsed.flow_sizes = [20000] if 20000 in small else [max(small)] if small else []
    else:
        parsed.flow_sizes = [int(size) for size in parsed.flow_sizes.split(",") if size.strip()]
    parsed.groups = [name.strip() for name in parsed.groups.split(",") if name.strip()]
    unknown = set(parsed.groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s): {', '.join(sorted(unknown))}")
    if parsed.pairs < 1 or parsed.large_pairs < 1:
        parser.error("--pairs and --large-pairs must be at least 1")
    return parsed


def log(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


def groups_for(project: Project, size: int, options: argparse.Namespace, pairs: int) -> list[Any]:
    """Builders of the size's groups, in order (each builds its setup on the project as it is then)."""
    wanted = set(options.groups)
    django = "django" in wanted and size <= options.django_max
    builders: list[Any] = []
    if "check" in wanted or django:
        builders.append(lambda: [check_group(project, django)])
    if "hooks" in wanted:
        builders.append(lambda: [hook_group(project)])
    if "fix" in wanted and size in options.flow_sizes:
        builders.append(lambda: [fix_group(project, django)])
    if "git" in wanted and size in options.flow_sizes:
        builders.append(lambda: git_groups(project, pairs))
    if "formatting" in wanted and size <= FORMATTING_MAX:
        builders.append(lambda: [formatting_group(project)])
    return builders


def measure(options: argparse.Namespace, work: Path, results: dict[str, Any]) -> None:
    venv = options.venv or work / "venv"
    results["fresh virtualenv"] = not (venv / "bin" / "python").exists()
    if results["fresh virtualenv"]:
        environment.create(venv, options.checkout.resolve(), work, log)
    results["installed"] = installed = environment.installed(venv)
    needed = ["migguard"] + (["django", "django-linear-migrations"] if "django" in options.groups else [])
    missing = [name for name in needed if name not in installed["packages"]]
    if missing:
        raise SystemExit(f"bench: {venv} lacks {', '.join(missing)}")
    tools = Tools(venv, command_environment(work / "home", venv / "bin"))
    if "formatting" in options.groups:  # real files, whatever the sizes: once
        try:
            run_groups(lambda: [wagtail_group(tools, work / WAGTAIL_DIRECTORY)], 0, options.pairs, options, results)
        except (CommandFailed, RuntimeError) as error:
            log(f"FAILED on wagtail's migrations: {error}")
            results["errors"].append({"size": 0, "error": f"wagtail's migrations: {error}"})
            save(options, results)
    for size in options.sizes:
        pairs = options.pairs if size <= options.large else options.large_pairs
        started = time.monotonic()
        project = Project(tools, work / f"size-{size}", size)
        log(f"{size:,} migrations generated, committed and installed in {time.monotonic() - started:.0f} s")
        for build in groups_for(project, size, options, pairs):
            try:
                run_groups(build, size, pairs, options, results)
            except (CommandFailed, RuntimeError) as error:  # said in the results; the other tables still run
                log(f"FAILED at {size:,}: {error}")
                results["errors"].append({"size": size, "error": str(error)})
                save(options, results)


def run_groups(build: Any, size: int, pairs: int, options: argparse.Namespace, results: dict[str, Any]) -> None:
    started = time.monotonic()
    groups: list[Group] = build()
    size = groups[0].size if groups else size
    log(f"{', '.join(group.name for group in groups)} at {size:,}: set up in {time.monotonic() - started:.0f} s")
    for group in groups:
        samples = run_group(group, pairs, log)
        found = group_result(group, samples)
        found["seconds"] = round(time.monotonic() - started, 1)
        results["groups"].append(found)
        save(options, results)
        started = time.monotonic()


def save(options: argparse.Namespace, results: dict[str, Any]) -> None:
    """Write the JSON (after each table too: an interrupted run keeps what it measured, with the load then)."""
    results["load after"] = environment.load()
    results["seconds"] = round(time.time() - results["started"], 1)
    if options.json:
        options.json.write_text(json.dumps(results, indent=1) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    options = arguments(argv)
    if options.report:
        found = json.loads(options.report.read_text())
        print(summary(found) if options.summary else markdown(found), end="")
        return 0
    work = options.work or Path(tempfile.mkdtemp(prefix="migguard-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    made = [work / f"size-{size}" for size in options.sizes] + [work / WAGTAIL_DIRECTORY] * ("formatting" in options.groups)
    for directory in made:  # checked before anything runs: what is there already is never deleted
        if directory.exists():
            raise SystemExit(f"bench: {directory} exists already; give another --work directory")
    results: dict[str, Any] = {
        "machine": environment.machine(), "checkout": environment.checkout_state(options.checkout.resolve()),
        "settings": {"sizes": options.sizes, "pairs": options.pairs, "large": options.large, "large pairs": options.large_pairs,
                     "groups": options.groups, "django max": options.django_max, "flow sizes": options.flow_sizes},
        "load before": environment.load(), "started": time.time(), "groups": [], "errors": [],
    }
    try:
        measure(options, work, results)
    finally:
        save(options, results)
        if not options.keep:  # only now: deleting 100,000s of files takes minutes of disk time
            for directory in made:
                shutil.rmtree(directory, ignore_errors=True)
            if options.work is None:
                shutil.rmtree(work, ignore_errors=True)
    text = markdown(results)
    if options.markdown:
        options.markdown.write_text(text)
    print(text, end="")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
