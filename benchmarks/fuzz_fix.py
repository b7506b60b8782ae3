"""A seeded fuzz campaign over `migguard fix` in real git repositories.

    python benchmarks/fuzz_fix.py [--inputs 1000] [--seed 10] [--workers 2] [--replay N]

Each input copies one repository (app `api` with two leaves after a merge, app `shop` depending on
the branch's migration, lock files, a committed .gitattributes), applies one or two seeded
mutations of a class (bytes of a migration, its encoding, a lock file, symlinks, configuration,
git's state, file permissions, dependency names), then runs `fix --dry-run` and `fix`, with the
merge or the renumber strategy, in process. It counts, per class and in total:

- tracebacks (any exception but SystemExit; an exit status outside 0, 1, 2),
- hangs (an input running longer than 60 seconds),
- bytes changed by a dry run (work tree and the folder around it),
- bytes lost by a failed fix (a fix exiting non-zero without resolving any app must leave every
  byte as it was; one that resolved some apps and not others keeps what it resolved),
- bytes written outside the work tree (by any run).

All must be zero. As root, each worker runs as `nobody` (keeping only CAP_DAC_READ_SEARCH), so
read-only files and folders stop writes as they would for a developer.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

NOBODY = 65534
HANG_SECONDS = 60
APPLIED = re.compile(r"^(\w+: (wrote |renumbered after )|repaired )")
CLASSES = ("bytes", "splice", "encoding", "lockfile", "symlink", "config", "gitstate", "permissions", "dependencies")
TOKENS = ["(", ")", "[", "]", ",", "'", '"', "\\", "#", "\n", "\r", "\r\n", "\t", "\x00", "\ufeff", "\xe9",
          "'api'", "'shop'", "'0002_prev'", "'0003_person_country'", "'0003_person_discipline'", "'__first__'",
          "'__latest__'", "dependencies = ", "replaces = [('api', '0003_person_country')]\n    ",
          "run_before = [('api', '0002_prev')]\n    ", "initial = True\n    ", "class Migration:\n",
          "('api', '0003_person_country'),", "('api', '0004_merge'),", "<<<<<<< HEAD\n", "=======\n", ">>>>>>> x\n"]
MIGRATION = """from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
{dependencies}
    ]

    operations = [
{operations}
    ]
