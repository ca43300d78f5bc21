"""git on a repository the vendor can write to, without running anything the vendor planted.

A vendor allowed to edit files can write the repository's `.git/config` (and files it
includes, `config.worktree`), `.git/info/attributes`, `.git/hooks/` and `.gitattributes`: a
core.fsmonitor command, filter drivers (clean, smudge, process), core.hooksPath and hooks,
core.pager and pager.<cmd>, diff.external, diff.<driver>.command and textconv, an
extensions.partialClone remote whose lazy fetch would start a transport. The shim's own git
calls must execute none of them: not during the run, not after it, not in a later run.

Two kinds of call:

- Plumbing that reads the work tree (add, write-tree, diff-tree, read-tree, checkout-index,
  ls-files) runs against a *shadow* GIT_DIR that the shim makes in a private folder (`shadow`):
  its config holds only keys that are inert and change what a file's content is (line endings,
  case, symlinks, file modes, excludes and attributes files, object format: `_CARRIED`), copied
  from the real configuration when the snapshot starts; HEAD and refs/ are stubs; info/exclude
  and info/attributes are copies. GIT_OBJECT_DIRECTORY is the repository's own store (its
  alternates still work), GIT_WORK_TREE the work tree, GIT_INDEX_FILE a private copy of the
  index. The environment keeps no GIT_* variable of the caller, and no system or global config
  is read. No filter driver, fsmonitor, hook, textconv, external diff or remote exists there,
  so git has nothing to run whatever `.gitattributes` says: an attribute naming an undefined
  driver is ignored (`required` is itself driver config). Built-in conversions (text, eol,
  ident, working-tree-encoding) still apply. What is lost: filter drivers such as Git LFS do
  not run, so their files are seen, and checked out into a --worktree, as stored (pointers).
- The few calls that must use the real repository (rev-parse, config, branch, update-ref,
  worktree add --no-checkout) carry `HARDEN` on the command line, which beats every config file
  and is passed to git's own child processes (GIT_CONFIG_PARAMETERS), and run with
  GIT_ALLOW_PROTOCOL empty: no transport may start, so neither a lazy fetch nor
  core.sshCommand nor a credential helper can be reached. None of these commands reads the
  index, checks files out, or runs a pager with stdout a pipe.

Nothing here starts a process: workspace runs git with the argv and environments made here.
"""

from __future__ import annotations

import os
import stat

__all__ = ["HARDEN", "LayoutError", "read_carried_config", "real_env", "shadow", "shadow_config",
           "trusted_git_dirs"]

# Command-line config: the highest precedence there is. core.hooksPath=/dev/null leaves no hook
# to find (reference-transaction, post-checkout, post-index-change, pre-auto-gc, ...).
HARDEN = (
    "--no-pager",
    "-c", "core.quotepath=false",
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "core.splitIndex=false",
    "-c", "gc.auto=0",
    "-c", "maintenance.auto=false",
    "-c", "protocol.allow=never",
)

# Variables that would point git at another repository, index or work tree than the one `cwd`
# is in (e.g. a shim started from a git hook): cwd alone decides.
_LOCATION_VARS = frozenset({
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_PREFIX", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE",
})

# No transport at all (protocol.<name>.allow=always in a planted config would beat
# protocol.allow=never; GIT_ALLOW_PROTOCOL beats both). GIT_NO_LAZY_FETCH: git >= 2.45.
_NO_NETWORK = {"GIT_ALLOW_PROTOCOL": "", "GIT_NO_LAZY_FETCH": "1", "GIT_TERMINAL_PROMPT": "0"}


def real_env() -> dict[str, str]:
    """For calls on the real repository: the caller's environment (its system and global config
    stay: safe.directory lives there) without location variables, no transport, C messages
    (the lock-retry logic reads git's English)."""
    env = {k: v for k, v in os.environ.items() if k not in _LOCATION_VARS}
    env.update(_NO_NETWORK, LC_ALL="C", PATH=_absolute_path())
    return env


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(_NO_NETWORK, LC_ALL="C", PATH=_absolute_path(), GIT_CONFIG_NOSYSTEM="1",
               GIT_CONFIG_GLOBAL="/dev/null", GIT_ATTR_NOSYSTEM="1", GIT_NO_REPLACE_OBJECTS="1")
    return env


