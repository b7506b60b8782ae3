"""post-rewrite after a rebase: renumber the branch's migrations and fold each rename into the
rebased commit that introduced the migration, so every commit of the branch has one leaf per app.

The rebased commits are unpublished by construction (a commit on a remote-tracking branch is
never rewritten). Each is copied with `commit-tree` (same author, committer, dates and message;
signed when the user's commits are), parents mapped, and the branch moved with one `update-ref`:
the reflog shows `rebase (finish)` and then `migguard: ...`; `ORIG_HEAD` stays the tip before the
rebase, so `git reset --hard ORIG_HEAD` still undoes the whole rebase.

An `--autostash` is re-applied by git after this hook: the stashed edits to a renamed migration
are carried to its new name, or the app gets a merge migration instead of a rename."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from migguard import gitio, lockfile
from migguard.config import load_directory
from migguard.discovery import touches_migrations

if TYPE_CHECKING:  # libcst comes with resolve and rewrite: imported only once there is something to rewrite
    from migguard.project import Project
    from migguard.resolve import Plan, Renumbering


class FoldError(Exception):
    """The renames cannot be folded into the rebased commits; the message says why."""


class Packages(NamedTuple):
    """Where each app's migrations live, and the lock file name ('' when lock files are off)."""

    paths: dict[str, str]
    lockfile: str
    create_locks: frozenset[str] = frozenset()

    def label_of(self, folder: str) -> str | None:
        return next((label for label, path in self.paths.items() if path == folder), None)


def post_rewrite(arguments: list[str], root: str, stdin: str) -> int:
    """`git rebase` (and `git pull --rebase`) finished: resolve, then fold into the rebased commits.

    Needs no stdin: the rebased commits are `onto..HEAD` (behind the pre-commit framework the
    hook gets none)."""
    from migguard.hooks.runner import changed_paths, resolve, say

    if arguments[:1] != ["rebase"]:
        return 0
    onto = rebase_onto(root)
    if onto is None:
        say("could not tell what the rebase was onto; run `migguard check`, then `migguard fix --onto REF`.")
        return 0
    config = load_directory(root)
    if not touches_migrations(changed_paths(root, onto, "HEAD"), config):
        return 0
    result = resolve(root, config.rebase_strategy, onto, committed=True,
                     decide=lambda project, plans: decide_renames(root, project, plans))
    if result is None or not result.paths:
        return 0
    from migguard.hooks.commits import SigningError
    from migguard.resolve import Renumbering

    short = gitio.text(["rev-parse", "--short", onto], root)
    renumbering = Renumbering([plan.move for plan in result.plans if plan.move is not None])
    try:
        record(root, onto, short, result.plans, result.paths)
    except SigningError as error:
        say(f"could not sign the commits it would write ({error}); nothing was committed: the resolution is "
            f"staged, commit it with `git commit`")
    finally:
        carry_autostash(root, renumbering, _packages(root))
    if renumbering.renames:
        from migguard.django.hook import bring_along

        bring_along(root, say)  # the local databases that applied a renamed migration (issue 9)
    return 0


def record(root: str, onto: str, short: str, plans: list[Plan], paths: list[str]) -> None:
    """Fold the renumbering into the rebased commits (else one commit on top), then the merge migrations on top."""
    from migguard.hooks.commits import commit_on_top, signing_wanted, tree_with
    from migguard.hooks.runner import say
    from migguard.resolve import Renumbering

    renumbered = [plan for plan in plans if plan.move is not None]
    merged = [plan for plan in plans if plan.move is None]
    renumber_paths = sorted({p for plan in renumbered for c in plan.changes for p in (c.path, c.old_path) if p})
    new_locks = frozenset(plan.app for plan in renumbered for c in plan.changes
                          if c.before is None and c.path.rsplit("/", 1)[-1] == _lock_name(root))
    packages = _renumbered_packages(root, renumbered)
    if packages is not None:
        packages = packages._replace(create_locks=new_locks)
    renumbering = Renumbering([plan.move for plan in renumbered])  # type: ignore[misc]
    if renumbered:
        try:
            if packages is None:
                raise FoldError("apps of several projects of the monorepo were renumbered at once")
            old = gitio.text(["rev-parse", "HEAD"], root)
            new = fold(root, onto, renumbering, packages, signing_wanted(root))
            if gitio.text(["rev-parse", f"{new}^{{tree}}"], root) != tree_with(root, renumber_paths):
                raise FoldError("the rebased commits do not add up to the resolved work tree")
            gitio.run(["update-ref", "-m", "migguard: renumbered migrations folded into the rebased commits",
                       "HEAD", new, old], root)
            for plan in renumbered:
                say(f"{plan.summary}; folded into the rebased commits (each has one leaf; ORIG_HEAD is the branch before the rebase)")
        except FoldError as error:
            new = commit_on_top(root, renumber_paths, f"Renumber migrations after rebase onto {short}\n\n"
                                f"Not folded into the rebased commits: {error}.")
            for plan in renumbered:
                say(f"{plan.summary}; in commit {new[:10]} (not folded into the rebased commits: {error})")
    if merged:
        merge_paths = sorted(set(paths) - set(renumber_paths))
        reasons = [f"{plan.app}: not renumbered: {plan.not_renumbered}" for plan in merged if plan.not_renumbered]
        body = "\n\n" + "\n".join(reasons) if reasons else ""
        new = commit_on_top(root, merge_paths, f"Merge migrations after rebase onto {short}{body}")
        for plan in merged:
            say(f"{plan.summary}; in commit {new[:10]}")


