"""One directory per task: result/, exec/, resource/, std/ and the packed artifacts (upstream 3.2 step 9)."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path, PurePosixPath


class PathEscapes(ValueError):
    """A resource's local_path would land outside the resource directory."""


class Workspace:
    def __init__(self, root: Path):
        self.root = root
        self.result = root / "result"
        self.exec = root / "exec"
        self.resource = root / "resource"
        self.std = root / "std"
        self.new_task = root / "new_task.json"

    def create(self) -> Workspace:
        for d in (self.result, self.exec, self.resource, self.std):
            d.mkdir(parents=True, exist_ok=True)
        self.new_task.unlink(missing_ok=True)
        return self

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    @property
    def stdout(self) -> Path:
        return self.std / "stdout.log"

    @property
    def stderr(self) -> Path:
        return self.std / "stderr.log"

    def resource_path(self, local_path: str) -> Path:
        """Where a resource goes; refuses absolute paths, `..` and symlinks that leave resource/."""
        rel = PurePosixPath(local_path)
        if not local_path or rel.is_absolute() or ".." in rel.parts:
            raise PathEscapes(local_path)
        base = self.resource.resolve()
        target = (base / rel).resolve()
        if target == base or base not in target.parents:
            raise PathEscapes(local_path)
        return target

    def pack(self, terminal_output: bool) -> list[tuple[str, Path]]:
        """Pack what the run left behind; return [(content_type, tarball)] to upload."""
        packed = []
        for content_type, source, arcname, wanted in (
            ("result", self.result, "result", _non_empty(self.result)),
            ("exec-log", self.exec, "exec-log", _non_empty(self.exec)),
            ("std-log", self.std, "std-log", terminal_output),
        ):
            if not wanted:
                continue
            tarball = self.root / f"{content_type}.tar.gz"
            with tarfile.open(tarball, "w:gz") as tar:
                if content_type == "std-log":
                    for name in ("stdout.log", "stderr.log"):
                        (source / name).touch()
                        tar.add(source / name, arcname=f"{arcname}/{name}", filter=_mode_0664)
                else:
                    tar.add(source, arcname=arcname)
            packed.append((content_type, tarball))
        return packed


def _non_empty(directory: Path) -> bool:
    return directory.is_dir() and any(directory.iterdir())


def _mode_0664(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mode = 0o664
    return info
