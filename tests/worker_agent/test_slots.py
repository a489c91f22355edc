"""Slot settings, the layout of one agent's slots, and the host gate (unit level; live: tests/integration)."""

from __future__ import annotations

import threading

import pytest

from mito.vocab import EXCLUSIVE_TAG, GPU_TAG
from worker_agent.config import load_config
from worker_agent.gate import HostGate
from worker_agent.slots import lay_out


def _config(**flags):
    return load_config(flags, env={}, config_file="/nonexistent.toml")


def test_gpus_alone_give_one_slot_per_device():
    assert _config(gpus="0,1,2").slots == 3


def test_slots_from_the_environment():
    config = load_config({}, env={"MITO_SLOTS": "4", "MITO_CPUS_PER_SLOT": "2"}, config_file="/none.toml")
    assert (config.slots, config.cpus_per_slot) == (4, 2)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"slots": "0"}, "--slots must be at least 1, not 0"),
        ({"slots": "-2"}, "--slots must be at least 1, not -2"),
        ({"slots": "many"}, "slots: 'many' is not valid"),
        ({"slots": "2", "gpus": "0,1,2"}, "--gpus lists 3 device(s), which do not share out evenly among 2"),
        ({"slots": "4", "gpus": "0,1"}, "--gpus lists 2 device(s)"),
        ({"cpus_per_slot": "0"}, "--cpus-per-slot must be at least 1, not 0"),
    ],
)
def test_bad_slot_settings_are_refused(flags, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _config(**flags)


def test_layout_shares_gpus_and_cores_and_gives_slot_0_the_exclusive_tag():
    config = _config(slots="2", gpus="0,1,2,3", cpus_per_slot="2", tags="fast,exclusive")
    first, second = lay_out(config, cpus=[0, 1, 2, 3, 4])
    assert first.task_env == {"CUDA_VISIBLE_DEVICES": "0,1"}
    assert second.task_env == {"CUDA_VISIBLE_DEVICES": "2,3"}
    assert (first.cpus, second.cpus) == ([0, 1], [2, 3])
    assert first.tags == ["fast", GPU_TAG, EXCLUSIVE_TAG]
    assert second.tags == ["fast", GPU_TAG], "only slot 0 may take an exclusive task"


def test_layout_without_devices_or_pinning_changes_only_the_tags():
    [only] = lay_out(_config(tags="a"), cpus=[0])
    assert (only.tags, only.task_env, only.cpus) == (["a", EXCLUSIVE_TAG], {}, None)


def test_layout_refuses_more_cores_than_the_process_may_use():
    with pytest.raises(
        ValueError, match="--cpus-per-slot 2 with 3 slots needs 6 cores; this process may use 4"
    ):
        lay_out(_config(slots="3", cpus_per_slot="2"), cpus=[0, 1, 2, 3])


def test_a_hold_waits_for_the_other_busy_slot_and_keeps_it_from_entering():
    gate, stop, events = HostGate(), threading.Event(), []
    assert gate.enter(stop) and gate.enter(stop)  # slot 0 and slot 1 are both busy
    held = threading.Event()

    def exclusive() -> None:
        with gate.hold("e", stop):
            events.append("exclusive runs")
            held.set()
            release.wait(5)
            events.append("exclusive ends")

    release = threading.Event()
    thread = threading.Thread(target=exclusive)
    thread.start()
    assert not held.wait(0.3), "it waits while slot 1 is busy"
    events.append("slot 1 leaves")
    gate.leave()
    assert held.wait(5)
    entered = threading.Event()
    other = threading.Thread(
        target=lambda: gate.enter(stop) and (events.append("slot 1 enters"), entered.set())
    )
    other.start()
    assert not entered.wait(0.3), "slot 1 stays out while the exclusive task runs"
    release.set()
    thread.join(5)
    other.join(5)
    assert events == ["slot 1 leaves", "exclusive runs", "exclusive ends", "slot 1 enters"]


def test_a_stop_ends_the_waits():
    gate, stop = HostGate(), threading.Event()
    assert gate.enter(stop) and gate.enter(stop)
    stop.set()
    with gate.hold("e", stop):  # returns at once: the steps hand the task back
        assert not gate.enter(stop)
