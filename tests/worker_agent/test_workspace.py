"""worker_agent.workspace.Workspaces: a workspace left as a fresh one is handed on, any other is deleted."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from worker_agent.workspace import Workspace, Workspaces


def _used(pool: Workspaces, uuid: str) -> Workspace:
    """A workspace as a command that wrote nothing leaves it: empty output files in std/."""
    ws = pool.take(uuid)
    ws.stdout.write_bytes(b"")
    ws.stderr.write_bytes(b"")
    return ws


def _fresh(ws: Workspace) -> bool:
    return all(d.is_dir() and not any(d.iterdir()) for d in (ws.result, ws.exec, ws.resource))


def test_a_pristine_workspace_becomes_the_next_tasks(tmp_path):
    pool = Workspaces(tmp_path)
    first = _used(pool, "a")
    inode = first.result.stat().st_ino
    pool.give_back(first)
    assert not first.root.exists() and pool.spare.is_dir()
    second = pool.take("b")
    assert second.root == tmp_path / "tasks" / "b"
    assert second.result.stat().st_ino == inode  # the same directories, renamed
    assert _fresh(second) and not pool.spare.exists()


def _file_in_result(ws: Workspace) -> None:
    (ws.result / "out.txt").write_text("r")


def _output(ws: Workspace) -> None:
    ws.stdout.write_text("hello\n")


def _symlinked_output(ws: Workspace) -> None:
    ws.stdout.unlink()
    ws.stdout.symlink_to(ws.root.parents[2] / "elsewhere")


def _hard_linked_output(ws: Workspace) -> None:
    ws.stdout.unlink()
    os.link(ws.root.parents[2] / "elsewhere", ws.stdout)


def _read_only_result(ws: Workspace) -> None:
    ws.result.chmod(0o500)


def _result_replaced_by_a_symlink(ws: Workspace) -> None:
    ws.result.rmdir()
    ws.result.symlink_to(ws.root.parents[2])


def _new_task_file(ws: Workspace) -> None:
    ws.new_task.write_text("{}")


@pytest.mark.parametrize(
    "leave",
    [_file_in_result, _output, _symlinked_output, _hard_linked_output, _read_only_result,
     _result_replaced_by_a_symlink, _new_task_file],
)  # fmt: skip
def test_a_workspace_left_otherwise_is_deleted(tmp_path, leave: Callable[[Workspace], None]):
    (tmp_path / "elsewhere").write_bytes(b"")
    pool = Workspaces(tmp_path / "work")
    ws = _used(pool, "a")
    leave(ws)
    pool.give_back(ws)
    assert not ws.root.exists() and not pool.spare.exists()
    assert (tmp_path / "elsewhere").read_bytes() == b""  # nothing followed a link out
    assert _fresh(pool.take("b"))


def test_a_spare_written_to_after_it_was_kept_is_not_handed_on(tmp_path):
    pool = Workspaces(tmp_path)
    pool.give_back(_used(pool, "a"))
    (pool.spare / "exec" / "late.log").write_text("a process of the last task wrote this")
    ws = pool.take("b")
    assert _fresh(ws) and not (ws.exec / "late.log").exists()


def test_without_a_spare_a_task_gets_fresh_directories(tmp_path):
    pool = Workspaces(tmp_path)
    first = _used(pool, "a")
    pool.give_back(first)
    os.rename(pool.spare, tmp_path / "gone")
    ws = pool.take("b")
    assert _fresh(ws) and ws.std.is_dir()
