"""Files only the user can read: every file the shims keep (journal runs, the usage ledger,
quota memory, the version cache, the Gemini home's settings) is made through these.

Files are 0600 in 0700 folders whatever the umask, never opened through a planted symbolic link,
never inherited by the vendor, and replaced by rename so a reader never sees half a file.
"""

from __future__ import annotations

import errno
import os

from normalize.emit import write_all

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | os.PathLike[str], within: str | None = None) -> str:
    """A folder only the user can read. Missing folders are made one by one, 0700 whatever the
    umask (makedirs would give the parents it makes the umask's mode). An existing folder keeps
    its mode: a root such as --journal /tmp is the user's choice, and every run folder inside is
    private anyway. A symbolic link in its place is refused, never followed (state planted by
    someone else) from `within` (default: the state folder, for a folder inside it) down."""
    path = os.path.abspath(os.fspath(path))
    missing = []
    probe = path
    while not os.path.lexists(probe):
        missing.append(probe)
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    _refuse_links(path, probe, within)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:
            pass  # another shim made it meanwhile
        else:
            chmod_private_dir(folder)
    _refuse_links(path, path, within)
    if not os.path.isdir(path):
        raise NotADirectoryError(20, "Not a directory", path)
    return path


def chmod_private_dir(path: str) -> None:
    """0700 for a folder just made (an odd umask may have taken bits the user needs), through
    a descriptor that refuses a link."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | NOFOLLOW)
    try:
        os.fchmod(fd, DIR_MODE)
    finally:
        os.close(fd)


def _refuse_links(path: str, upto: str, within: str | None = None) -> None:
    """No symbolic link from the state folder (`codex-shims`, when `path` is inside it; else
    `path` itself) down to `upto`: the folders above it are the user's, links and all."""
    from shims.state.folder import state_dir

    state = os.path.abspath(within or state_dir())
    top = path
    for name in (state, os.path.join(os.path.realpath(os.path.dirname(state)), os.path.basename(state))):
        if path == name or path.startswith(name + os.sep):
            top = name
    folder = upto
    while folder == top or folder.startswith(top + os.sep):
        if os.path.islink(folder):
            raise OSError(errno.ELOOP, f"refusing to write through a symbolic link: {folder}")
        folder = os.path.dirname(folder)


# Every state file is opened with these: never through a planted symbolic link, never
# inherited by the vendor.
NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def open_private(path: str, flags: int) -> int:
    """os.open for a state file: 0600, no link followed (a link at `path` fails clearly)."""
    try:
        fd = os.open(path, flags | NOFOLLOW, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link at the path
            raise OSError(errno.ELOOP, f"refusing to write through a symbolic link: {path}") from None
        raise
    if flags & os.O_CREAT:
        os.fchmod(fd, FILE_MODE)  # whatever the umask took
    return fd


def read_private(path: str) -> bytes:
    """The whole of a state file, not read through a link."""
    fd = open_private(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def state_bytes(data: bytes) -> bytes:
    """What a state file (ledger, quota memory, version cache, Gemini settings) may hold: the
    one redaction point for everything the shims keep besides the journal."""
    from shims.state.redact import current

    return current().redact(data)


def append_private(path: str, data: bytes) -> None:
    """One write to the end of a state file (concurrent shims never interleave lines)."""
    fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def replace_private_file(path: str, data: bytes) -> None:
    """`data` as the whole of `path` (0600), or `path` as it was: written to a new file beside
    it (a fresh random name, O_EXCL: never a planted file or link) and renamed over it; a link at
    `path` is replaced, not followed. The temp file never stays."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        write_private_file(tmp, data, new=True)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_private_file(path: str | os.PathLike[str], data: bytes, *, new: bool = False) -> None:
    """The whole of `data` in a 0600 file (any write error raises: a full disk, EFBIG); `new`:
    the file must not exist yet."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if new else os.O_TRUNC)
    fd = open_private(os.fspath(path), flags)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)