def _absolute_path() -> str:
    """PATH without its relative entries ("", "."): git is looked up (by subprocess, in the
    environment it is given) after the change to the work tree, where a vendor could have
    put a program named git."""
    return os.pathsep.join(d for d in os.environ.get("PATH", os.defpath).split(os.pathsep) if os.path.isabs(d))


# ------------------------------------------------------------------------------ shadow config

# Inert keys that decide what git stores for a file, read from the real configuration (all its
# scopes and includes). Anything else (a driver, a command, a hook path) is never copied.
_CARRIED = ("core.autocrlf", "core.eol", "core.ignorecase", "core.symlinks", "core.filemode",
            "core.precomposeunicode", "core.checkroundtripencoding", "core.bigfilethreshold",
            "core.sharedrepository", "core.excludesfile", "core.attributesfile", "extensions.objectformat")
CARRIED_PATTERN = "^(" + "|".join(k.replace(".", "\\.") for k in _CARRIED) + ")$"
_PATHS = ("core.excludesfile", "core.attributesfile")

_FIXED = """\
[core]
\tbare = false
\tfsmonitor = false
\thooksPath = /dev/null
\tsplitIndex = false
\tsafecrlf = false
\tquotepath = false
[gc]
\tauto = 0
[maintenance]
\tauto = false
[advice]
\taddEmbeddedRepo = false
[protocol]
\tallow = never
"""


def read_carried_config(out: bytes, root: str) -> dict[str, str | None]:
    """`git config -z --get-regexp CARRIED_PATTERN` output as {key: value} (the last value wins,
    as git reads a single-valued key; None: a bare key, which means true). A path that is not a
    regular file is dropped: git would block on a FIFO a vendor put there. core.excludesfile is
    always there: the file git would read (its default when unset), or "" for none."""
    values: dict[str, str | None] = {}
    for rec in out.split(b"\0"):
        if not rec:
            continue
        key, nl, value = rec.partition(b"\n")
        name = key.decode("ascii", "replace").lower()
        if name in _CARRIED:
            values[name] = os.fsdecode(value) if nl else None
    values.setdefault("core.excludesfile", _default_excludes())
    for name in _PATHS:
        path = values.pop(name, None)
        if path:
            path = os.path.join(root, os.path.expanduser(path))
            if _is_regular(path):
                values[name] = path
    values.setdefault("core.excludesfile", "")
    if values.get("extensions.objectformat") not in (None, "sha1", "sha256"):
        values.pop("extensions.objectformat")
    return values


