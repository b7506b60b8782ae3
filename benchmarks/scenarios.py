"""What is measured, per size of a generated project: each a group of commands run in turn, round by round."""
from __future__ import annotations

import itertools
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from measure import Comparison, Group, Setup, Step
from projects import Migrations, app_label, generate, git, init_repository, quiet_git

PYTHON_START = "python -I -c pass"
RACY_SECONDS = 2.5  # a file changed less than 2 s before a run is "racily clean": git and migguard read it again
GATE_MAX_FILES = 50000  # the gates read at most this many files unless `git config migguard.maxFiles` says more


@dataclass(frozen=True)
class Tools:
    """The measured installation and the environment every command runs in."""

    venv: Path
    env: Mapping[str, str]

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    @property
    def migguard(self) -> str:
        return str(self.venv / "bin" / "migguard")

    def call(self, cwd: Path, *arguments: str) -> None:
        """Run migguard untimed (setup), failing loudly."""
        done = subprocess.run([self.migguard, *arguments], cwd=cwd, env=dict(self.env), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"migguard {' '.join(arguments)} in {cwd}: {(done.stderr or done.stdout).strip()}")


def drop_caches(root: Path, env: Mapping[str, str]) -> None:
    """Delete migguard's caches (`<git common dir>/migguard/`, what `migguard uninstall` removes)."""
    common = Path(git(root, env, "rev-parse", "--git-common-dir"))
    shutil.rmtree(root / common / "migguard", ignore_errors=True)


