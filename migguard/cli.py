"""The command line: a thin click layer over functions that take and return plain values."""
from __future__ import annotations

import sys

import click

from migguard import checking
from migguard.errors import InputError

FORMAT = click.Choice(["github", "json", "text"])


def fail(message: str, status: int = 2) -> None:
    click.echo(f"migguard: {message}", err=True)
    sys.exit(status)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="migguard")
def cli() -> None:
    """Keep every Django app's migration graph at one leaf across git merge, rebase and push."""


@cli.command()
@click.argument("path", required=False, type=click.Path(file_okay=False))
@click.option("--rev", help="Check this commit from git objects instead of the work tree.")
@click.option("--format", "output", type=FORMAT, default="text", show_default=True)
def check(path: str | None, rev: str | None, output: str) -> None:
    """Report each app's leaves and lock file. Exit 0 ok, 1 problems, 2 cannot read."""
    try:
        result = checking.check_revision(path or ".", rev, under=None if path else "") if rev else checking.check_worktree(path)
    except InputError as error:
        fail(str(error))
    from migguard import report

    click.echo(report.FORMATS[output](result))
    sys.exit(0 if result["ok"] else 1)


@cli.command()
@click.option("--check", "check_only", is_flag=True, help="Only report lock files that are not in step.")
def lock(check_only: bool) -> None:
    """Write max_migration.txt (the app's one leaf) for every app."""
    from migguard.project import load_worktree

    try:
        project = load_worktree(checking.repository_root("."))
    except InputError as error:
        fail(str(error))
    try:
        changes = checking.write_locks(project, check_only=check_only)
    except InputError as error:
        fail(str(error), 1)
    verb = "would write" if check_only else "wrote"
    for path, before, leaf in changes:
        click.echo(f"{verb} {path}: {leaf} (was {before})")
    blocked = sorted(project.conflicts())
    for label in blocked:
        click.echo(f"skipped {label}: several leaves ({', '.join(project.leaves(label))}); run `migguard fix`")
    if not changes and not blocked:
        click.echo(f"lock files in step for {len(project.apps)} apps.")
    sys.exit(1 if (check_only and changes) or blocked else 0)


@cli.command()
@click.argument("label")
@click.option("--format", "output", type=click.Choice(["text", "dot"]), default="text", show_default=True)
def graph(label: str, output: str) -> None:
    """Show one app's migrations, parents first."""
    from migguard import graph as graph_module
    from migguard.project import load_worktree

    try:
        project = load_worktree(checking.repository_root("."))
    except InputError as error:
        fail(str(error))
    if label not in project.apps:
        fail(f"no app {label!r} with migrations here (apps: {', '.join(sorted(project.apps)) or 'none'}).")
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
    from migguard.project import load_worktree

    root = str(checking.repository_root("."))
    try:
        project = load_worktree(root, full=True)
        strategy = strategy or project.config.merge_strategy
        upstream = None
        if strategy == "renumber":
            ref = onto or fixing.default_upstream(root)
            if ref is None:
                fail("cannot tell which side is upstream: pass --onto REF (the branch you rebase onto).")
            upstream = fixing.upstream_leaves(root, ref)
        result = fixing.fix(root, strategy, list(apps), upstream, dry_run=dry_run, force=force, project=project)
    except InputError as error:
        fail(str(error))
    for line in result.lines:
        click.echo(line)
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
        click.echo(line)


@cli.command()
def uninstall() -> None:
    """Remove everything `install` set up; earlier hooks are restored."""
    from migguard.installer.install import uninstall as run_uninstall

    try:
        lines = run_uninstall(".")
    except InputError as error:
        fail(str(error))
    for line in lines:
        click.echo(line)


@cli.command()
def status() -> None:
    """Say what is installed and what is missing (exit 1 when something is missing)."""
    from migguard.installer.install import status as run_status

    try:
        complete, lines = run_status(".")
    except InputError as error:
        fail(str(error))
    for line in lines:
        click.echo(line)
    sys.exit(0 if complete else 1)


@cli.command("merge-driver", context_settings={"ignore_unknown_options": True})
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def merge_driver(arguments: tuple[str, ...]) -> None:
    """Called by git: merge a lock file (O A B P)."""
    from migguard.mergedriver.driver import main as driver_main

    sys.exit(driver_main(list(arguments)))


@cli.command("hook", context_settings={"ignore_unknown_options": True})
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