def _lock_name(root: str) -> str:
    return load_directory(root).lockfile or "\0"


def decide_renames(root: str, project: Project, plans: list[Plan]) -> list[Plan]:
    """The one place where the migrations about to be renamed are known (`plan.move.renames`) and
    each app can still get a merge migration instead (`fixing.merge_instead`).

    Asked in turn: the local databases (`migguard.django.hook.before_renaming`: an app applied on a
    database that cannot be brought along is merged instead), then an `--autostash` holding an edit
    to a migration about to be renamed (it must follow the rename, else the app is merged)."""
    from migguard.fixing import merge_instead
    from migguard.hooks.runner import own_line, say
    from migguard.resolve import Renumbering

    renaming = [plan for plan in plans if plan.move is not None and plan.renames]
    if not renaming:
        return plans
    own_line()
    from migguard.django.hook import before_renaming

    refused = before_renaming(root, renaming, say)  # asks the databases (issue 9)
    plans = [merge_instead(project, plan, refused[plan.app]) if plan.app in refused and plan.move else plan
             for plan in plans]
    moves = [plan.move for plan in plans if plan.move is not None]
    stash = _autostash(root)
    if not moves or stash is None:
        return plans
    try:
        rewrite_stash(root, stash[1], Renumbering(moves), _packages(root, project))
        return plans
    except FoldError as error:
        decided = []
        for plan in plans:
            if plan.move is None:
                decided.append(plan)
                continue
            reason = f"your uncommitted edit (stashed by --autostash) could not follow the rename: {error}"
            say(f"{plan.app}: not renumbered: {reason}; writing a merge migration instead")
            decided.append(merge_instead(project, plan, reason))
        return decided


def rebase_onto(root: str) -> str | None:
    """The commit a rebase replayed onto: git's state file, else the reflog.

    Needs no stdin: behind the pre-commit framework, post-rewrite gets none."""
    from migguard.hooks.runner import state_paths

    for state in state_paths(root, "rebase-merge/onto", "rebase-apply/onto"):
        if state.exists():
            return state.read_text().strip()
    for line in gitio.text(["reflog", "-n", "200", "--format=%H %gs", "HEAD"], root).splitlines():
        sha, _, subject = line.partition(" ")
        if subject.startswith(("rebase (start): checkout ", "rebase: checkout ")):
            return sha
    return None


def _renumbered_packages(root: str, plans: list[Plan]) -> Packages | None:
    """Where the renumbered apps live: the repository's packages, or in a monorepo (`projects`) those
    of the one project the plans renumber; None when they renumber apps of several projects."""
    projects = load_directory(root).projects
    if not projects:
        return _packages(root)
    from migguard import monorepo
    from migguard.project import load_worktree

    scopes = {monorepo.owner(change.path, projects) for plan in plans for change in plan.changes}
    if len(scopes) != 1 or None in scopes:
        return None
    return _packages(root, load_worktree(root, scope=scopes.pop()))


def _packages(root: str, project: Project | None = None) -> Packages:
    if project is None:
        from migguard.project import load_worktree

        project = load_worktree(root)
    return Packages({label: app.path for label, app in project.apps.items()}, project.config.lockfile or "")


