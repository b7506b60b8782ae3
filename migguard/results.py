"""`check` results cached by what they depend on (a tree id, or a digest of the inputs): one file per key
in `<git-common-dir>/migguard/results/` (named with migguard's version), read with nothing but `os` and `marshal`, so a repeated
`check --rev` is answered before anything else is imported. Written atomically (a temporary file, then
`os.replace`); a file that cannot be read is a miss, never an answer."""
from __future__ import annotations

import marshal
import os

from migguard import __version__
from migguard.processes import run_git

TYPE_CHECKING = False  # typing costs a repeated `check --rev` a third of its time
if TYPE_CHECKING:
    from typing import Any

SCHEMA_VERSION = 1  # `"version"` in `check --format json`; results cached under another are read again
RESULTS_KEPT = 64
RESULTS_SLACK = 32  # how many more may gather before the oldest are removed
PRUNING_NAMES = ("0", "1")  # the last hex digits of the names whose store looks for files to prune: 1 in 8
SIMPLE_KEY = frozenset("0123456789abcdefghijklmnopqrstuvwxyz-:")


def directory(common_dir: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(common_dir), "migguard", "results")


def path_for(common_dir: str | os.PathLike[str], key: str, under: str) -> str:
    """A tree id or `content:<digest>` names its file itself (no hashlib to import); any other key is hashed."""
    if not under and 0 < len(key) <= 120 and set(key) <= SIMPLE_KEY:
        name = f"{__version__}-k-{key.replace(':', '.')}"
    else:
        import hashlib

        name = f"{__version__}-h-" + hashlib.sha1(f"{key}\0{under}".encode("utf-8", "surrogateescape")).hexdigest()
    return os.path.join(directory(common_dir), name)


def load(common_dir: str | os.PathLike[str], key: str, under: str) -> dict[str, Any] | None:
    try:
        with open(path_for(common_dir, key, under), "rb") as stream:
            result = marshal.loads(stream.read())
    except Exception:  # noqa: BLE001 - absent, unreadable, truncated or from another Python: a miss
        return None
    if not isinstance(result, dict):
        return None
    if "django" in result and not _same_django(result):
        return None
    return result


def _same_django(result: dict[str, Any]) -> bool:
    """A result decided by the installed Django's version (squashes of squashes) holds for that one only."""
    from migguard.graph import installed_django_version

    return bool(result["django"] == installed_django_version())


def usable(result: dict[str, Any]) -> bool:
    """Whether a cached `check` result can be the answer now (this schema, the same Django where it matters)."""
    return result.get("version") == SCHEMA_VERSION and ("django" not in result or _same_django(result))


def touch(common_dir: str | os.PathLike[str], key: str, under: str) -> None:
    """Mark a cached result as just used: the newest RESULTS_KEPT are kept."""
    try:
        os.utime(path_for(common_dir, key, under))
    except OSError:
        pass


def store(common_dir: str | os.PathLike[str], key: str, under: str, result: dict[str, Any]) -> None:
    """Write atomically and keep the newest RESULTS_KEPT files (once RESULTS_SLACK more have gathered, seen by
    one store in eight); a cache that cannot be written is no error."""
    path = path_for(common_dir, key, under)
    folder = os.path.dirname(path)
    try:
        data = marshal.dumps(result)
    except ValueError:
        return
    temporary = os.path.join(folder, f".tmp-{os.getpid()}-{os.urandom(6).hex()}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        try:
            descriptor = os.open(temporary, flags, 0o600)
        except FileNotFoundError:  # the first result stored here
            os.makedirs(folder, exist_ok=True)
            descriptor = os.open(temporary, flags, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        return
    if not path.endswith(PRUNING_NAMES):  # listing the folder at every store costs a commit's hook
        return
    try:
        entries = [entry for entry in os.scandir(folder) if not entry.name.startswith(".")]
        if len(entries) > RESULTS_KEPT + RESULTS_SLACK:  # pruned now and then: stat-ing every file costs a hook
            for stale in sorted(entries, key=lambda entry: entry.stat().st_mtime, reverse=True)[RESULTS_KEPT:]:
                os.unlink(stale.path)
    except OSError:
        pass


def find_common_dir(root: str) -> str | None:
    """The git common directory of the repository holding `root`, found on disk without running git."""
    from migguard.loose import dirs_at

    current = os.path.realpath(root)
    while not os.path.isdir(os.path.join(current, ".git")) and not os.path.isfile(os.path.join(current, ".git")):
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
    found = dirs_at(current)
    return os.path.realpath(found[1]) if found is not None else None


def cached_revision(cwd: str, rev: str, under: str | None) -> dict[str, Any] | None:
    """The cached result of `check --rev REV` when that commit's tree was checked before (one git call);
    None when it was not, or when anything fails (the full check then answers, or says what is wrong)."""
    if not os.path.isdir(cwd):
        return None
    try:
        status, out, _ = run_git(["rev-parse", "--git-common-dir", "--show-prefix", "--verify", "--end-of-options",
                                  f"{rev}^{{tree}}"], cwd)
    except OSError:
        return None
    lines = out.decode("utf-8", "surrogateescape").split("\n")
    if status != 0 or len(lines) < 3:
        return None
    common = os.path.realpath(os.path.join(cwd, lines[0]))
    result = load(common, lines[2], lines[1] if under is None else under)
    return result if result is not None and result.get("version") == SCHEMA_VERSION else None
