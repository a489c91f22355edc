"""Agents with slots, live: one `mito worker --slots N` process, a real coordinator, real task processes.

Times come from the database (a task's claim while it is active, its commit as the archived row's
updated_at) and what the tasks saw from their own result artifacts, never from how long a test took.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tarfile
import uuid as uuid_mod
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import db
from app.models import ActiveTask, ArchivedTask, TaskExecState, Worker
from app.services import worker as worker_service
from client.sdk import Mitosis
from mito.vocab import EXCLUSIVE_TAG, GPU_TAG, TaskState, WorkerRemoval
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.helpers import ROOT, wait_until
from tests.integration.agents import Agent

pytestmark = pytest.mark.integration


@pytest.fixture
def sdk(live_coordinator):
    with Mitosis(live_coordinator.url) as sdk:
        sdk.login(ADMIN_USER, ADMIN_PASSWORD)
        yield sdk


@pytest.fixture
def start_agent(live_coordinator, sdk, tmp_path, request):
    """Start `mito worker --slots ...` as the admin, with a tag and label of this test (its tasks carry the
    tag); wait until every slot is registered; returns (agent, label)."""
    started: list[Agent] = []
    label = f"slots-{request.node.name[-40:]}-{uuid_mod.uuid4().hex[:6]}"

    def start(*args: str, slots: int) -> tuple[Agent, str]:
        agent = Agent(
            live_coordinator.url,
            tmp_path,
            ADMIN_USER,
            ADMIN_PASSWORD,
            sdk,
            *args,
            MITO_LABELS=label,
            MITO_TAGS=label,
        )
        started.append(agent)
        wait_until(lambda: len(_workers(label)) == slots, timeout=30, what=f"{slots} slots registered")
        return agent, label

    yield start
    for agent in started:
        agent.stop()


def _session_query(fn):
    try:
        return fn(db.session)
    finally:
        db.session.remove()


def _workers(label: str) -> list[Worker]:
    """The live workers carrying `label` (the slots of one agent)."""
    return _session_query(
        lambda s: [w for w in s.scalars(sa.select(Worker)).all() if label in (w.labels or [])]
    )


def _active(uuids: list[str]) -> dict[str, ActiveTask]:
    keys = [uuid_mod.UUID(u) for u in uuids]
    return _session_query(
        lambda s: {str(t.uuid): t for t in s.scalars(sa.select(ActiveTask).where(ActiveTask.uuid.in_(keys)))}
    )


def _archived(uuids: list[str]) -> dict[str, ArchivedTask]:
    keys = [uuid_mod.UUID(u) for u in uuids]
    return _session_query(
        lambda s: {
            str(t.uuid): t for t in s.scalars(sa.select(ArchivedTask).where(ArchivedTask.uuid.in_(keys)))
        }
    )


def _submit(sdk: Mitosis, script: str, tags: list[str], **envs: str) -> str:
    return str(
        sdk.submit_task(group_name=ADMIN_USER, args=["sh", "-c", script], tags=tags, envs=envs, timeout="5m")[
            "uuid"
        ]
    )


def _result_file(sdk: Mitosis, uuid: str, name: str, tmp_path: Path) -> str:
    """A file the task wrote to $MITO_RESULT_DIR, read from its result artifact in the store."""
    dest = tmp_path / f"{uuid}.tar.gz"
    sdk.fetch_artifact(uuid, "result", dest)
    with tarfile.open(dest) as tar:
        member = tar.extractfile(f"result/{name}")
        assert member is not None
        return io.TextIOWrapper(member).read().strip()


def _claims(uuids: list[str]) -> dict[str, datetime]:
    """The claim time of each of the tasks that is active and claimed."""
    return {u: t.claimed_at for u, t in _active(uuids).items() if t.claimed_at is not None}


def test_four_slots_run_four_held_tasks_at_once(app, sdk, start_agent, tmp_path):
    _, label = start_agent("--slots", "4", slots=4)
    gate = tmp_path / "gate"
    # Each task runs until the gate opens, and the gate opens once all four are claimed: a fixed-length task
    # (it was `sleep 2`) could end before a slow machine had submitted and claimed the fourth.
    held = 'while [ ! -e "$GATE" ]; do sleep 0.05; done'
    uuids = [_submit(sdk, held, [label], GATE=str(gate)) for _ in range(4)]
    with app.app_context():
        claims = wait_until(lambda: len(c := _claims(uuids)) == 4 and c, interval=0.05, what="four claims")
        gate.touch()
        wait_until(lambda: len(_archived(uuids)) == 4, interval=0.05, what="tasks committed")
        archived = _archived(uuids)
        slot_workers = {w.uuid for w in _workers(label)}
    assert len(claims) == 4, "every task was seen held by a slot"
    assert {t.state for t in archived.values()} == {TaskState.Finished}
    assert all(t.exit_status == 0 for t in archived.values())
    assert {t.reporter_uuid for t in archived.values()} == slot_workers, "one task per slot"
    # all four were held at one moment: the last claim came before the first commit
    assert max(claims.values()) < min(t.updated_at for t in archived.values())


def test_gpus_and_cpus_per_slot_reach_each_slots_tasks(app, sdk, start_agent, tmp_path):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.fail("this test needs two usable cores")
    _, label = start_agent("--gpus", "0,1", "--cpus-per-slot", "1", slots=2)
    gate = tmp_path / "gate"
    # both tasks run at once (each waits until both have started), so each runs on its own slot
    script = (
        'touch "$GATE.$MITO_TASK_UUID"; while [ "$(ls "$GATE".* | wc -l)" -lt 2 ]; do sleep 0.05; done; '
        'echo "$CUDA_VISIBLE_DEVICES" > "$MITO_RESULT_DIR/cuda"; '
        'grep Cpus_allowed_list /proc/self/status | cut -f2 > "$MITO_RESULT_DIR/cpus"'
    )
    uuids = [_submit(sdk, script, [label, GPU_TAG], GATE=str(gate), CUDA_VISIBLE_DEVICES="7") for _ in (1, 2)]
    for uuid in uuids:
        assert sdk.wait_task(uuid, timeout=60, interval=0.2)["state"] == "Finished"
    cuda = sorted(_result_file(sdk, u, "cuda", tmp_path) for u in uuids)
    cpus = sorted(_result_file(sdk, u, "cpus", tmp_path) for u in uuids)
    assert cuda == ["0", "1"], "each slot's own device; the task's CUDA_VISIBLE_DEVICES=7 does not win"
    usable = sorted(os.sched_getaffinity(0))
    assert cpus == sorted(str(c) for c in usable[:2])
    with app.app_context():
        tags = sorted((sorted(w.tags) for w in _workers(label)), key=len)
    assert tags == [sorted([label, GPU_TAG]), sorted([label, GPU_TAG, EXCLUSIVE_TAG])]


def _holder_of(uuid: str) -> int | None:
    task = _active([uuid]).get(uuid)
    return task.assigned_worker if task is not None and task.state == TaskState.Running else None


def _spawned(uuid: str) -> bool:
    task = _active([uuid]).get(uuid)
    return task is not None and task.exec_state == TaskExecState.ExecSpawned


def _heartbeat(worker_id: int) -> datetime:
    return _session_query(lambda s: s.scalar(sa.select(Worker.last_heartbeat).where(Worker.id == worker_id)))


def test_exclusive_task_waits_for_the_other_slots_and_holds_them(app, sdk, start_agent, tmp_path):
    agent, label = start_agent("--slots", "2", slots=2)
    gates = {name: tmp_path / name for name in ("a", "b", "e", "later")}
    held = 'echo started > "$MITO_RESULT_DIR/started"; while [ ! -e "$GATE" ]; do sleep 0.05; done'
    with app.app_context():
        exclusive_slot = next(w.id for w in _workers(label) if EXCLUSIVE_TAG in w.tags)
        a, b = (_submit(sdk, held, [label], GATE=str(gates[n])) for n in ("a", "b"))
        wait_until(lambda: _holder_of(a) and _holder_of(b), timeout=30, what="both slots busy")
        on_slot0, on_slot1 = (a, b) if _holder_of(a) == exclusive_slot else (b, a)
        other_slot = _holder_of(on_slot1)
        e = _submit(sdk, held, [label, EXCLUSIVE_TAG], GATE=str(gates["e"]))
        # slot 0 ends its task and claims the exclusive one, which waits: slot 1 is still busy
        (gates["a"] if on_slot0 == a else gates["b"]).touch()
        wait_until(
            lambda: _holder_of(e) == exclusive_slot, timeout=30, what="slot 0 claimed the exclusive task"
        )
        wait_until(
            lambda: f"task {e} is exclusive: waiting for 1 other slot(s)" in agent.log_path.read_text(),
            timeout=30,
            what="the exclusive task waits",
        )
        later = _submit(sdk, held, [label], GATE=str(gates["later"]))
        assert _active([e])[e].exec_state is None, "the exclusive task has not started while slot 1 is busy"
        # slot 1 ends its task: the exclusive one starts, and slot 1 fetches nothing meanwhile
        (gates["b"] if on_slot1 == b else gates["a"]).touch()
        wait_until(lambda: _spawned(e), timeout=30, what="the exclusive task runs")
        assert on_slot1 in _archived([on_slot1]), "it started only after the other slot's task was committed"
        beat = _heartbeat(other_slot)
        for _ in range(2):  # slot 1 polls every 0.2 s and heartbeats every 0.5 s: let it heartbeat twice
            wait_until(lambda b=beat: _heartbeat(other_slot) > b, timeout=30, what="slot 1 heartbeat")
            beat = _heartbeat(other_slot)
        assert _active([later])[later].state == TaskState.Ready, "slot 1 holds off while the exclusive runs"
        gates["e"].touch()
        wait_until(
            lambda: _holder_of(later) is not None or later in _archived([later]), timeout=30, what="later"
        )
        gates["later"].touch()
        wait_until(lambda: len(_archived([a, b, e, later])) == 4, timeout=30, what="all committed")
        archived = _archived([a, b, e, later])
    assert all(t.exit_status == 0 for t in archived.values())


def test_sigterm_stops_every_slot_and_hands_their_tasks_back(app, sdk, start_agent):
    agent, label = start_agent("--slots", "3", slots=3)
    uuids = [_submit(sdk, "sleep 600", [label]) for _ in range(3)]
    with app.app_context():
        wait_until(lambda: all(_spawned(u) for u in uuids), timeout=30,
                   what="three tasks running")  # fmt: skip
        agent.proc.send_signal(signal.SIGTERM)
        assert agent.proc.wait(timeout=60) == 0
        assert _workers(label) == [], "every slot unregistered"
        tasks = _active(uuids)
    assert {t.state for t in tasks.values()} == {TaskState.Ready}, "handed back, nothing committed"


def test_a_crashing_task_leaves_the_other_slots_alone(app, sdk, start_agent, tmp_path):
    _, label = start_agent("--slots", "2", slots=2)
    gate = tmp_path / "gate"
    survivor = _submit(sdk, 'while [ ! -e "$GATE" ]; do sleep 0.05; done', [label], GATE=str(gate))
    with app.app_context():
        wait_until(lambda: _holder_of(survivor), timeout=30, what="the survivor runs")
        crash = _submit(sdk, "kill -SEGV $$", [label])
        wait_until(lambda: crash in _archived([crash]), timeout=30, what="the crash committed")
        assert _archived([crash])[crash].exit_status == -signal.SIGSEGV
        assert _holder_of(survivor) is not None, "the other slot's task still runs"
        gate.touch()
        wait_until(lambda: survivor in _archived([survivor]), timeout=30, what="the survivor committed")
        assert _archived([survivor])[survivor].exit_status == 0


def test_a_slot_removed_by_the_coordinator_registers_again_and_the_others_go_on(
    app, sdk, start_agent, tmp_path
):
    agent, label = start_agent("--slots", "2", slots=2)
    gate = tmp_path / "gate"
    survivor = _submit(sdk, 'while [ ! -e "$GATE" ]; do sleep 0.05; done', [label], GATE=str(gate))
    with app.app_context():
        wait_until(lambda: _spawned(survivor), timeout=30, what="the survivor runs")
        holder = _holder_of(survivor)
        [idle] = [w for w in _workers(label) if w.id != holder]
        idle_uuid, idle_slot = idle.uuid, 0 if EXCLUSIVE_TAG in idle.tags else 1
        worker_service.remove_worker(worker=idle, reason=WorkerRemoval.HeartbeatTimeout)
        db.session.remove()
        wait_until(
            lambda: len(_workers(label)) == 2 and idle_uuid not in {w.uuid for w in _workers(label)},
            timeout=60,
            what="the removed slot registered again",
        )
        assert agent.proc.poll() is None
        assert _holder_of(survivor) == holder, "the other slot's task was never touched"
        gate.touch()
        wait_until(lambda: survivor in _archived([survivor]), timeout=30, what="the survivor committed")
        assert _archived([survivor])[survivor].exit_status == 0
    assert f"slot {idle_slot}: its worker was removed; registering it again" in agent.log_path.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slots", "0"], "--slots must be at least 1, not 0"),
        (["--slots", "two"], "slots: 'two' is not valid"),
        (["--gpus", "0,1,2", "--slots", "2"], "--gpus lists 3 device(s), which do not share out evenly"),
        (["--cpus-per-slot", "0"], "--cpus-per-slot must be at least 1"),
        (["--cpus-per-slot", "4096", "--slots", "2"], "--cpus-per-slot 4096 with 2 slots needs 8192 cores"),
    ],
)
def test_bad_slot_options_are_usage_errors_and_register_nothing(live_coordinator, args, message, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
    env.update(MITO_CONFIG=str(tmp_path / "none.toml"), MITO_CREDENTIAL_PATH=str(tmp_path / "cred.json"))
    proc = subprocess.run(
        [sys.executable, "-m", "mito", "worker", "--coordinator", live_coordinator.url,
         "--user", ADMIN_USER, "--password", ADMIN_PASSWORD, *args],
        env=env, capture_output=True, text=True, timeout=60, cwd=str(ROOT),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "cred.json").exists(), "it never logged in"
    assert "Traceback" not in proc.stderr