def fold(root: str, onto: str, renumbering: Renumbering, packages: Packages, sign: bool) -> str:
    """Copy every commit of `onto..HEAD` with the renames applied to its tree; the new tip (no ref moved)."""
    from migguard.hooks.commits import copy_commit, read_commit

    listing = gitio.text(["rev-list", "--reverse", "--topo-order", "--parents", f"{onto}..HEAD"], root).splitlines()
    unpublished = set(gitio.text(["rev-list", f"{onto}..HEAD", "--not", "--remotes"], root).split())
    transform = TreeTransform(root, renumbering, packages)
    mapping: dict[str, str] = {}
    head = ""
    for line in listing:
        sha, *parents = line.split()
        head = sha
        info = read_commit(root, sha)
        new_parents = [mapping.get(parent, parent) for parent in parents]
        tree = transform.tree(info.tree, locks=True)
        if tree == info.tree and new_parents == parents:
            mapping[sha] = sha
            continue
        if sha not in unpublished:
            raise FoldError(f"commit {sha[:10]} is on a remote branch")
        mapping[sha] = copy_commit(root, info, tree, new_parents, sign)
    if not head:
        raise FoldError("the rebase rewrote no commit")
    return mapping[head]


def _autostash(root: str) -> tuple[Path, str] | None:
    """git's autostash of the rebase in progress: (its state file, the stash commit)."""
    from migguard.hooks.runner import state_paths

    for state in state_paths(root, "rebase-merge/autostash", "rebase-apply/autostash"):
        if state.exists():
            return state, state.read_text().strip()
    return None


def carry_autostash(root: str, renumbering: Renumbering, packages: Packages) -> None:
    """Point git's autostash at a copy whose edits sit in the renamed files (git applies it after this hook)."""
    from migguard.hooks.runner import say

    found = _autostash(root)
    if found is None or not renumbering.renames:
        return
    state, stash = found
    try:
        new = rewrite_stash(root, stash, renumbering, packages)
    except FoldError as error:
        say(f"your stashed edits stay as git saved them ({error}); check the renamed migrations after git applies them")
        return
    if new != stash:
        state.write_text(new + "\n")
        edited = set(gitio.text(["diff", "--name-only", "--no-renames", f"{stash}^1", stash], root).split("\n"))
        moved = [f"{packages.paths[key[0]]}/{key[1]}.py -> {name}.py".lstrip("/")
                 for key, name in sorted(renumbering.renames.items())
                 if f"{packages.paths[key[0]]}/{key[1]}.py".lstrip("/") in edited]
        if moved:
            say(f"your uncommitted edits follow the renamed migrations ({', '.join(moved)}); "
                f"the stash as git saved it is {stash[:10]}")


def rewrite_stash(root: str, stash: str, renumbering: Renumbering, packages: Packages) -> str:
    """A copy of stash commit `stash` (and its base and index commits) with the renames applied."""
    from migguard.hooks.commits import copy_commit, read_commit

    info = read_commit(root, stash)
    if len(info.parents) < 2:
        raise FoldError("the autostash is not a stash commit")
    edited = {path for parent in info.parents[1:2] + [stash] for path in
              gitio.text(["diff", "--name-only", "--no-renames", info.parents[0], parent], root).splitlines()}
    folders = set(packages.paths.values())
    if not any(path.rpartition("/")[0] in folders and path.endswith(".py") for path in edited):
        return stash  # no stashed edit to a migration: nothing can land in the wrong file
    transform = TreeTransform(root, renumbering, packages)
    base_info, index_info = read_commit(root, info.parents[0]), read_commit(root, info.parents[1])
    trees = [transform.tree(i.tree, locks=False) for i in (base_info, index_info, info)]
    if trees == [base_info.tree, index_info.tree, info.tree]:
        return stash
    base = copy_commit(root, base_info, trees[0], base_info.parents, sign=False)
    index = copy_commit(root, index_info._replace(signed=False), trees[1], [base], sign=False)
    return copy_commit(root, info._replace(signed=False), trees[2], [base, index, *info.parents[2:]], sign=False)


