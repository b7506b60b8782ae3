"""The command line: a thin click layer over functions that take and return plain values."""
from __future__ import annotations

import os
import sys
from typing import NoReturn

import click

from migguard import checking
from migguard.django.cli import db as db_commands
from migguard.errors import InputError

FORMAT = click.Choice(["github", "json", "text"])
QUIET_ENV = "MIGGUARD_QUIET"


def quiet() -> bool:
    """`--quiet` (or MIGGUARD_QUIET=1, which hooks inherit): only problems are printed."""
    return os.environ.get(QUIET_ENV, "") not in ("", "0")


def colour() -> bool | None:
    """NO_COLOR turns colour off, FORCE_COLOR on; otherwise click decides (a terminal, not a pipe)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return None


STYLES = {"error:": "red", "warning:": "yellow", "ok:": "green", "refusing": "red", "skipped": "yellow"}


def say(line: str = "", problem: bool = False, err: bool = False) -> None:
    """One line of output; under --quiet only problems. Known prefixes are coloured on a terminal."""
    if quiet() and not problem:
        return
    for prefix, colour_name in STYLES.items():
        if line.startswith(prefix):
            line = click.style(prefix, fg=colour_name, bold=True) + line[len(prefix):]
            break
    click.echo(line, err=err, color=colour())


def fail(message: str, status: int = 2) -> NoReturn:
    click.echo(f"{click.style('migguard:', fg='red', bold=True)} {message}", err=True, color=colour())
    sys.exit(status)


def root_or_fail() -> str:
    """The repository's top; outside git: one sentence and exit 2, before anything is read."""
    try:
        return str(checking.repository_root("."))
    except InputError as error:
        fail(str(error))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "-V", "--version", package_name="migguard")
@click.option("-q", "--quiet", "quiet_flag", is_flag=True,
              help=f"Print only problems (also {QUIET_ENV}=1, which the git hooks honour).")
def cli(quiet_flag: bool) -> None:
    """Keep every Django app's migration graph at one leaf across git merge, rebase and push."""
    if quiet_flag:
        os.environ[QUIET_ENV] = "1"


@cli.command()
@click.argument("path", required=False, type=click.Path(file_okay=False))
@click.option("--rev", help="Check this commit from git objects instead of the work tree.")
@click.option("--format", "output", type=FORMAT, default="text", show_default=True)
@click.option("--pre-commit-ref", is_flag=True, hidden=True,
              help="Check the commit the pre-commit framework is pushing ($PRE_COMMIT_TO_REF), else HEAD.")
def check(path: str | None, rev: str | None, output: str, pre_commit_ref: bool) -> None:
    """Report each app's leaves and lock file. Exit 0 ok, 1 problems, 2 cannot read.

    Without PATH, the whole repository; outside git, PATH is required. Paths in the output
    are relative to the repository's top (to PATH outside git)."""
    if pre_commit_ref:
        rev = os.environ.get("PRE_COMMIT_TO_REF") or os.environ.get("PRE_COMMIT_LOCAL_BRANCH") or "HEAD"
    try:
        result = checking.check(path, rev)
    except InputError as error:
        fail(str(error))
    from migguard import report

    if output == "text":
        lines = report.as_text(result).splitlines()
        for line in lines[:-1]:
            say(line, problem=line.startswith("error:"))
        say(lines[-1], problem=not result["ok"])
    else:
        click.echo(report.FORMATS[output](result))
    sys.exit(0 if result["ok"] else 1)


@cli.command()
@click.option("--check", "check_only", is_flag=True, help="Only report lock files that are not in step.")
@click.option("--exit-non-zero-on-write", "fail_on_write", is_flag=True,
              help="Exit 1 after writing a lock file, so a pre-commit hook stops and the file gets staged.")
