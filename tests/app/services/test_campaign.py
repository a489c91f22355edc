"""Campaigns (app/services/campaign.py), services called directly with an actor: creation, status counts,
task pages, cancel, and the plan of the status statement."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from app import auth, db
from app.errors import AlreadyExists, Forbidden, InvalidRequest, NotFound
from app.models import ActiveTask, ArchivedTask, Campaign, Group, GroupWorker, Role, TaskState, User, Worker
from app.services import agent_protocol, campaign, group, task
from app.services import user as user_service
from app.services.agent_protocol import Cancel, Commit, Finish
from tests.conftest import BACKEND


def spec(*args: str, envs: dict[str, str] | None = None) -> dict[str, Any]:
    return {"args": list(args), "envs": envs or {}, "resources": [], "terminal_output": False, "watch": None}


def request(group_name: str, *args: str, **fields: Any) -> dict[str, Any]:
    """A loaded CreateCampaignReq."""
    envs = fields.pop("envs", None)
    return {
        "group_name": group_name,
        "name": fields.pop("name", None),
        "parameters": [{"name": n, "values": v} for n, v in fields.pop("parameters", {}).items()],
        "points": fields.pop("points", None),
        "repeat": fields.pop("repeat", 1),
        "task": {"tags": [], "labels": fields.pop("labels", []), "timeout": 60, "priority": 0,
                 "task_spec": spec(*args, envs=envs)},
    }  # fmt: skip


class Lab:
    """Users in a group `lab` (alice Admin, rita Read), and a worker serving it."""

    def __init__(self) -> None:
        self.alice = self.user("alice")
        self.rita = self.user("rita")
        self.eve = self.user("eve")
        self.group = group.create_group(actor=self.alice, group_name="lab")
        group.update_user_roles(actor=self.alice, group_name="lab", relations={"rita": Role.Read})
        self.worker = Worker(creator_id=self.alice.id, tags=[], labels=[], expires_at=db.utcnow())
        db.session.add(self.worker)
        db.session.flush()
        db.session.add(GroupWorker(group_id=self.group.id, worker_id=self.worker.id, role=Role.Write))
        db.session.commit()

    @staticmethod
    def user(name: str) -> User:
        return user_service.create_user(username=name, md5_password=auth.md5_bytes("pw"))

    def sweep(self, **fields: Any) -> Campaign:
        """The 3x2 iperf3 sweep by default; with other parameters, `true` for every point."""
        args = ("true",) if "parameters" in fields else ("iperf3", "-b", "{rate}M", "-n", "{size}")
        fields.setdefault("parameters", {"rate": ["10", "20", "50"], "size": ["1k", "1M"]})
        return campaign.create_campaign(actor=self.alice, req=request("lab", *args, **fields))

    def run_next(self, exit_status: int = 0, *, cancel: bool = False, msg: str | None = None) -> ActiveTask:
        """The worker claims the next task and commits it with `exit_status` (as its agent would)."""
        claimed = agent_protocol.fetch_task(worker=self.worker)
        assert claimed is not None
        agent_protocol.report_task(
            worker=self.worker, task_id=claimed.id, op=Cancel() if cancel else Finish()
        )
        agent_protocol.report_task(worker=self.worker, task_id=claimed.id, op=Commit(exit_status, msg))
        return claimed

    def status(self, name: str) -> campaign.CampaignStatus:
        return campaign.campaign_status(actor=self.alice, group_name="lab", name=name)


@pytest.fixture
def lab(app_ctx):
    yield Lab()
    db.session.rollback()


def _tasks(c: Campaign) -> list[ActiveTask]:
    return list(
        db.session.scalars(
            sa.select(ActiveTask).where(ActiveTask.campaign_id == c.id).order_by(ActiveTask.id)
        )
    )


def test_a_3x2_sweep_with_repeat_2_makes_12_tasks_round_by_round(lab):
    c = lab.sweep(repeat=2, name="iperf", labels=["exp"])
    tasks = _tasks(c)
    assert (c.task_count, len(tasks)) == (12, 12)
    points = [{"rate": r, "size": s} for r in ("10", "20", "50") for s in ("1k", "1M")]
    assert [(t.params, t.campaign_repeat) for t in tasks] == [(p, n) for n in (1, 2) for p in points]
    first = tasks[0]
    assert first.spec["args"] == ["iperf3", "-b", "10M", "-n", "1k"]
    assert first.labels == ["exp", "rate=10", "size=1k"]
    assert first.state is TaskState.Ready and first.group_id == lab.group.id
    assert [t.task_id for t in tasks] == list(range(1, 13))
    assert first.campaign_point == {"name": "iperf", "params": {"rate": "10", "size": "1k"}, "repeat": 1}
    assert c.parameter_names == ["rate", "size"]


def test_a_campaign_without_a_name_gets_the_programs_name_and_a_suffix(lab):
    c = lab.sweep()
    assert c.name.startswith("iperf3-") and len(c.name) == len("iperf3-") + 6


def test_a_taken_name_is_refused_and_nothing_is_submitted(lab):
    lab.sweep(name="once")
    with pytest.raises(AlreadyExists):
        lab.sweep(name="once")
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ActiveTask)) == 6


def test_bad_input_submits_nothing(lab):
    with pytest.raises(InvalidRequest, match="unknown|Unknown placeholder"):
        campaign.create_campaign(
            actor=lab.alice, req=request("lab", "run", "{nope}", parameters={"a": ["1"]})
        )
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ActiveTask)) == 0
    assert db.session.get(Group, lab.group.id).task_count == 0


@pytest.mark.parametrize(("who", "allowed"), [("alice", True), ("rita", False), ("eve", False)])
def test_creating_needs_write_in_the_group(lab, who, allowed):
    actor = getattr(lab, who)
    req = request("lab", "true", parameters={"a": ["1", "2"]})
    if allowed:
        assert campaign.create_campaign(actor=actor, req=req).task_count == 2
    else:
        with pytest.raises(Forbidden):
            campaign.create_campaign(actor=actor, req=req)


@pytest.mark.parametrize(("who", "allowed"), [("alice", True), ("rita", True), ("eve", False)])
def test_reading_needs_membership(lab, who, allowed):
    c = lab.sweep(name="s")
    actor = getattr(lab, who)
    reads = [
        lambda: campaign.get_campaign(actor=actor, group_name="lab", name="s"),
        lambda: campaign.campaign_status(actor=actor, group_name="lab", name="s"),
        lambda: campaign.campaign_tasks(actor=actor, group_name="lab", name="s", limit=10, cursor=None),
        lambda: campaign.list_campaigns(actor=actor, group_name="lab", limit=10, cursor=None),
    ]
    for read in reads:
        if allowed:
            assert read() is not None
        else:
            with pytest.raises(Forbidden):
                read()
    assert c.name == "s"


def test_a_site_admin_reads_any_campaign(lab):
    lab.sweep(name="s")
    admin = db.session.scalar(sa.select(User).where(User.admin.is_(True)))
    assert campaign.campaign_status(actor=admin, group_name="lab", name="s").campaign.task_count == 6


def test_an_unknown_campaign_is_404_for_members_and_403_for_others(lab):
    with pytest.raises(NotFound, match="Campaign nope not found in group lab"):
        campaign.get_campaign(actor=lab.rita, group_name="lab", name="nope")
    with pytest.raises(Forbidden):
        campaign.get_campaign(actor=lab.eve, group_name="lab", name="nope")


def test_status_counts_states_and_outcomes_as_tasks_move(lab):
    c = lab.sweep(name="s")
    before = lab.status("s")
    assert before.counts == {"Pending": 0, "Ready": 6, "Running": 0, "Finished": 0, "Cancelled": 0}
    assert before.outcomes == {"succeeded": 0, "failed": 0, "cancelled": 0} and not before.done

    lab.run_next(0)
    failed = lab.run_next(3)
    timed_out = lab.run_next(-15, cancel=True, msg="ExecTimeout")
    running = agent_protocol.fetch_task(worker=lab.worker)
    task.cancel_task(actor=lab.alice, task_uuid=_tasks(c)[-1].uuid)  # a Ready one, cancelled by its user

    now = lab.status("s")
    assert now.counts == {"Pending": 0, "Ready": 1, "Running": 1, "Finished": 2, "Cancelled": 2}
    assert now.outcomes == {"succeeded": 1, "failed": 2, "cancelled": 1}
    assert (now.committed, now.done) == (4, False)
    assert [(f.uuid, f.exit_status) for f in now.failures] == [(failed.uuid, 3), (timed_out.uuid, -15)]
    assert now.failures[1].result["msg"] == "ExecTimeout"
    assert running is not None


def test_status_is_done_when_every_task_is_committed(lab):
    lab.sweep(name="s", parameters={"a": ["1", "2"]})
    lab.run_next(0)
    lab.run_next(0)
    final = lab.status("s")
    assert final.done and final.outcomes["succeeded"] == 2 and final.counts["Finished"] == 2


def test_outcome_of_agrees_with_the_sql_outcome(lab):
    c = lab.sweep(name="s")
    lab.run_next(0)
    lab.run_next(1)
    lab.run_next(0, cancel=True, msg="UserCancellation")
    lab.run_next(0, cancel=True, msg="ResourceNotFound")
    archived = db.session.scalars(sa.select(ArchivedTask).where(ArchivedTask.campaign_id == c.id)).all()
    failed = set(db.session.scalars(sa.select(ArchivedTask.uuid).where(*campaign._failed(c))))
    outcomes = {t.uuid: campaign.outcome_of(t) for t in archived}
    assert sorted(o.value for o in outcomes.values()) == ["cancelled", "failed", "failed", "succeeded"]
    assert failed == {u for u, o in outcomes.items() if o is campaign.PointOutcome.Failed}


def test_tasks_come_in_keyset_pages_across_active_and_archived_tasks(lab):
    c = lab.sweep(name="s")
    lab.run_next(0)  # the first task is archived now, the others still active
    seen, cursor = [], None
    while True:
        page = campaign.campaign_tasks(actor=lab.rita, group_name="lab", name="s", limit=4, cursor=cursor)
        seen.extend(page.tasks)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == 6 and [row.task.task_id for row in seen] == list(range(1, 7))
    assert seen[0].outcome is campaign.PointOutcome.Succeeded and seen[0].exit_status == 0
    assert seen[0].worker_uuid == lab.worker.uuid
    assert seen[1].outcome is None and seen[1].exit_status is None
    assert c.task_count == 6


def test_a_bad_cursor_is_400(lab):
    lab.sweep(name="s")
    with pytest.raises(InvalidRequest, match="Invalid cursor"):
        campaign.campaign_tasks(actor=lab.alice, group_name="lab", name="s", limit=4, cursor="x1")


def test_campaigns_are_listed_newest_first_in_pages(lab):
    for n in range(3):
        lab.sweep(name=f"c{n}", parameters={"a": ["1"]})
    first = campaign.list_campaigns(actor=lab.alice, group_name="lab", limit=2, cursor=None)
    assert [c.name for c in first.campaigns] == ["c2", "c1"] and first.next_cursor is not None
    rest = campaign.list_campaigns(actor=lab.alice, group_name="lab", limit=2, cursor=first.next_cursor)
    assert [c.name for c in rest.campaigns] == ["c0"] and rest.next_cursor is None


def test_cancel_ends_the_campaigns_waiting_tasks_and_marks_its_running_one(lab):
    c = lab.sweep(name="s")
    other = task.submit_task(
        actor=lab.alice, req={"group_name": "lab", "timeout": 60, "task_spec": spec("true")}
    )
    lab.run_next(0)
    running = agent_protocol.fetch_task(worker=lab.worker)
    assert running is not None and running.campaign_id == c.id
    changed = campaign.cancel_campaign(actor=lab.alice, group_name="lab", name="s")
    assert changed.count == 5
    status = lab.status("s")
    assert status.counts == {"Pending": 0, "Ready": 0, "Running": 1, "Finished": 1, "Cancelled": 4}
    assert status.outcomes == {"succeeded": 1, "failed": 0, "cancelled": 4}
    assert db.session.get(ActiveTask, running.id).cancel_requested
    assert (
        db.session.scalar(sa.select(ActiveTask.state).where(ActiveTask.uuid == other.uuid)) is TaskState.Ready
    )


def test_cancel_needs_write(lab):
    lab.sweep(name="s")
    with pytest.raises(Forbidden):
        campaign.cancel_campaign(actor=lab.rita, group_name="lab", name="s")


def _plan(statement: sa.Executable) -> str:
    bind = db.session.get_bind()
    compiled = statement.compile(bind, compile_kwargs={"literal_binds": True})
    if BACKEND == "sqlite":
        rows = db.session.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        return "\n".join(str(row[-1]) for row in rows)
    db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    return "\n".join(r[0] for r in db.session.execute(sa.text(f"EXPLAIN {compiled}")))


def test_status_counts_are_read_from_the_campaign_indexes(lab):
    c = lab.sweep(name="s")
    lab.run_next(0)
    plan = _plan(campaign.status_counts(c))
    for index in ("ix_active_tasks_campaign_state", "ix_archived_tasks_campaign_state"):
        assert index in plan, plan
    assert "SCAN active_tasks\n" not in plan + "\n" and "Seq Scan" not in plan, plan
    if BACKEND == "sqlite":  # PostgreSQL reads the index alone once vacuum has marked the pages visible
        assert "COVERING INDEX ix_active_tasks_campaign_state" in plan, plan
