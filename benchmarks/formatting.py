"""Does the layout of a migration change what `check` costs? Black-formatted migrations against the same ones as
`makemigrations` writes them (generated projects), and real black-formatted migrations (wagtail's, as shipped)
against the same modules without black's layout; `check` and `check --rev HEAD`, cold and warm, paired run by run."""
from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import real_migrations
from measure import Comparison, Group, Setup, Step
from projects import Migrations, git, init_repository, quiet_git
from scenarios import RACY_SECONDS, Project, Tools, drop_caches

MAKEMIGRATIONS = "makemigrations style"
BLACK = "black-formatted"
SHIPPED = "wagtail as shipped (black)"
UNPARSED = "wagtail via ast.unparse (no black)"
KINDS = ("check (cold)", "check (warm)", "check --rev (cold)", "check --rev (warm)")
INCREMENTAL = "check --rev (incremental: one new commit with a migration)"
GENERATED_GROUP = "formatting"
WAGTAIL_GROUP = "formatting: wagtail"


def step_name(kind: str, variant: str) -> str:
    return f"{kind} · {variant}"


def comparison_label(kind: str, variant: str, reference: str) -> str:
    return f"{kind}: {variant} ÷ {reference}"


@dataclass
class Variant:
    """One repository of the comparison: where it is, how to wait out racily clean files and drop its caches."""

    name: str
    root: Path
    env: Mapping[str, str]
    written: float = field(default_factory=time.time)
    commit_migration: Setup | None = None  # commits one new migration (for the incremental `check --rev`)

    def settle(self) -> None:
        time.sleep(max(0.0, self.written + RACY_SECONDS - time.time()))

    def drop_caches(self) -> None:
        drop_caches(self.root, self.env)

    def settle_and_drop_caches(self) -> None:
        self.settle()
        self.drop_caches()

    def prepare(self) -> None:
        """Untimed, once: wait out racily clean files, then let git refresh its index (`git status` rewrites it), so that
        no file is hashed again on every run because the index was written in the same second as the file."""
        self.settle()
        quiet_git(self.root, self.env, "status", "--porcelain")


Blocks = list[list[list[Step]]]  # block (kinds run back to back) → variant → its steps of the block


def alternating(start: Step, blocks: Blocks) -> Callable[[int], list[Step]]:
    """Python's start, then block by block each variant's steps of the block back to back (so a warm run directly
    follows its own cold run), the variants in the order listed in even rounds and reversed in odd ones: neither
    repository always runs first."""
    def order(round_index: int) -> list[Step]:
        found = [start]
        for block in blocks:
            for steps in (block if round_index % 2 == 0 else reversed(block)):
                found += steps
        return found
    return order


def check_steps(tools: Tools, start: Step, variants: list[Variant]) -> tuple[list[Step], list[Comparison], Callable[[int], list[Step]]]:
    """Every kind of `check` on every variant: cold then warm work-tree runs, cold then warm `--rev` runs, then the
    incremental `--rev` run when every variant can commit a migration; the comparisons: every other variant ÷ the
    first, kind by kind; and the order of each round (the steps are returned kind by kind, as the tables list them)."""
    check = [tools.migguard, "check"]
    rev = [*check, "--rev", "HEAD"]
    kinds = [list(KINDS[:2]), list(KINDS[2:])] + ([[INCREMENTAL]] if all(variant.commit_migration for variant in variants) else [])
    blocks: Blocks = []
    for block_kinds in kinds:
        block = []
        for variant in variants:
            steps = []
            for kind in block_kinds:
                before: Setup | None = None
                if kind == "check (cold)":
                    before = variant.settle_and_drop_caches
                elif kind == "check --rev (cold)":
                    before = variant.drop_caches
                elif kind == INCREMENTAL:
                    before = variant.commit_migration
                argv = rev if "--rev" in kind else check
                steps.append(Step(step_name(kind, variant.name), argv, variant.root, tools.env, before=before, warmups=0))
            block.append(steps)
        blocks.append(block)
    for variant in variants:
        variant.prepare()
    reference = variants[0].name
    comparisons = [Comparison(comparison_label(kind, variant.name, reference), step_name(kind, variant.name), step_name(kind, reference))
                   for block_kinds in kinds for kind in block_kinds for variant in variants[1:]]
    listed = {step.name: step for block in blocks for steps in block for step in steps}
    shown = [start] + [listed[step_name(kind, variant.name)] for block_kinds in kinds for kind in block_kinds for variant in variants]
    return shown, comparisons, alternating(start, blocks)


def committing(project: Project, variant: Variant) -> Setup:
    """Commit one new migration at the end of an app's chain, lock file in step, in the project's style."""
    incoming = Migrations(project.root, project.app(0), "incremental", project.style)

    def commit_migration() -> None:
        incoming.add()
        project.commit_all("one more migration")
        variant.written = time.time()
    return commit_migration


def generated_facts(project: Project) -> dict[str, int]:
    found = real_migrations.facts(project.root, [f"{app}/migrations" for app in project.apps])
    if found["migrations"] != project.size:
        raise RuntimeError(f"{project.root}: {found['migrations']} migrations, {project.size} expected")
    return found