class Project:
    """A generated project of `size` migrations in a git repository with migguard installed, in `directory`;
    `style`: its migrations as `makemigrations` writes them or as `black` formats them."""

    def __init__(self, tools: Tools, directory: Path, size: int, style: str = "makemigrations") -> None:
        self.tools = tools
        self.env = tools.env
        self.size = size
        self.style = style
        self.directory = directory
        self.root = directory / "project"
        self.root.mkdir(parents=True)
        self.apps = generate(self.root, size, style)
        self.written = time.time()
        init_repository(self.root, self.env)
        self.allow_size(self.root)
        tools.call(self.root, "install")
        git(self.root, self.env, "add", "-A")
        quiet_git(self.root, self.env, "commit", "-qm", "migguard install")
        self.installed = git(self.root, self.env, "rev-parse", "HEAD")  # the generated migrations, before any table adds one

    def allow_size(self, repository: Path) -> None:
        """Above the gates' default limit of files (50,000), raise it (`git config migguard.maxFiles`), as a team would."""
        if self.size + 1000 > GATE_MAX_FILES:
            git(repository, self.env, "config", "migguard.maxFiles", str(2 * self.size))

    def app(self, index: int) -> str:
        """An app of the project (the indexes wrap around in small projects)."""
        return app_label(index % len(self.apps))

    def git(self, *arguments: str) -> str:
        return quiet_git(self.root, self.env, *arguments)

    def settle(self) -> None:
        """Wait until the last file written is RACY_SECONDS old, so that a warm run finds nothing racily clean."""
        time.sleep(max(0.0, self.written + RACY_SECONDS - time.time()))

    def drop_caches(self) -> None:
        drop_caches(self.root, self.env)

    def clean(self, branch: str, start: str, root: Path | None = None) -> None:
        """Check out `branch` reset to `start`, untracked files removed (ignored ones kept), hooks off. Every table
        starts from `main`, which always has one leaf per app (the two-leaf commit of `fix` is on its own branch)."""
        top = root or self.root
        merge_head, rebase_state = git(top, self.env, "rev-parse", "--git-path", "MERGE_HEAD", "--git-path", "rebase-merge").splitlines()
        (top / merge_head).unlink(missing_ok=True)  # left by a hook table that failed half-way
        shutil.rmtree(top / rebase_state, ignore_errors=True)
        quiet_git(top, self.env, "checkout", "-q", "-f", "-B", branch, start)
        quiet_git(top, self.env, "clean", "-fdq")

    def commit_all(self, message: str, root: Path | None = None) -> str:
        top = root or self.root
        quiet_git(top, self.env, "add", "-A")
        quiet_git(top, self.env, "commit", "-qm", message)
        return git(top, self.env, "rev-parse", "HEAD")

    def step(self, name: str, *argv: str, before: Setup | None = None, after: Setup | None = None,
             stdin: bytes | Callable[[], bytes] = b"", statuses: tuple[int, ...] = (0,), warmups: int = 1) -> Step:
        return Step(name, list(argv), self.root, self.env, stdin=stdin, before=before, after=after, statuses=statuses,
                    warmups=warmups)

    def python_start(self, warmups: int = 1) -> Step:
        return self.step(PYTHON_START, self.tools.python, "-I", "-c", "pass", warmups=warmups)


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def check_group(project: Project, django: bool) -> Group:
    """`check` on the work tree and `--rev HEAD`, cold (no cache), warm, and incremental (one new migration since the
    last run); with `django`, Django's commands on the same files, compared with the cold and the warm `check`."""
    tools, root = project.tools, project.root
    project.clean("main", "main")
    incoming = Migrations(root, project.app(0), "incremental")
    check = [tools.migguard, "check"]
    rev = [*check, "--rev", "HEAD"]

    def add_migration() -> None:
        incoming.add()
        project.written = time.time()

    def settle_and_drop_caches() -> None:
        project.settle()
        project.drop_caches()

    def commit_it() -> None:
        project.commit_all("one more migration")

    # No warm-up round: within a round each warm run follows the cold run that filled the caches.
    steps = [
        project.python_start(warmups=0),
        project.step("git status (git's own stat check)", "git", "status", "--porcelain", warmups=0),
        project.step("check (cold)", *check, before=settle_and_drop_caches, warmups=0),
        project.step("check (warm)", *check, warmups=0),
        project.step("check (incremental: one new migration)", *check, before=add_migration, warmups=0),
        project.step("check --rev (cold)", *rev, before=project.drop_caches, warmups=0),
        project.step("check --rev (warm)", *rev, warmups=0),
        project.step("check --rev (incremental: one new commit with a migration)", *rev, before=commit_it, warmups=0),
    ]
    comparisons = [
        Comparison("check --rev (warm) over Python's start", "check --rev (warm)", PYTHON_START, "over"),
        Comparison("check --rev (incremental) ÷ check --rev (warm)", "check --rev (incremental: one new commit with a migration)",
                   "check --rev (warm)"),
        Comparison("check (warm) over git status", "check (warm)", "git status (git's own stat check)", "over"),
        Comparison("check (incremental) ÷ check (warm)", "check (incremental: one new migration)", "check (warm)"),
    ]
    notes = ["incremental: every round writes one new migration (new name, new bytes) at the end of an app's chain, "
             "lock file in step: untracked in the work tree for `check`, then committed for `check --rev`",
             "cold: `<git dir>/migguard/` (every cache) deleted before the run; no warm-up round (each warm run follows the "
             "cold run of its round)",
             f"the cold work-tree run starts {RACY_SECONDS} s or more after the last file was written (a file changed in "
             "the last 2 s is racily clean: git and migguard read it again on the next run)"]
    if django:
        manage = [tools.python, "manage.py"]
        django_steps = [
            project.step("Django showmigrations", *manage, "showmigrations"),
            project.step("Django makemigrations --check", *manage, "makemigrations", "--check", "--dry-run", warmups=0),
            project.step("django-linear-migrations check", *manage, "check", "--settings", "settings_dlm", warmups=0),
        ]
        steps += django_steps
        for step in django_steps:
            comparisons += [Comparison(f"{step.name} ÷ check (cold)", step.name, "check (cold)"),
                            Comparison(f"{step.name} ÷ check (warm)", step.name, "check (warm)")]
        notes.append("Django 5.2 with SQLite, the migrations' .pyc files written by a warm-up run of showmigrations "
                     "(Django's fastest case)")
    return Group("check", project.size, steps, comparisons, notes)