"""


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=git_env())


def git_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="Ada", GIT_AUTHOR_EMAIL="ada@example.com", GIT_COMMITTER_NAME="Ada",
               GIT_COMMITTER_EMAIL="ada@example.com", GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_COUNT="1",
               GIT_CONFIG_KEY_0="safe.directory", GIT_CONFIG_VALUE_0="*")
    return env


def migration(dependencies: list[tuple[str, str]], field: str | None = None) -> str:
    deps = "\n".join(f"        ({app!r}, {name!r})," for app, name in dependencies)
    operations = (f"        migrations.AddField(\n            model_name='person',\n            name={field!r},\n"
                  f"            field=models.CharField(default='', max_length=50),\n        ),") if field else ""
    return MIGRATION.format(dependencies=deps, operations=operations)


def write(root: Path, path: str, text: str) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text)


def build_template(root: Path) -> None:
    """feature (0003_person_country, 0004_person_city) with main (0003_person_discipline) merged in."""
    root.mkdir(parents=True)
    for path in ("api/__init__.py", "api/migrations/__init__.py", "shop/__init__.py", "shop/migrations/__init__.py"):
        write(root, path, "")
    write(root, "api/migrations/0001_initial.py", migration([]).replace("    dependencies", "    initial = True\n\n    dependencies"))
    write(root, "api/migrations/0002_prev.py", migration([("api", "0001_initial")], "email"))
    write(root, "api/migrations/max_migration.txt", "0002_prev\n")
    write(root, "shop/migrations/0001_initial.py", migration([("api", "0002_prev")]))
    write(root, "shop/migrations/max_migration.txt", "0001_initial\n")
    write(root, ".gitattributes", "**/max_migration.txt merge=migguard\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    git(root, "checkout", "-q", "-b", "feature")
    write(root, "api/migrations/0003_person_country.py", migration([("api", "0002_prev")], "country"))
    write(root, "api/migrations/0004_person_city.py", migration([("api", "0003_person_country")], "city"))
    write(root, "shop/migrations/0002_country.py", migration([("shop", "0001_initial"), ("api", "0003_person_country")]))
    write(root, "api/migrations/max_migration.txt", "0004_person_city\n")
    write(root, "shop/migrations/max_migration.txt", "0002_country\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "feature")
    git(root, "checkout", "-q", "main")
    write(root, "api/migrations/0003_person_discipline.py", migration([("api", "0002_prev")], "discipline"))
    write(root, "api/migrations/max_migration.txt", "0003_person_discipline\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "main")
    git(root, "checkout", "-q", "feature")
    subprocess.run(["git", "merge", "-q", "--no-edit", "main"], cwd=root, capture_output=True, env=git_env())
    write(root, "api/migrations/max_migration.txt", "0004_person_city\n0003_person_discipline\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "merge main")


def files_of(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if ".git" not in p.relative_to(root).parts and (p.is_file() or p.is_symlink()))


def migrations_of(root: Path) -> list[Path]:
    return [p for p in files_of(root) if p.suffix == ".py" and p.name != "__init__.py" and "migrations" in p.parts]


# Mutations: each takes the repository, the folder around it and a seeded Random.

def mutate_bytes(root: Path, outside: Path, rng: random.Random) -> str:
    path = rng.choice(migrations_of(root))
    data = bytearray(path.read_bytes())
    how = rng.choice(["flip", "truncate", "delete-span", "duplicate-span"])
    if how == "flip":
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif how == "truncate":
        data = data[: rng.randrange(len(data))]
    else:
        start = rng.randrange(len(data))
        end = min(len(data), start + rng.randint(1, 40))
        data[start:end] = b"" if how == "delete-span" else data[start:end] * 2
    path.write_bytes(bytes(data))
    return f"{how} {path.relative_to(root)}"


def mutate_splice(root: Path, outside: Path, rng: random.Random) -> str:
    path = rng.choice(migrations_of(root))
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice(TOKENS) + text[at:]
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return f"splice {path.relative_to(root)}"


def mutate_encoding(root: Path, outside: Path, rng: random.Random) -> str:
    path = rng.choice(migrations_of(root))
    data = path.read_bytes()
    how = rng.choice(["bom", "crlf", "cr", "latin1", "no-final-newline", "tabs", "utf16"])
    if how == "bom":
        data = b"\xef\xbb\xbf" + data
    elif how == "crlf":
        data = data.replace(b"\n", b"\r\n")
    elif how == "cr":
        data = data.replace(b"\n", b"\r")
    elif how == "latin1":
        data = b"# caf\xe9\n" + data
    elif how == "no-final-newline":
        data = data.rstrip(b"\n")
    elif how == "tabs":
        data = data.replace(b"        (", b"\t\t(")
    else:
        data = data.decode().encode("utf-16")
    path.write_bytes(data)
    return f"{how} {path.relative_to(root)}"


def mutate_lockfile(root: Path, outside: Path, rng: random.Random) -> str:
    path = root / rng.choice(["api/migrations/max_migration.txt", "shop/migrations/max_migration.txt"])
    how = rng.choice(["garbage", "non-utf8", "markers", "empty", "symlink-outside", "directory", "dangling", "missing"])
    path.unlink()
    if how == "garbage":
        path.write_bytes(bytes(rng.randrange(32, 127) for _ in range(rng.randint(1, 60))))
    elif how == "non-utf8":
        path.write_bytes(b"0003_person_country\n\xff\xfe\n")
    elif how == "markers":
        path.write_text("<<<<<<< HEAD\n0004_person_city\n=======\n0003_person_discipline\n>>>>>>> main\n")
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "symlink-outside":
        path.symlink_to(os.path.relpath(outside / "victim.txt", path.parent))
    elif how == "directory":
        path.mkdir()
    elif how == "dangling":
        path.symlink_to(os.path.relpath(outside / "created-by-lock.txt", path.parent))
    return f"{how} {path.relative_to(root)}"


def mutate_symlink(root: Path, outside: Path, rng: random.Random) -> str:
    how = rng.choice(["referencing-outside", "moving-outside", "merge-name-dangling", "moving-inside", "loop",
                      "migrations-dir-outside"])
    if how == "merge-name-dangling":
        link = root / "api/migrations/0005_merge_0003_person_discipline_0004_person_city.py"
        link.symlink_to(os.path.relpath(outside / "created-by-merge.py", link.parent))
    elif how == "loop":
        link = root / rng.choice(["api/migrations/0005_loop.py", "api/migrations/max_migration.txt"])
        link.unlink(missing_ok=True)
        link.symlink_to(link.name)
    elif how == "migrations-dir-outside":
        shutil.move(root / "shop/migrations", outside / "shop-migrations")
        (root / "shop/migrations").symlink_to(outside / "shop-migrations")
    else:
        name = {"referencing-outside": "shop/migrations/0002_country.py", "moving-outside": "api/migrations/0004_person_city.py",
                "moving-inside": "api/migrations/0003_person_country.py"}[how]
        path = root / name
        keep = (outside if how.endswith("outside") else root) / f"kept-{path.name}"
        shutil.move(path, keep)
        path.symlink_to(os.path.relpath(keep, path.parent))
    return how


def mutate_config(root: Path, outside: Path, rng: random.Random) -> str:
    value = rng.choice(['lockfile = "0001_initial.py"', 'lockfile = "__init__.py"', 'lockfile = ".."', 'lockfile = ""',
                        'lockfile = "LOCK"', 'merge_strategy = "renumber"', 'merge_strategy = "yolo"', 'unknown = 1',
                        'exclude = ["shop/*"]', 'lockfile = "a/b"', '[[[', 'apps = {shop = "shop"}'])
    (root / "pyproject.toml").write_text(f"[tool.migguard]\n{value}\n")
    return value


def mutate_gitstate(root: Path, outside: Path, rng: random.Random) -> str:
    how = rng.choice(["index-lock", "untracked-moving", "untracked-referencing", "staged-change", "detached"])
    if how == "index-lock":
        (root / ".git/index.lock").touch()
    elif how == "untracked-moving":
        git(root, "rm", "-q", "--cached", "api/migrations/0004_person_city.py")
    elif how == "untracked-referencing":
        git(root, "rm", "-q", "--cached", "shop/migrations/0002_country.py")
    elif how == "staged-change":
        path = root / "api/migrations/0003_person_country.py"
        path.write_text(path.read_text() + "# staged\n")
        git(root, "add", "-A")
    else:
        git(root, "checkout", "-q", "--detach")
    return how


def mutate_permissions(root: Path, outside: Path, rng: random.Random) -> str:
    how = rng.choice(["file", "migrations-dir", "git-dir", "lock-file"])
    if how == "file":
        path = rng.choice(migrations_of(root))
        path.chmod(0o444)
        return f"read-only {path.relative_to(root)}"
    if how == "migrations-dir":
        path = root / rng.choice(["api/migrations", "shop/migrations"])
        path.chmod(0o555)
        return f"read-only {path.relative_to(root)}"
    if how == "git-dir":
        for directory, _, _ in os.walk(root / ".git"):
            os.chmod(directory, 0o555)
        return "read-only .git"
    path = root / "api/migrations/max_migration.txt"
    path.chmod(0o444)
    return "read-only lock file"


def mutate_dependencies(root: Path, outside: Path, rng: random.Random) -> str:
    path = rng.choice(migrations_of(root))
    text = path.read_text(errors="surrogateescape")
    old = rng.choice(["'api'", "'0002_prev'", "'0003_person_country'", "'0001_initial'", "'shop'"])
    new = rng.choice(["'apii'", "'0002_prevv'", "'0003_person_discipline'", "'__first__'", "'__latest__'", "'shop'", "'api'"])
    path.write_text(text.replace(old, new, 1), errors="surrogateescape")
    return f"{old}->{new} in {path.relative_to(root)}"


MUTATIONS = {"bytes": mutate_bytes, "splice": mutate_splice, "encoding": mutate_encoding, "lockfile": mutate_lockfile,
             "symlink": mutate_symlink, "config": mutate_config, "gitstate": mutate_gitstate,
             "permissions": mutate_permissions, "dependencies": mutate_dependencies}


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every path below `folder` but git's own directory: bytes, link target, or a directory marker."""
    found: dict[str, bytes] = {}
    for directory, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in dirnames + filenames:
            path = os.path.join(directory, name)
            key = os.path.relpath(path, folder)
            if os.path.islink(path):
                found[key] = b"-> " + os.readlink(path).encode()
            elif os.path.isdir(path):
                found[key] = b"<dir>"
            else:
                try:
                    with open(path, "rb") as handle:
                        found[key] = handle.read()
                except OSError as error:
                    found[key] = f"<unreadable {error.errno}>".encode()
    return found