def lock(check_only: bool, fail_on_write: bool) -> None:
    """Write max_migration.txt (the app's one leaf) for every app."""
    from migguard.monorepo import qualified
    from migguard.project import load_projects

    root = root_or_fail()
    try:
        projects = load_projects(root)
    except InputError as error:
        fail(str(error))
    verb = "would write" if check_only else "wrote"
    changed = blocked = False
    for project in projects:
        try:
            changes = checking.write_locks(project, check_only=check_only)
        except InputError as error:
            fail(str(error), 1)
        for path, before, leaf in changes:
            say(f"{verb} {path}: {leaf} (was {before})", problem=check_only)
        for label in sorted(project.conflicts()):
            say(f"skipped {qualified(project.scope, label)}: several leaves ({', '.join(project.leaves(label))}); "
                f"run `migguard fix`", problem=True)
            blocked = True
        changed |= bool(changes)
    if not changed and not blocked:
        count = sum(len(project.apps) for project in projects)
        say(f"lock files in step for {count} app{'s' if count != 1 else ''}.")
    if fail_on_write and changed and not check_only:
        say("lock files written: stage them (git add) and commit again.", problem=True)
    sys.exit(1 if ((check_only or fail_on_write) and changed) or blocked else 0)


@cli.command()
@click.argument("label")
@click.option("--format", "output", type=click.Choice(["text", "dot"]), default="text", show_default=True)
@click.option("--project", "scope", metavar="FOLDER", help="In a monorepo: the project folder holding the app.")
def graph(label: str, output: str, scope: str | None) -> None:
    """Show one app's migrations, parents first."""
    from migguard import graph as graph_module
    from migguard.project import load_projects

    root = root_or_fail()
    try:
        projects = load_projects(root)
    except InputError as error:
        fail(str(error))
    if scope is not None:
        projects = [project for project in projects if project.scope == scope.strip("/")]
        if not projects:
            fail(f"no project {scope!r} in the `projects` of the configuration.")
    holding = [project for project in projects if label in project.apps]
    if not holding:
        known = sorted({app for project in projects for app in project.apps})
        fail(f"no app {label!r} with migrations here (apps: {', '.join(known) or 'none'}).")
    if len(holding) > 1:
        fail(f"app {label!r} is in several projects ({', '.join(p.scope for p in holding)}); "
             f"name one with --project FOLDER.")
    project = holding[0]
    nodes = set(project.graph.app_nodes(label))
    leaves = set(project.graph.leaf_nodes(label))
    if output == "dot":
        click.echo(f'digraph "{label}" {{')
        for key in sorted(nodes):
            for parent in sorted(project.graph.parents[key]):
                click.echo(f'  "{parent[0]}.{parent[1]}" -> "{key[0]}.{key[1]}";')
        click.echo("}")
        return
    try:
        ordered = graph_module.topological(project.graph, nodes)
    except graph_module.CycleError as error:
        fail(f"cannot put app {label!r} in order: {error}.", 1)
    for key in ordered:
        parents = ", ".join(p[1] if p[0] == label else f"{p[0]}.{p[1]}" for p in sorted(project.graph.parents[key]))
        click.echo(f"{key[1]}{'  (leaf)' if key in leaves else ''}{'  <- ' + parents if parents else ''}")


@cli.command()
@click.option("--strategy", type=click.Choice(["merge", "renumber"]), help="Default: merge_strategy from the configuration (merge).")
@click.option("--app", "apps", multiple=True, metavar="LABEL", help="Only this app (repeatable).")
@click.option("--onto", metavar="REF", help="For renumber: the upstream whose leaf the branch moves after "
              "(default: the branch's upstream, else the remote's default branch).")
@click.option("--dry-run", is_flag=True, help="Print the diff and change nothing.")
@click.option("--force", is_flag=True, help="Resolve even where both sides change the same field or model.")
def fix(strategy: str | None, apps: tuple[str, ...], onto: str | None, dry_run: bool, force: bool) -> None:
    """Resolve apps with several leaves: a merge migration, or the branch renumbered after upstream."""
    from migguard import fixing, resolve

    root = root_or_fail()
    try:
        result = fixing.fix_projects(root, strategy, list(apps), onto, dry_run=dry_run, force=force)
    except InputError as error:
        fail(str(error))
    for line in result.lines:
        say(line, problem=" not resolved" in line or line.startswith("  "))
    if dry_run and result.plans:
        click.echo(resolve.diff(result.plans), nl=False)
    sys.exit(result.status)


