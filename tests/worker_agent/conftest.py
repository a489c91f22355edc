"""Fixtures of the agent's unit tests: the in-memory coordinator and agents bound to it."""

from __future__ import annotations

import pytest

from tests.worker_agent.fake import BASE, FakeCoordinator
from worker_agent.agent import Agent
from worker_agent.config import WorkerConfig


@pytest.fixture
def fake():
    return FakeCoordinator()


@pytest.fixture
def make_agent(fake, tmp_path):
    agents = []

    def make(**overrides) -> Agent:
        config = WorkerConfig(
            coordinator=BASE, user="alice", password="pw", tags=["t"], groups=["g"], polling_interval=0.05,
            heartbeat_interval=0.05, kill_grace=1.0, work_dir=tmp_path / "work",
            credential_path=tmp_path / "cred.json",
        )  # fmt: skip
        for key, value in overrides.items():
            setattr(config, key, value)
        agent = Agent(config, transport=fake.client())
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.stopping.set()
        agent.forced.set()