def hook_group(project: Project) -> Group:
    """Each installed hook, run as git runs it, where it has nothing to do, against Python's start."""
    root = project.root
    project.clean("main", "main")
    base = git(root, project.env, "rev-parse", "HEAD")
    docs = root / "docs"
    project.git("checkout", "-qb", "bench-docs")
    write(docs / "merged.md", "merged\n")
    merged = project.commit_all("docs on a branch")
    project.git("checkout", "-q", "main")
    write(docs / "main.md", "main\n")
    project.commit_all("docs on main")
    project.git("merge", "-q", "--no-ff", "--no-edit", "bench-docs")
    remote = project.directory / "remote.git"
    git(project.directory, project.env, "init", "-q", "--bare", str(remote))
    project.git("remote", "add", "origin", str(remote))
    project.git("push", "-q", "--no-verify", "origin", "main")
    remote_tip = git(root, project.env, "rev-parse", "HEAD")
    merge_head, rebase_state, orig_head = (root / path for path in git(
        root, project.env, "rev-parse", "--git-path", "MERGE_HEAD", "--git-path", "rebase-merge", "--git-path", "ORIG_HEAD").splitlines())
    serial = itertools.count()
    pushed = {"head": remote_tip}

    def stage_docs() -> None:
        write(docs / "staged.md", f"staged {next(serial)}\n")
        project.git("add", "docs/staged.md")

    def commit_docs() -> None:
        """A new docs-only commit whose parent is the remote's tip."""
        stage_docs()
        project.git("reset", "-q", "--soft", remote_tip)
        pushed["head"] = project.commit_all("docs only")

    def enter_rebase() -> None:
        rebase_state.mkdir()
        (rebase_state / "onto").write_text(base + "\n")

    def in_merge() -> None:
        merge_head.write_text(merged + "\n")

    def after_fast_forward() -> None:
        orig_head.write_text(base + "\n")

    hooks = git(root, project.env, "rev-parse", "--git-path", "hooks")
    hook = str(root / hooks)
    steps = [
        project.python_start(),
        project.step("post-merge (a merge that brought no migration)", f"{hook}/post-merge", "0",
                     before=in_merge, after=merge_head.unlink),
        project.step("post-merge (a fast-forward that brought no migration)", f"{hook}/post-merge", "0",
                     before=after_fast_forward),
        project.step("post-checkout (a branch with no migration changed)", f"{hook}/post-checkout", base, remote_tip, "1"),
        project.step("post-rewrite (a rebase that brought no migration)", f"{hook}/post-rewrite", "rebase",
                     stdin=lambda: f"{merged} {pushed['head']}\n".encode(), before=enter_rebase,
                     after=lambda: shutil.rmtree(rebase_state)),
        project.step("pre-commit (no migration staged)", f"{hook}/pre-commit", before=stage_docs),
        project.step("pre-push (a docs-only commit on top of the remote's tip)", f"{hook}/pre-push", "origin", str(remote),
                     before=commit_docs, stdin=lambda: f"refs/heads/main {pushed['head']} refs/heads/main {remote_tip}\n".encode()),
    ]
    comparisons = [Comparison(f"{step.name} over Python's start", step.name, PYTHON_START, "over") for step in steps[1:]]
    notes = ["each hook is the shim `migguard install` wrote, run with the arguments, stdin and state files git gives it",
             "pre-push: every round pushes a new docs-only commit on top of the remote's tip (its first check)",
             "one untimed warm-up round"]
    if project.size + 1000 > GATE_MAX_FILES:
        notes.append(f"`git config migguard.maxFiles {2 * project.size}` (the gates read at most 50,000 files by default)")
    return Group("hooks", project.size, steps, comparisons, notes)


def fix_group(project: Project, django: bool) -> Group:
    """`migguard fix` (merge and renumber) on an app with two leaves, against a cold `check` of the same tree
    and Django's `makemigrations --merge`."""
    tools, root = project.tools, project.root
    project.clean("main", "main")
    app = project.app(4)
    project.git("checkout", "-qb", "bench-left")
    Migrations(root, app, "left").add()
    project.commit_all("left")
    project.git("checkout", "-q", "main")
    right = Migrations(root, app, "right")
    parent = right.leaf()
    right_path = right.add(keep_lock=False)
    text = (root / right_path).read_text()
    project.git("checkout", "-q", "-f", "-b", "bench-two-leaves", "bench-left")
    (root / right_path).write_text(text)
    project.commit_all(f"a second leaf after {parent}")
    two_leaves = git(root, project.env, "rev-parse", "HEAD")

    def reset() -> None:
        project.clean("bench-two-leaves", two_leaves)
        project.drop_caches()

    fix = [tools.migguard, "fix"]
    steps = [  # every run cold: no warm-up round
        project.step("check (cold, two leaves)", tools.migguard, "check", before=reset, statuses=(1,), warmups=0),
        project.step("fix --strategy merge (cold)", *fix, "--strategy", "merge", before=reset, warmups=0),
        project.step("fix --strategy renumber (cold)", *fix, "--strategy", "renumber", "--onto", "bench-left", before=reset, warmups=0),
    ]
    comparisons = [
        Comparison("fix merge (cold) ÷ check (cold)", "fix --strategy merge (cold)", "check (cold, two leaves)"),
        Comparison("fix renumber (cold) ÷ check (cold)", "fix --strategy renumber (cold)", "check (cold, two leaves)"),
    ]
    if django:
        steps.append(project.step("Django makemigrations --merge", tools.python, "manage.py", "makemigrations", "--merge",
                                  "--noinput", before=reset, warmups=0))
        comparisons.append(Comparison("Django makemigrations --merge ÷ fix merge (cold)", "Django makemigrations --merge",
                                      "fix --strategy merge (cold)"))
    notes = [f"app {app} has two leaves (one migration on each of two branches, committed together); every run starts "
             "from that commit with no cache; no warm-up round"]
    return Group("fix", project.size, steps, comparisons, notes)


