"""One directory per task: result/, exec/, resource/, std/ and the packed artifacts (upstream 3.2 step 9).

Creating five directories and deleting them again costs milliseconds of file-system work per task (ext4:
~2.7 ms, as much as the rest of a no-op task). So an agent's `Workspaces` keep the directories of a task
that left nothing behind (the common case: a command that writes no result files and no output) and
rename them into the next task's place: two renames per task. Only a workspace found exactly as a fresh one
is (the four directories empty, with their fresh modes, std/ holding nothing but empty, unlinked, regular
output files) is kept; anything else is deleted as before, and the next task gets fresh directories.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from pathlib import Path, PurePosixPath

from mito.vocab import ArtifactContentType


class PathEscapes(ValueError):
    """A resource's local_path would land outside the resource directory."""


class Workspace:
    """The directories of one task under `root`."""

    def __init__(self, root: Path):
        self.root = root
        self.result = root / "result"
        self.exec = root / "exec"
        self.resource = root / "resource"
        self.std = root / "std"
        self.new_task = root / "new_task.json"

    def create(self) -> Workspace:
        """Create the directories and drop a stale MITO_NEW_TASK file."""
        for d in (self.result, self.exec, self.resource, self.std):
            d.mkdir(parents=True, exist_ok=True)
        self.new_task.unlink(missing_ok=True)
        return self

    def remove(self) -> None:
        """Delete everything of this task."""
        shutil.rmtree(self.root, ignore_errors=True)

    def pristine(self, mode: int) -> bool:
        """Whether the workspace is as a fresh one: the four directories (of `mode`) empty, but for the
        output files in std/ if they are empty regular files with no other link."""
        try:
            with os.scandir(self.root) as entries:
                if sorted(e.name for e in entries) != ["exec", "resource", "result", "std"]:
                    return False
            for directory in (self.result, self.exec, self.resource, self.std):
                info = os.lstat(directory)
                if not stat.S_ISDIR(info.st_mode) or stat.S_IMODE(info.st_mode) != mode:
                    return False
            for directory in (self.result, self.exec, self.resource):
                with os.scandir(directory) as entries:
                    if next(entries, None) is not None:
                        return False
            with os.scandir(self.std) as entries:
                for e in entries:
                    if e.name not in ("stdout.log", "stderr.log"):
                        return False
                    info = e.stat(follow_symlinks=False)
                    if not stat.S_ISREG(info.st_mode) or info.st_size or info.st_nlink != 1:
                        return False
        except OSError:
            return False
        return True

    @property
    def stdout(self) -> Path:
        """Where the command's stdout goes (shipped live; kept as std-log when terminal_output is set)."""
        return self.std / "stdout.log"

    @property
    def stderr(self) -> Path:
        """Where the command's stderr goes (shipped live; kept as std-log when terminal_output is set)."""
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

    def pack(self, terminal_output: bool) -> list[tuple[ArtifactContentType, Path]]:
        """Pack what the run left behind; return [(content_type, tarball)] to upload."""
        packed = []
        for content_type, source, wanted in (
            (ArtifactContentType.Result, self.result, _non_empty(self.result)),
            (ArtifactContentType.ExecLog, self.exec, _non_empty(self.exec)),
            (ArtifactContentType.StdLog, self.std, terminal_output),
        ):
            if not wanted:
                continue
            tarball = self.root / content_type.filename
            arcname = content_type.wire
            with tarfile.open(tarball, "w:gz") as tar:
                if content_type is ArtifactContentType.StdLog:
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


class Workspaces:
    """The workspaces of one agent (one slot): `tasks/<uuid>` under its work directory, one task at a time.

    A task that left its workspace pristine hands it on: `spare/` is renamed into the next task's place,
    and looked at again there.
    """

    def __init__(self, work_dir: Path):
        self.work_dir = work_dir
        self.tasks = work_dir / "tasks"
        self.spare = work_dir / "spare"
        self._mode: int | None = None  # the permissions of a freshly made directory (the umask's)

    def take(self, uuid: str) -> Workspace:
        """The workspace of task `uuid`: the spare one renamed, else freshly created."""
        ws = Workspace(self.tasks / uuid)
        if self._mode is not None:
            try:
                os.rename(self.spare, ws.root)  # fails when there is no spare (or a non-empty root)
            except OSError:
                pass
            else:
                if ws.pristine(self._mode):  # checked again: nothing wrote into it since
                    return ws
                ws.remove()
        ws.create()
        self._mode = stat.S_IMODE(os.lstat(ws.result).st_mode)
        return ws

    def give_back(self, ws: Workspace) -> None:
        """The task is done with its workspace: kept as the spare if pristine, else deleted."""
        if self._mode is not None and ws.pristine(self._mode):
            try:
                os.rename(ws.root, self.spare)
                return
            except OSError:
                pass
        ws.remove()