@cli.command()
@click.option("--server", is_flag=True, help="In a bare repository: install the pre-receive gate.")
def install(server: bool) -> None:
    """Set up the merge driver, .gitattributes, hooks and lock files in this repository."""
    from migguard.installer.install import install as run_install

    try:
        lines = run_install(".", server=server)
    except InputError as error:
        fail(str(error))
    for line in lines:
        say(line)


@cli.command()
def uninstall() -> None:
    """Remove everything `install` set up; earlier hooks are restored."""
    from migguard.installer.install import uninstall as run_uninstall

    try:
        lines = run_uninstall(".")
    except InputError as error:
        fail(str(error))
    for line in lines:
        say(line)


@cli.command()
def status() -> None:
    """Say what is installed and what is missing (exit 1 when something is missing)."""
    from migguard.installer.install import status as run_status

    try:
        complete, lines = run_status(".")
    except InputError as error:
        fail(str(error))
    for line in lines:
        say(line, problem=line.endswith("missing") or "missing the" in line)
    sys.exit(0 if complete else 1)


@cli.group()
def ci() -> None:
    """For CI: the gate with annotations, and resolving a pull request's migration conflicts."""


@ci.command("check")
@click.option("--rev", default="HEAD", show_default=True, help="The commit to check (from git objects).")
@click.option("--format", "output", type=FORMAT, default=None,
              help="Default: github inside GitHub Actions (annotations), else text.")
def ci_check(rev: str, output: str | None) -> None:
    """The push gate for CI: every app one leaf, lock files in step. Exit 0 ok, 1 problems, 2 cannot run."""
    from migguard import report

    try:
        result = checking.check_revision(".", rev, under="")
    except InputError as error:
        fail(str(error))
    output = output or ("github" if os.environ.get("GITHUB_ACTIONS") == "true" else "text")
    click.echo(report.FORMATS[output](result))
    sys.exit(0 if result["ok"] else 1)


@ci.command("resolve")
@click.option("--base", required=True, metavar="REF", help="The pull request's base (e.g. origin/main).")
@click.option("--push", "push_to", is_flag=True, help="Push the merge commit to the branch's upstream.")
@click.option("--remote", default="origin", show_default=True, help="Where --push pushes.")
@click.option("--branch", metavar="NAME", help="The branch to push to (default: the checked-out branch).")
def ci_resolve(base: str, push_to: bool, remote: str, branch: str | None) -> None:
    """Merge REF into the checked-out branch, resolving migration and lock-file conflicts the way the
    hooks do, and commit. Exit 0 resolved or nothing to do, 1 cannot resolve (the conflicting files
    are named), 2 cannot run."""
    root = root_or_fail()
    from migguard import ci as ci_module

    try:
        outcome = ci_module.resolve_base(root, base, push=push_to, remote=remote, branch=branch)
    except InputError as error:
        fail(str(error))
    for line in outcome.lines:
        say(line, problem=outcome.status != 0)
    sys.exit(outcome.status)


@cli.command("merge-driver", hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def merge_driver(arguments: tuple[str, ...]) -> None:
    """Called by git: merge a lock file (O A B P)."""
    from migguard.mergedriver.driver import main as driver_main

    sys.exit(driver_main(list(arguments)))


@cli.command("hook", hidden=True, context_settings={"ignore_unknown_options": True})
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def hook(arguments: tuple[str, ...]) -> None:
    """Called by the hook shims: hook NAME [ARGS]."""
    from migguard.hooks.runner import main as hook_main

    sys.exit(hook_main(list(arguments)))


@cli.command()
@click.option("--keep", metavar="DIR", help="Build the demo repository in DIR and keep it.")
def demo(keep: str | None) -> None:
    """Replay the seed story (merge, rebase, push) in a throwaway repository."""
    from migguard.demo import run_demo

    sys.exit(run_demo(keep, click.echo))


cli.add_command(db_commands)