def lost_bytes(before: dict[str, bytes], after: dict[str, bytes]) -> int:
    return sum(len(data) or 1 for key, data in before.items() if after.get(key) != data) + \
        sum(len(data) or 1 for key, data in after.items() if key not in before)


class Hang(Exception):
    pass


def run_cli(root: Path, args: list[str]) -> tuple[int | None, str, str | None]:
    """(exit status, output, traceback or None) of `migguard ARGS` in `root`, in this process."""
    from migguard.cli import cli

    out = io.StringIO()
    here = os.getcwd()
    status: int | None = None
    problem = None

    def alarm(number: int, frame: object) -> None:
        raise Hang()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(HANG_SECONDS)
    try:
        os.chdir(root)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                cli.main(args, prog_name="migguard", standalone_mode=True)
                status = 0
            except SystemExit as done:
                status = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except Hang:
        problem = "hang"
    except BaseException:  # noqa: BLE001 - every exception is a finding
        problem = traceback.format_exc()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(here)
    if problem is None and "Traceback (most recent call last)" in out.getvalue():
        problem = out.getvalue()
    if problem is None and status not in (0, 1, 2):
        problem = f"exit status {status}"
    return status, out.getvalue(), problem


def one_input(template: Path, scratch: Path, seed: int, index: int) -> dict:
    rng = random.Random(seed * 1_000_003 + index)
    kind = CLASSES[index % len(CLASSES)]
    case = scratch / f"case{index}"
    outside = case / "outside"
    root = case / "repo"
    outside.mkdir(parents=True)
    (outside / "victim.txt").write_text("victim\n")
    shutil.copytree(template, root, symlinks=True)
    notes = [MUTATIONS[kind](root, outside, rng)]
    if rng.random() < 0.3:
        other = rng.choice(CLASSES)
        try:
            notes.append(MUTATIONS[other](root, outside, rng))
        except Exception:  # noqa: BLE001 - a second mutation that does not apply is skipped
            pass
    strategy = rng.choice([["--strategy", "merge"], ["--strategy", "renumber", "--onto", "main"], []])
    result = {"index": index, "class": kind, "mutations": notes, "args": strategy, "tracebacks": 0, "hangs": 0,
              "dry_run_bytes": 0, "lost_bytes": 0, "outside_bytes": 0, "findings": [], "statuses": [], "partial": 0, "restored": 0}
    before = snapshot(case)
    for dry in (True, False):
        args = ["fix", *strategy, *(["--dry-run"] if dry else [])]
        status, output, problem = run_cli(root, args)
        result["statuses"].append(status)
        after = snapshot(case)
        outside_changed = lost_bytes({k: v for k, v in before.items() if k.startswith("outside")},
                                     {k: v for k, v in after.items() if k.startswith("outside")})
        if problem == "hang":
            result["hangs"] += 1
        elif problem:
            result["tracebacks"] += 1
        if outside_changed:
            result["outside_bytes"] += outside_changed
        if dry and after != before:
            result["dry_run_bytes"] += lost_bytes(before, after)
        applied = any(APPLIED.match(line) for line in output.splitlines())
        failed = not dry and status not in (0, None) and not applied
        if failed and after != before:
            result["lost_bytes"] += lost_bytes(before, after)
        if not dry and status and applied:
            result["partial"] = 1
        if not dry and "every file restored" in output:
            result["restored"] = 1
        if problem or outside_changed or (dry and after != before) or (failed and after != before):
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            result["findings"].append({"args": args, "status": status, "output": output[-2000:],
                                       "problem": (problem or "")[-3000:], "changed": changed})
    for directory, _, _ in os.walk(case):
        with contextlib.suppress(OSError):
            os.chmod(directory, 0o755)
    shutil.rmtree(case, ignore_errors=True)
    return result


