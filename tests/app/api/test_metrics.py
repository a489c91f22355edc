"""GET /metrics: access (loopback or token) and the values after a scripted run, through the API."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families


def scrape(client, **kwargs) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of one scrape."""
    resp = client.get("/metrics", **kwargs)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.content_type.startswith("text/plain; version=")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.get_data(as_text=True))
        for s in family.samples
    }


class Api:
    def __init__(self, client, headers):
        self.client, self.headers = client, headers

    def submit(self, group: str, tags=()) -> dict:
        body = {"group_name": group, "tags": list(tags), "labels": [], "timeout": "10m", "priority": 0,
                "task_spec": {"args": ["true"]}}  # fmt: skip
        resp = self.client.post("/tasks", json=body, headers=self.headers)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    def register(self) -> dict[str, str]:
        resp = self.client.post("/workers", json={"tags": [], "groups": []}, headers=self.headers)
        assert resp.status_code == 200
        body = resp.get_json()
        return {"Authorization": f"Bearer {body['token']}", "uuid": body["worker_id"]}

    def fetch(self, worker) -> dict:
        resp = self.client.get("/workers/tasks", headers={"Authorization": worker["Authorization"]})
        assert resp.status_code == 200
        return resp.get_json()

    def report(self, worker, task_id: int, op) -> None:
        resp = self.client.post(
            "/workers/tasks",
            json={"id": task_id, "op": op},
            headers={"Authorization": worker["Authorization"]},
        )
        assert resp.status_code == 200, resp.get_json()


@pytest.fixture
def api(client, users) -> Api:
    return Api(client, users.headers(users.create("alice")))


def test_scripted_run_gives_the_expected_counts(client, api, admin_headers):
    for _ in range(5):
        api.submit("alice")
    worker = api.register()
    ok = api.fetch(worker)
    api.report(worker, ok["id"], "Finish")
    api.report(worker, ok["id"], {"Commit": {"exit_status": 0, "msg": None}})
    bad = api.fetch(worker)
    api.report(worker, bad["id"], "Finish")
    api.report(worker, bad["id"], {"Commit": {"exit_status": 3, "msg": None}})
    timed_out = api.fetch(worker)
    api.report(worker, timed_out["id"], "Finish")
    api.report(worker, timed_out["id"], {"Commit": {"exit_status": -9, "msg": "ExecTimeout"}})
    held = api.fetch(worker)  # then the worker is lost: its task goes back to Ready
    resp = client.delete(f"/admin/workers/{worker['uuid']}/?op=Force", headers=admin_headers)
    assert resp.status_code == 200
    last = api.submit("alice")
    assert client.delete(f"/tasks/{last['uuid']}", headers=api.headers).status_code == 200
    client.get("/workers/tasks", headers={"Authorization": "Bearer nope"})  # a refused fetch

    values = scrape(client)
    g = (("group", "alice"),)
    assert values[("mitosis_tasks", (("group", "alice"), ("state", "Finished")))] == 3
    assert (
        values[("mitosis_tasks", (("group", "alice"), ("state", "Ready")))] == 2
    )  # 1 never run + 1 handed back
    assert values[("mitosis_tasks", (("group", "alice"), ("state", "Cancelled")))] == 1
    assert values[("mitosis_tasks", (("group", "alice"), ("state", "Running")))] == 0
    assert values[("mitosis_task_submissions_total", g)] == 6
    assert values[("mitosis_task_claims_total", g)] == 4
    assert values[("mitosis_task_commits_total", (("group", "alice"), ("outcome", "success")))] == 1
    assert values[("mitosis_task_commits_total", (("group", "alice"), ("outcome", "failure")))] == 1
    assert values[("mitosis_task_commits_total", (("group", "alice"), ("outcome", "ExecTimeout")))] == 1
    assert values[("mitosis_task_losses_total", g)] == 1
    assert values[("mitosis_task_retries_total", g)] == 1
    assert values[("mitosis_task_cancels_total", g)] == 1
    assert 0 <= values[("mitosis_oldest_ready_task_age_seconds", g)] < 60
    assert ("mitosis_workers", (("state", "Normal"),)) not in values  # the lost worker is gone
    assert values[("mitosis_group_storage_quota_bytes", g)] > 0
    assert values[("mitosis_group_storage_used_bytes", g)] == 0
    claims = values[("mitosis_claim_duration_seconds_count", (("outcome", "claimed"),))]
    assert claims >= 4 and values[("mitosis_claim_duration_seconds_count", (("outcome", "refused"),))] >= 1
    assert held["uuid"] != last["uuid"]


def test_counts_start_from_tasks_stored_before(client, api, app):
    """task_counts is what the migration backfilled plus every move since: it equals a full count."""
    import sqlalchemy as sa

    from app import db
    from app.models import ActiveTask, ArchivedTask

    for _ in range(3):
        api.submit("alice")
    values = scrape(client)
    with app.app_context():
        stored = sum(
            db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in (ActiveTask, ArchivedTask)
        )
    shown = sum(v for (name, _), v in values.items() if name == "mitosis_tasks")
    assert shown == stored == 3


def test_request_latency_histogram_counts_each_route(client):
    before = scrape(client).get(
        ("mitosis_request_duration_seconds_count", (("method", "GET"), ("route", "/health"))), 0
    )
    for _ in range(3):
        client.get("/health")
    after = scrape(client)[
        ("mitosis_request_duration_seconds_count", (("method", "GET"), ("route", "/health")))
    ]
    assert after - before == 3


def test_remote_caller_without_token_is_refused(client):
    resp = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert resp.status_code == 403
    assert "MITO_METRICS_TOKEN" in resp.get_json()["msg"]


def test_ipv6_loopback_is_allowed(client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


@pytest.fixture
def token_client(app):
    app.config["METRICS_TOKEN"] = "s3cret-metrics"
    yield app.test_client()
    app.config["METRICS_TOKEN"] = None


@pytest.mark.parametrize("header", [None, "Bearer wrong", "s3cret-metric"])
def test_token_is_required_once_set_even_on_loopback(token_client, header):
    headers = {"Authorization": header} if header else {}
    resp = token_client.get("/metrics", headers=headers)
    assert resp.status_code == 401
    assert set(resp.get_json()) >= {"error", "msg"}


def test_token_opens_metrics_to_remote_callers(token_client):
    resp = token_client.get(
        "/metrics",
        headers={"Authorization": "Bearer s3cret-metrics"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert resp.status_code == 200 and b"mitosis_tasks" in resp.data


def test_job_runs_failures_and_durations_are_counted(client, app):
    from app.jobs import inprocess, schedule

    runner = inprocess.Runner(app, interval_scale=1.0)
    job = next(j for j in schedule.JOBS if j.task == "jobs.workers.reap")
    runner._run(job, lambda: None)
    runner._run(job, lambda: None)
    runner._run(job, lambda: 1 / 0)
    values = scrape(client)
    runs = (("job", "jobs.workers.reap"), ("outcome", "success"))
    assert values[("mitosis_job_runs_total", runs)] == 2
    assert values[("mitosis_job_runs_total", (("job", "jobs.workers.reap"), ("outcome", "failure")))] == 1
    assert values[("mitosis_job_duration_seconds_count", (("job", "jobs.workers.reap"),))] == 3
    assert values[("mitosis_job_duration_seconds_sum", (("job", "jobs.workers.reap"),))] >= 0
