"""Confining a plugin's child with Linux Landlock (kernel ≥ 5.13): an unprivileged allow-list of the
paths the process may still open, applied to itself before the plugin's code is imported.

Process isolation (:mod:`benchmark.sandbox.process`) decides what the plugin is *given*; Landlock
decides what it can *take*: without it the child could open the default cache (the clean encoder's
checkpoint), the results directory (earlier records, their targets) or the real datasets (to
re-derive the draw). Allowed after :func:`confine`: read and execute in the interpreter's and the
installed packages' directories, the benchmark's code packages (not the repository root, which may
hold ``results/``), the plugin's own folder and the system's library directories; read and write in
the child's private working directory and a few device files. Where the kernel's ABI has them, TCP
bind/connect are denied (ABI ≥ 4) and signals and abstract unix sockets are scoped to the child's
own domain (ABI ≥ 6: it cannot kill the harness). A confined process cannot ptrace one outside its
domain (ABI 1). Rules apply to the calling thread and every thread or process it starts afterwards.

The system calls are made through ctypes (no dependency); their numbers are the same on x86-64 and
arm64 (the generic table). See the kernel's Documentation/userspace-api/landlock.rst.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterable, List, Optional, Sequence

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, PR_SET_NO_NEW_PRIVS = 1, 38

# Filesystem rights (bit i), by the ABI that introduced them.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_ABI1 = (1 << 13) - 1                 # execute … make_sym
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV   # the rights a rule on a file may carry

READ = EXECUTE | READ_FILE | READ_DIR
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/sys", "/opt")
DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
PROC_FILES = ("/proc/cpuinfo", "/proc/meminfo", "/proc/stat")


class RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


# Linux only: the syscall numbers above mean something else on other kernels.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def abi_version() -> int:
    """The kernel's Landlock ABI version, 0 where Landlock is absent or disabled (or not Linux)."""
    if _libc is None or not hasattr(_libc, "syscall"):
        return 0
    version = _libc.syscall(ctypes.c_long(SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
                            ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(int(version), 0)


def handled_fs(abi: int) -> int:
    """Every filesystem right the ABI knows: what is not granted by a rule is denied."""
    rights = FS_ABI1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock {what}: {os.strerror(err)}")
    return result


def _add(ruleset: int, path: str, rights: int) -> bool:
    """Allow ``rights`` beneath ``path`` (only file rights on a file); False if the path is absent."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        attr = PathBeneathAttr(rights, fd)
        _check(_libc.syscall(ctypes.c_long(SYS_ADD_RULE), ctypes.c_long(ruleset), ctypes.c_long(RULE_PATH_BENEATH),
                             ctypes.byref(attr), ctypes.c_long(0)), f"rule for {path}")
    finally:
        os.close(fd)
    return True


def confine(read: Iterable[str], read_write: Iterable[str], abi: Optional[int] = None) -> str:
    """Restrict this thread (and what it starts) to ``read`` (read, list, execute) and ``read_write``
    (everything) plus the system's library directories; TCP and outside signals denied where the ABI
    allows. Returns a one-line description of what applies. Raises OSError if Landlock is absent."""
    abi = abi_version() if abi is None else abi
    if abi < 1:
        raise OSError(errno.ENOSYS, "Landlock is not available in this kernel")
    fs = handled_fs(abi)
    attr = RulesetAttr(fs, (NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0,
                       (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = _check(_libc.syscall(ctypes.c_long(SYS_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size),
                                   ctypes.c_long(0)), "ruleset")
    try:
        for path in (*SYSTEM_DIRS, *PROC_FILES, *read):
            _add(ruleset, str(path), READ & fs)
        _add(ruleset, f"/proc/{os.getpid()}", READ & fs)
        for path in (*DEVICES, *read_write):
            _add(ruleset, str(path), fs)
        _check(_libc.prctl(ctypes.c_int(PR_SET_NO_NEW_PRIVS), ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
                           ctypes.c_ulong(0)), "no_new_privs")
        _check(_libc.syscall(ctypes.c_long(SYS_RESTRICT_SELF), ctypes.c_long(ruleset), ctypes.c_long(0)),
               "restrict_self")
    finally:
        os.close(ruleset)
    extras = (", no TCP" if abi >= 4 else "") + (", no signals outside the child" if abi >= 6 else "")
    return f"Landlock ABI {abi}: files limited to code, the plugin's folder and its working directory{extras}"


def code_paths(sys_path: Sequence[str], root: Path, packages: Sequence[str]) -> List[str]:
    """The directories the child may read code from: the repository root's code ``packages`` and
    every ``sys.path`` directory that is not the repository root (which may hold ``results/``), the
    home directory (the default cache), the temporary directory (other runs' files; a child's
    working directory, which ``python -m`` puts first on its path) or a directory above them."""
    root = root.resolve()
    protected = [root, Path.home().resolve(), Path(tempfile.gettempdir()).resolve()]
    out = [str(root / p) for p in packages]
    for entry in sys_path:
        path = Path(entry).resolve() if entry else None
        if path is None or not path.is_dir() or any(path == p or path in p.parents for p in protected):
            continue
        out.append(str(path))
    return out