def worker(template: Path, scratch: Path, seed: int, indexes: list[int], report: Path) -> None:
    with open(report, "w") as handle:
        for index in indexes:
            handle.write(json.dumps(one_input(template, scratch, seed, index)) + "\n")
            handle.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--replay", type=int, help="Run one input (by index) and print what happened.")
    parser.add_argument("--worker", nargs=4, metavar=("TEMPLATE", "SCRATCH", "INDEXES", "REPORT"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        template, scratch, indexes, report = options.worker
        worker(Path(template), Path(scratch), options.seed, [int(i) for i in indexes.split(",")], Path(report))
        return 0
    base = Path(tempfile.mkdtemp(prefix="migguard-fuzz-"))
    base.chmod(0o755)
    try:
        template = base / "template"
        build_template(template)
        if options.replay is not None:
            result = one_input(template, base, options.seed, options.replay)
            print(json.dumps(result, indent=2))
            return 0
        return campaign(base, template, options)
    finally:
        for directory, _, _ in os.walk(base):
            with contextlib.suppress(OSError):
                os.chmod(directory, 0o755)
        shutil.rmtree(base, ignore_errors=True)


def campaign(base: Path, template: Path, options: argparse.Namespace) -> int:
    as_nobody = os.geteuid() == 0
    if as_nobody:
        for directory, dirnames, filenames in os.walk(base):
            for name in [directory, *(os.path.join(directory, n) for n in dirnames + filenames)]:
                os.lchown(name, NOBODY, NOBODY)
    started = time.monotonic()
    processes = []
    for number in range(options.workers):
        indexes = list(range(number, options.inputs, options.workers))
        if not indexes:
            continue
        report = base / f"report{number}.jsonl"
        command = [sys.executable, os.path.abspath(__file__), "--seed", str(options.seed),
                   "--worker", str(template), str(base), ",".join(map(str, indexes)), str(report)]
        env = git_env()
        if as_nobody:
            command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                       "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", *command]
            env["HOME"] = str(base)
        processes.append((subprocess.Popen(command, env=env), report))
    results = []
    for process, report in processes:
        process.wait()
        if report.exists():
            results += [json.loads(line) for line in report.read_text().splitlines() if line.strip()]
    elapsed = time.monotonic() - started
    return summarize(results, options, elapsed, as_nobody)


def summarize(results: list[dict], options: argparse.Namespace, elapsed: float, as_nobody: bool) -> int:
    per_class = collections.Counter(result["class"] for result in results)
    statuses = collections.Counter(status for result in results for status in result["statuses"])
    totals = {key: sum(result[key] for result in results)
              for key in ("tracebacks", "hangs", "dry_run_bytes", "lost_bytes", "outside_bytes")}
    print(f"fuzz_fix: seed {options.seed}, {len(results)} inputs ({2 * len(results)} fix runs: "
          f"--dry-run and real) in {elapsed:.0f} s, {'as nobody' if as_nobody else f'as uid {os.geteuid()}'}")
    print("inputs per class: " + ", ".join(f"{kind} {per_class[kind]}" for kind in CLASSES))
    print("exit statuses: " + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items(), key=str)))
    print(f"fixes that resolved some apps and left others (exit 1, their changes kept): "
          f"{sum(result['partial'] for result in results)}")
    print(f"fixes that failed while writing, every file restored: {sum(result['restored'] for result in results)}")
    print(f"tracebacks: {totals['tracebacks']}")
    print(f"hangs: {totals['hangs']}")
    print(f"bytes changed by a dry run: {totals['dry_run_bytes']}")
    print(f"bytes lost by a failed fix: {totals['lost_bytes']}")
    print(f"bytes written outside the work tree: {totals['outside_bytes']}")
    findings = [result for result in results if result["findings"]]
    for result in findings[:10]:
        print(f"\n--- input {result['index']} ({result['class']}: {'; '.join(result['mutations'])}), "
              f"replay: python benchmarks/fuzz_fix.py --seed {options.seed} --replay {result['index']}")
        for finding in result["findings"]:
            print(f"  {' '.join(finding['args'])} -> {finding['status']}; changed: {finding['changed'][:6]}")
            print("  " + (finding["problem"] or finding["output"]).strip().replace("\n", "\n  ")[-1500:])
    missing = options.inputs - len(results)
    if missing:
        print(f"{missing} inputs did not report (a worker died)")
    return 1 if any(totals.values()) or missing else 0


if __name__ == "__main__":
    sys.exit(main())