class Rounds:
    """The round number shared by the two sides of a pair (A takes the next one, B reads it)."""

    def __init__(self) -> None:
        self.counter = itertools.count()
        self.current = -1

    def next(self) -> int:
        self.current = next(self.counter)
        return self.current


def git_groups(project: Project, pairs: int) -> list[Group]:
    """Real `git merge`, `rebase`, `commit` and `push` in a clone with migguard installed (hooks, driver, caches
    warmed by earlier rounds) against the same in a clone without it."""
    tools, root, env = project.tools, project.root, project.env
    project.clean("main", "main")
    base = git(root, env, "rev-parse", "HEAD")
    tools.call(root, "check", "--rev", base)  # every app has one leaf and its lock file in step: nothing to resolve
    project.git("checkout", "-qb", "bench-mainline")
    write(root / "docs" / "mainline.md", "mainline\n")
    project.commit_all("docs on main")
    features = pairs + 1
    for index in range(features):
        project.clean(f"bench-feature-{index}", base)
        Migrations(root, project.app(1), f"feature{index}").add()
        project.commit_all(f"one migration ({index})")
    project.clean("bench-topic", base)
    Migrations(root, project.app(2), "topic").add()
    project.commit_all("a migration in another app")
    project.clean("main", base)
    sides = {"with migguard": project.directory / "with", "without": project.directory / "without"}
    remotes = {side: project.directory / f"{path.name}.git" for side, path in sides.items()}
    for side, clone in sides.items():
        git(project.directory, env, "clone", "-q", str(root), str(clone))
        git(project.directory, env, "clone", "-q", "--bare", str(root), str(remotes[side]))
        git(clone, env, "remote", "add", "target", str(remotes[side]))
        project.allow_size(clone)
        project.allow_size(remotes[side])
    tools.call(sides["with migguard"], "install")
    tools.call(remotes["with migguard"], "install", "--server")
    groups = []
    for operation in ("merge", "rebase", "commit", "push"):
        rounds = Rounds()
        steps = []
        for side, clone in sides.items():
            with_migguard = side == "with migguard"
            argv, before = _operation(project, operation, clone, remotes[side], base, rounds, with_migguard)
            steps.append(Step(f"git {operation} ({side})", argv, clone, env, before=before))
        comparisons = [Comparison(f"git {operation}: with migguard ÷ without", steps[0].name, steps[1].name)]
        notes = [_NOTES[operation], "one untimed warm-up round (it leaves the clone with migguard its caches, as in daily use)"]
        groups.append(Group(f"git {operation}", project.size, steps, comparisons, notes))
    return groups


_NOTES = {
    "merge": "`git merge` of a branch bringing one new migration (a new one every round), no conflict; main has a docs commit",
    "rebase": "`git rebase` of a branch with one migration onto a branch bringing one migration in another app",
    "commit": "`git commit` of one new migration on top of the previous round's commit; without migguard the lock "
              "file is updated by hand (untimed), with migguard the pre-commit hook keeps it in step",
    "push": "`git push` of a commit bringing one migration to a local bare repository: with migguard the client's "
            "pre-push gate and the server's pre-receive gate run",
}


def _operation(project: Project, operation: str, clone: Path, remote: Path, base: str, rounds: Rounds,
               with_migguard: bool) -> tuple[list[str], Setup]:
    env = project.env
    migrations = Migrations(clone, project.app(3), "committed")

    def incoming() -> None:
        index = rounds.next() if with_migguard else rounds.current
        quiet_git(clone, env, "branch", "-f", "incoming", f"origin/bench-feature-{index}")

    if operation == "merge":
        def before_merge() -> None:
            project.clean("main", "origin/bench-mainline", clone)
            incoming()
        return ["git", "merge", "-q", "--no-edit", "incoming"], before_merge
    if operation == "rebase":
        def before_rebase() -> None:
            project.clean("topic", "origin/bench-topic", clone)
            incoming()
        return ["git", "rebase", "-q", "incoming"], before_rebase
    if operation == "commit":
        def before_commit() -> None:
            """Each round commits on top of the last one (the first starts from the mainline): a series of commits,
            as a developer makes them, each of whose parents no check has seen."""
            if (with_migguard and rounds.next() == 0) or (not with_migguard and rounds.current == 0):
                project.clean("main", "origin/bench-mainline", clone)
            migrations.add(keep_lock=not with_migguard)
            quiet_git(clone, env, "add", "-A")
        return ["git", "commit", "-q", "-m", "a new migration"], before_commit

    def before_push() -> None:
        project.clean("main", base, clone)
        git(remote, env, "update-ref", "refs/heads/main", base)
        quiet_git(clone, env, "update-ref", "refs/remotes/target/main", base)
        incoming()
    return ["git", "push", "-q", "target", "incoming:main"], before_push