class TreeTransform:
    """A tree with every migration rewritten by the renumbering (and lock files naming the app's leaf)."""

    def __init__(self, root: str, renumbering: Renumbering, packages: Packages) -> None:
        self.root = root
        self.renumbering = renumbering
        self.packages = packages
        self.texts: dict[str, str] = {}
        self.blobs: dict[str, str] = {}
        self.trees: dict[tuple[str, bool], str] = {}

    def tree(self, tree: str, locks: bool) -> str:
        if (tree, locks) in self.trees:
            return self.trees[(tree, locks)]
        folders = sorted(set(self.packages.paths.values()))
        entries = _ls_tree(self.root, tree, [] if "" in folders else folders)
        by_folder: dict[str, dict[str, gitio.TreeEntry]] = {}
        for entry in entries:
            folder, _, file = entry.path.rpartition("/")
            if folder in folders and entry.kind == "blob":
                by_folder.setdefault(folder, {})[file] = entry
        self._read([entry.oid for files in by_folder.values() for file, entry in files.items() if file.endswith(".py")])
        removals: list[str] = []
        additions: dict[str, tuple[str, str]] = {}
        for folder, files in by_folder.items():
            label = self.packages.label_of(folder)
            if label is None:
                continue
            names: dict[str, str] = {}
            for file, entry in files.items():
                if not file.endswith(".py") or file.startswith(("_", "~")):
                    continue
                key = (label, file[:-3])
                text = self.texts.get(entry.oid)
                if text is None:
                    continue
                from migguard.rewrite import RewriteError

                try:
                    after = self.renumbering.rewrite(key, text)
                except RewriteError as error:
                    raise FoldError(f"{entry.path} {error}") from None
                new_name = self.renumbering.new_name(key)
                names[new_name] = after
                if new_name != key[1] or after != text:
                    new_path = f"{folder}/{new_name}.py".lstrip("/")
                    if new_path != entry.path:
                        removals.append(entry.path)
                    additions[new_path] = (entry.mode, after)
            lock = files.get(self.packages.lockfile) if self.packages.lockfile else None
            creates = lock is None and label in self.packages.create_locks
            if locks and (lock is not None or creates) and label in self.renumbering.packages:
                leaf = _single_leaf(label, names)
                current = gitio.cat_blobs(self.root, [lock.oid]).get(lock.oid, b"") if lock else None
                if leaf is not None and current != lockfile.content(leaf).encode():
                    path = lock.path if lock else f"{folder}/{self.packages.lockfile}".lstrip("/")
                    additions[path] = (lock.mode if lock else "100644", lockfile.content(leaf))
        result = self._write(tree, removals, additions) if removals or additions else tree
        self.trees[(tree, locks)] = result
        return result

    def _read(self, oids: list[str]) -> None:
        missing = [oid for oid in dict.fromkeys(oids) if oid not in self.texts]
        for oid, data in gitio.cat_blobs(self.root, missing).items():
            try:
                self.texts[oid] = data.decode("utf-8")
            except UnicodeDecodeError:
                continue

    def _blob(self, text: str) -> str:
        if text not in self.blobs:
            self.blobs[text] = gitio.text(["hash-object", "-w", "--stdin"], self.root, input=text.encode("utf-8"))
        return self.blobs[text]

    def _write(self, tree: str, removals: list[str], additions: dict[str, tuple[str, str]]) -> str:
        index = gitio.git_path(self.root, "migguard-fold-index")
        env = dict(os.environ, GIT_INDEX_FILE=str(index))
        lines = [f"0 {'0' * 40}\t{path}" for path in removals if path not in additions]
        lines += [f"{mode} {self._blob(text)}\t{path}" for path, (mode, text) in sorted(additions.items())]
        try:
            gitio.run(["read-tree", tree], self.root, env=env)
            gitio.run(["update-index", "-z", "--index-info"], self.root, env=env,
                      input="".join(line + "\0" for line in lines).encode("utf-8", "surrogateescape"))
            return gitio.run(["write-tree"], self.root, env=env).decode().strip()
        finally:
            index.unlink(missing_ok=True)


def _ls_tree(root: str, tree: str, folders: list[str]) -> list[gitio.TreeEntry]:
    """The blobs below `folders` of `tree` (all of them when `folders` is empty)."""
    out = gitio.run(["ls-tree", "-r", "-z", "--full-tree", tree, "--", *folders], root).decode("utf-8", "surrogateescape")
    entries = []
    for record in out.split("\0"):
        if record:
            meta, _, path = record.partition("\t")
            mode, kind, oid = meta.split(" ")
            entries.append(gitio.TreeEntry(mode, kind, oid, path))
    return entries


def _single_leaf(label: str, texts: dict[str, str]) -> str | None:
    """The app's one leaf in these migration texts (same-app edges only), or None."""
    from migguard import graph as graph_module, reader

    migrations = {(label, name): reader.read_graph_fields(text) for name, text in texts.items()}
    graph, _ = graph_module.build(migrations)
    leaves = graph.leaf_nodes(label)
    return leaves[0][1] if len(leaves) == 1 else None