def _default_excludes() -> str:
    """git's core.excludesFile when unset: $XDG_CONFIG_HOME/git/ignore, else ~/.config/git/ignore.

    git's own rule (path.c, xdg_config_home), not platformdirs': the file must be the one git
    reads, and git takes any non-empty XDG_CONFIG_HOME (a relative one too) and ~/.config on
    every system, where platformdirs ignores a relative value and names ~/Library/Application
    Support on macOS."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return os.path.join(xdg, "git", "ignore") if xdg else os.path.join(os.path.expanduser("~"), ".config", "git", "ignore")


def shadow_config(values: dict[str, str | None]) -> tuple[str, str]:
    """(the shadow GIT_DIR's config: the fixed safe settings, then the carried values; the
    excludes file to merge with info/exclude, or "")."""
    values = dict(values)
    excludes = values.pop("core.excludesfile", None) or ""
    fmt = values.get("extensions.objectformat")
    lines = [_FIXED, "[core]\n", f"\trepositoryformatversion = {1 if fmt else 0}\n"]
    for name, value in values.items():
        section, key = name.split(".", 1)
        lines.append(f"[{section}]\n\t{key}" + ("\n" if value is None else f" = {_quoted(value)}\n"))
    return "".join(lines), excludes


def _quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def _is_regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


# ------------------------------------------------------------------------------ shadow GIT_DIR


def shadow(tmp: str, *, config: str, excludes: str, git_dir: str, common_dir: str, work_tree: str,
           index: str) -> dict[str, str]:
    """Make the private folder `tmp` a shadow GIT_DIR and return the environment that runs git
    against it, on `work_tree`, with `index` and the objects of `common_dir`.

    As few folders as git needs (refs/; info/ only for an info/attributes): removing a folder
    costs milliseconds on some file systems, and this is on every run in a git folder. The
    excludes file and info/exclude are merged into one file named by core.excludesFile, later
    lines winning, as git ranks them."""
    os.mkdir(os.path.join(tmp, "refs"))
    ignore = b"".join(_read_regular(p) + b"\n" for p in (excludes, os.path.join(common_dir, "info", "exclude")) if p)
    with open(os.path.join(tmp, "exclude"), "wb") as f:
        f.write(ignore)
    with open(os.path.join(tmp, "config"), "w", encoding="utf-8") as f:
        f.write(config)
        f.write(f"[core]\n\texcludesFile = {_quoted(os.path.join(tmp, 'exclude'))}\n")
    with open(os.path.join(tmp, "HEAD"), "w", encoding="ascii") as f:
        f.write("ref: refs/heads/shadow\n")  # never resolved: a stub git wants to see
    attributes = _read_regular(os.path.join(common_dir, "info", "attributes"))
    if attributes:
        os.mkdir(os.path.join(tmp, "info"))
        with open(os.path.join(tmp, "info", "attributes"), "wb") as f:
            f.write(attributes)
    if os.path.dirname(index) == tmp:
        _link_shared_indexes(git_dir, tmp)
    env = _clean_env()
    env.update(GIT_DIR=tmp, GIT_WORK_TREE=work_tree, GIT_INDEX_FILE=index,
               GIT_OBJECT_DIRECTORY=os.path.join(common_dir, "objects"))
    return env


def _read_regular(path: str) -> bytes:
    """A regular file's bytes (up to 16 MiB), else b"": a FIFO or a device is never opened."""
    if not _is_regular(path):
        return b""
    try:
        with open(path, "rb") as f:
            return f.read(1 << 24)
    except OSError:
        return b""


def _link_shared_indexes(git_dir: str, index_dir: str) -> None:
    """A split index names its base `sharedindex.<id>`, which git looks for next to the index
    file: link the repository's (read only; writes are never split: core.splitIndex=false)."""
    try:
        names = [n for n in os.listdir(git_dir) if n.startswith("sharedindex.")]
    except OSError:
        return
    for name in names:
        try:
            os.symlink(os.path.join(git_dir, name), os.path.join(index_dir, name))
        except OSError:
            pass


# ------------------------------------------------------------------------------ locations


class LayoutError(Exception):
    """A repository layout the shim does not follow: its git directory is not where the work
    tree's `.git` says, or a `.git` file or `commondir` leads out of the repository."""


def trusted_git_dirs(top: str, git_dir: str, common_dir: str) -> tuple[str, str]:
    """(git dir, common dir), real paths, when they are where `top/.git` leads by git's own
    layouts — a `.git` folder that is its own common dir; a `.git` file of a linked worktree
    whose administrative folder `<common>/worktrees/<id>` points back at it; a `.git` file of a
    submodule or separated repository — else LayoutError: a vendor-written `.git` file,
    `commondir` or core.worktree must not send the shim's reads and writes elsewhere."""
    dot = os.path.join(top, ".git")
    real_dot, real_git, real_common = (os.path.realpath(p) for p in (dot, git_dir, common_dir))
    if os.path.isdir(dot):
        if real_git != real_dot:
            raise LayoutError(f"{top}: its git directory is {git_dir}, not {dot} (core.worktree)")
        if real_common != real_git:
            raise LayoutError(f"{dot} names another common directory ({common_dir})")
        return real_git, real_common
    if not os.path.isfile(dot):
        raise LayoutError(f"{top} has no .git of its own (its git directory {git_dir} sets core.worktree)")
    if real_common != real_git:  # a linked worktree
        if os.path.dirname(real_git) != os.path.join(real_common, "worktrees"):
            raise LayoutError(f"{dot} leads to {git_dir}, which is not a worktree of {common_dir}")
        try:
            with open(os.path.join(real_git, "gitdir"), "rb") as f:
                back = os.fsdecode(f.read(1 << 16).strip())
        except OSError:
            back = ""
        if os.path.realpath(back) != real_dot:
            raise LayoutError(f"{dot} leads to {git_dir}, which belongs to another worktree")
    return real_git, real_common