def formatting_group(plain: Project) -> Group:
    """`check` on the generated project against the same migrations formatted by black, in a second repository."""
    black = Project(plain.tools, plain.directory / "black", plain.size, style="black")
    variants = []
    for project, name in ((plain, MAKEMIGRATIONS), (black, BLACK)):
        project.clean("bench-formatting", project.installed)  # the generated migrations, whatever earlier tables added
        variant = Variant(name, project.root, project.env)  # written: now (the checkout may have rewritten files)
        variant.commit_migration = committing(project, variant)
        variants.append(variant)
    steps, comparisons, order = check_steps(plain.tools, plain.python_start(warmups=0), variants)
    notes = [f"{MAKEMIGRATIONS}: the generated project (apps of 100 chained migrations as Django's `makemigrations` writes "
             f"them: single quotes, one keyword argument per line); {BLACK}: the same migrations as `black` formats them "
             "(double quotes, the initial migration's field tuple exploded one item per line, trailing commas), in a second "
             "repository; same apps, names, graph and lock files",
             "incremental: every round commits one new migration (new name, new bytes, each repository in its style) at "
             "the end of an app's chain, lock file in step, before `check --rev HEAD`",
             *common_notes()]
    facts = {"variants": {MAKEMIGRATIONS: generated_facts(plain), BLACK: generated_facts(black)}, "reference": MAKEMIGRATIONS}
    return Group(GENERATED_GROUP, plain.size, steps, comparisons, notes, facts, order)


def common_notes() -> list[str]:
    return ["each round: `check` cold then warm on one repository, then on the other; `check --rev HEAD` cold then warm "
            "on one, then on the other (then the incremental run on each, where listed); the repositories' order reversed "
            "every other round; cold: `<git dir>/migguard/` (every cache) deleted before the run; warm: the run right after "
            "the cold one (no warm-up round)",
            f"before the first round, {RACY_SECONDS} s or more after the repository's files were written, `git status` "
            "refreshed its index once (untimed), as any git command of a working day does"]


def leaves(tools: Tools, root: Path) -> dict[str, list[str]]:
    """Each app's migration package and leaves, as `check --format json` reports them (untimed; it must pass)."""
    done = subprocess.run([tools.migguard, "check", "--format", "json"], cwd=root, env=dict(tools.env), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"migguard check in {root} exited {done.returncode}: {(done.stderr or done.stdout).strip()[-1000:]}")
    return {app["path"]: app["leaves"] for app in json.loads(done.stdout)["apps"]}


def commit_all(tools: Tools, root: Path, message: str) -> None:
    git(root, tools.env, "add", "-A")
    quiet_git(root, tools.env, "commit", "-qm", message)


def real_repository(tools: Tools, root: Path, unformatted: bool) -> tuple[dict[str, int], dict[str, list[str]]]:
    """wagtail's migration packages in a git repository, lock files written by `migguard lock`, migguard installed;
    with `unformatted`, its migrations then rewritten by `ast.unparse`. Returns its facts and each app's leaves."""
    root.mkdir(parents=True)
    real_migrations.extract_migration_packages(real_migrations.wagtail_wheel(tools.python), root)
    init_repository(root, tools.env)
    tools.call(root, "lock")
    tools.call(root, "install")
    commit_all(tools, root, "lock files, migguard install")
    found = leaves(tools, root)
    if unformatted:
        real_migrations.unformat(root, sorted(found))
        commit_all(tools, root, "migrations rewritten by ast.unparse")
        if leaves(tools, root) != found:
            raise RuntimeError(f"{root}: the leaves changed when the migrations were rewritten by ast.unparse")
    return real_migrations.facts(root, sorted(found)), found


def wagtail_group(tools: Tools, directory: Path) -> Group:
    """`check` on wagtail's migrations written by `ast.unparse` against the same, black-formatted, as shipped."""
    facts: dict[str, Any] = {"variants": {}, "reference": UNPARSED, "wagtail": real_migrations.WAGTAIL}
    variants, graphs = [], []
    for name, unformatted in ((UNPARSED, True), (SHIPPED, False)):
        root = directory / ("unparsed" if unformatted else "shipped")
        facts["variants"][name], graph = real_repository(tools, root, unformatted)
        graphs.append(graph)
        variants.append(Variant(name, root, tools.env))
    if graphs[0] != graphs[1]:
        raise RuntimeError("wagtail's migrations: the two repositories have different leaves")
    size = facts["variants"][SHIPPED]["migrations"]
    start = Step("python -I -c pass", [tools.python, "-I", "-c", "pass"], directory, tools.env, warmups=0)
    steps, comparisons, order = check_steps(tools, start, variants)
    shipped = facts["variants"][SHIPPED]
    notes = [f"wagtail {real_migrations.WAGTAIL}'s wheel (`pip download --no-deps`, cached): its {shipped['migrations']} "
             f"migrations in {shipped['apps']} apps, black-formatted as its project formats them ({SHIPPED}), each app's "
             "`__init__.py` and `apps.py` (the label), lock files written by `migguard lock`, one commit",
             f"{UNPARSED}: the same modules rewritten by `ast.unparse` (single quotes, each statement on one line, no trailing "
             "commas, comments dropped): the same content and graph without black's layout, in a second repository",
             *common_notes()]
    return Group(WAGTAIL_GROUP, size, steps, comparisons, notes, facts, order)
