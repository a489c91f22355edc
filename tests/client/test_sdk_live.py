"""Every SDK method against a real coordinator over HTTP (tests/client/conftest.py `server`)."""

from __future__ import annotations

import io
import re
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from client.bodies import artifact_resource, attachment_resource, submit_request, task_spec
from client.http import ApiError
from client.sdk import OPERATIONS, Mitosis
from tests.conftest import ADMIN_USER


def _tar_gz(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as archive:
        for member, data in files.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def _age_stored_objects(app) -> None:
    """Make every artifact and attachment look two hours old (users may not delete fresher ones)."""
    from app import db
    from app.models import Artifact, Attachment

    with app.app_context():
        for model in (Artifact, Attachment):
            db.session.execute(sa.update(model).values(updated_at=datetime.now(UTC) - timedelta(hours=2)))
        db.session.commit()
        db.session.remove()


def test_every_operation_is_called_by_this_module():
    source = Path(__file__).read_text()
    missing = [name for name in OPERATIONS.values() if not re.search(rf"\.{name}\(", source)]
    assert missing == []


def test_health_auth_and_redis(anon, admin):
    assert anon.health() == {"status": "ok"}
    assert admin.auth() == ADMIN_USER
    assert admin.redis_info() == {"url": None}


def test_login_with_a_wrong_password_raises_401(anon, make_user):
    make_user("alice")
    with pytest.raises(ApiError) as info:
        anon.login("alice", "wrong")
    assert info.value.status == 401
    assert anon.token is None


def test_change_password_refreshes_the_token(server, make_user):
    alice = make_user("alice", "old-pass")
    old_token = alice.token
    new_token = alice.change_password("alice", "old-pass", "new-pass")
    assert new_token != old_token and alice.token == new_token
    assert alice.auth() == "alice"
    with Mitosis(server.url) as again:
        again.login("alice", "new-pass")
        assert again.auth() == "alice"


def test_groups_membership_round_trip(make_user):
    make_user("bob")
    alice = make_user("alice")
    alice.create_group("lab")
    assert alice.user_groups() == {"alice": "Admin", "lab": "Admin"}
    alice.update_group_users("lab", {"bob": "Write"})
    assert alice.get_group("lab")["users_in_group"] == {"alice": "Admin", "bob": "Write"}
    alice.remove_group_users("lab", ["bob"])
    assert alice.get_group("lab")["users_in_group"] == {"alice": "Admin"}
    with pytest.raises(ApiError) as info:
        alice.create_group("lab")
    assert info.value.status == 409


def test_attachments_round_trip(tmp_path, server, make_user, admin):
    alice = make_user("alice")
    src = tmp_path / "data.txt"
    src.write_bytes(b"hello attachment\n")
    seen = []
    assert alice.put_attachment("alice", "inputs/data.txt", src, progress=lambda d, t: seen.append(d)) == 17
    assert seen[-1] == 17
    assert alice.get_attachment("alice", "inputs/data.txt")["size"] == 17
    assert alice.query_attachments("alice", key="inputs/", count=True)["count"] == 1
    listed = alice.query_attachments("alice", key="inputs/", limit=10, offset=0)
    assert [a["key"] for a in listed["attachments"]] == ["inputs/data.txt"]
    link = alice.download_attachment("alice", "inputs/data.txt")
    assert link["size"] == 17
    assert alice.fetch_attachment("alice", "inputs/data.txt", tmp_path / "copy.txt") == 17
    assert (tmp_path / "copy.txt").read_bytes() == b"hello attachment\n"
    by_filter = alice.download_attachments_by_filter("alice", key="inputs")
    assert [d["key"] for d in by_filter["downloads"]] == ["inputs/data.txt"]
    by_keys = alice.download_attachments_by_keys("alice", ["inputs/data.txt"])
    assert by_keys["downloads"][0]["size"] == 17
    url = alice.upload_attachment("alice", "b.txt", 1)["url"]
    (tmp_path / "b").write_bytes(b"b")
    alice.put_bytes(url, tmp_path / "b")
    for key in ("c1", "c2", "d", "e"):
        alice.put_attachment("alice", key, tmp_path / "b")
    with pytest.raises(ApiError) as fresh:
        alice.delete_attachment("alice", "b.txt")
    assert fresh.value.status == 400
    _age_stored_objects(server.app)
    alice.delete_attachment("alice", "b.txt")
    assert alice.delete_attachments_by_keys("alice", ["d", "nope"])["failed_keys"] == ["nope"]
    assert alice.delete_attachments_by_filter("alice", key="c")["deleted_count"] == 2
    admin.admin_delete_attachment("alice", "e")
    with pytest.raises(ApiError) as info:
        alice.get_attachment("alice", "e")
    assert info.value.status == 404


def test_tasks_submit_query_change_cancel(make_user):
    alice = make_user("alice")
    one = alice.submit_task(group_name="alice", args=["echo", "1"], labels=["x"], tags=["never"])
    results = alice.submit_tasks(
        [submit_request("alice", task_spec(["echo", "2"]), tags=["never"]) for _ in range(2)]
    )
    uuids = [one["uuid"]] + [r["Ok"]["uuid"] for r in results["results"]]
    assert alice.query_tasks(group_name="alice", count=True)["count"] == 3
    alice.update_task(one["uuid"], priority=7, timeout="1h")
    alice.update_task_labels(one["uuid"], ["y", "z"])
    info = alice.get_task(one["uuid"])["info"]
    assert (info["priority"], info["timeout"], sorted(info["labels"])) == (7, 3600, ["y", "z"])
    alice.cancel_task(uuids[0])
    assert alice.cancel_tasks_by_uuids([uuids[1]])["cancelled_count"] == 1
    assert alice.cancel_tasks_by_filter(group_name="alice", states=["Ready"])["cancelled_count"] == 1
    states = {t["uuid"]: t["state"] for t in alice.query_tasks(group_name="alice")["tasks"]}
    assert set(states.values()) == {"Cancelled"} and set(states) == set(uuids)


def test_worker_runs_a_task_through_the_sdk(tmp_path, server, admin, make_user):
    alice = make_user("alice")
    (tmp_path / "in.txt").write_bytes(b"input")
    alice.put_attachment("alice", "in.txt", tmp_path / "in.txt")
    reg = alice.register_worker(tags=["cpu"], groups=["alice"], labels=["l1"])
    wid, wtok = reg["worker_id"], reg["token"]
    assert alice.worker_heartbeat(wtok) == []
    assert alice.worker_fetch_task(wtok) is None
    task = alice.submit_task(
        group_name="alice",
        args=["cat", "in.txt"],
        tags=["cpu"],
        resources=[attachment_resource("in.txt", "in.txt")],
    )
    alice.submit_task(group_name="alice", args=["true"], tags=["elsewhere"])  # stays Ready throughout
    claimed = alice.worker_fetch_task(wtok)
    assert claimed["uuid"] == task["uuid"]
    assert alice.worker_get_task(wtok, task["uuid"])["uuid"] == task["uuid"]
    link = alice.worker_download_attachment(wtok, task["uuid"], "in.txt")
    assert link["size"] == 5
    result = _tar_gz(tmp_path, "result.tar.gz", {"out.txt": b"input"})
    url = alice.worker_report_task(
        wtok, claimed["id"], {"Upload": {"content_type": "result", "content_length": result.stat().st_size}}
    )["url"]
    alice.put_bytes(url, result)
    alice.worker_report_task(wtok, claimed["id"], "Finish")
    alice.worker_report_task(wtok, claimed["id"], {"Commit": {"exit_status": 0, "msg": None}})
    done = alice.wait_task(task["uuid"], timeout=10)
    assert done["state"] == "Finished" and done["result"]["exit_status"] == 0
    second = alice.submit_task(
        group_name="alice", args=["true"], tags=["cpu"],
        resources=[artifact_resource(task["uuid"], "result", "prev.tar.gz")],
    )  # fmt: skip
    held = alice.worker_fetch_task(wtok)
    assert held["uuid"] == second["uuid"]
    assert alice.worker_download_artifact(wtok, task["uuid"], "result")["size"] == result.stat().st_size
    alice.worker_report_task(wtok, held["id"], "Finish")
    alice.worker_report_task(wtok, held["id"], {"Commit": {"exit_status": 0, "msg": None}})
    assert alice.download_artifact(task["uuid"], "result")["size"] == result.stat().st_size
    alice.fetch_artifact(task["uuid"], "result", tmp_path / "got.tar.gz")
    with tarfile.open(tmp_path / "got.tar.gz") as archive:
        assert archive.extractfile("out.txt").read() == b"input"
    assert [d["uuid"] for d in alice.download_artifacts_by_uuids("result", [task["uuid"]])["downloads"]] == [
        task["uuid"]
    ]
    assert len(alice.download_artifacts_by_filter("result", group_name="alice")["downloads"]) == 1
    alice.put_bytes(alice.upload_artifact(task["uuid"], "exec-log", result.stat().st_size)["url"], result)
    alice.put_artifact(task["uuid"], "std-log", result)
    _age_stored_objects(server.app)
    alice.delete_artifact(task["uuid"], "exec-log")
    assert alice.delete_artifacts_by_uuids("std-log", [task["uuid"]])["deleted_count"] == 1
    alice.put_artifact(task["uuid"], "std-log", result)
    _age_stored_objects(server.app)
    assert alice.delete_artifacts_by_filter("std-log", group_name="alice")["deleted_count"] == 1
    admin.admin_delete_artifact(task["uuid"], "result")
    assert alice.get_task(task["uuid"])["artifacts"] == []
    alice.unregister_worker(wtok)
    with pytest.raises(ApiError) as info:
        alice.worker_heartbeat(wtok)
    assert info.value.status == 401
    assert wid


def test_worker_management(admin, make_user):
    alice = make_user("alice")
    alice.create_group("lab")
    workers = [alice.register_worker(tags=["a"], groups=["alice"]) for _ in range(4)]
    first = workers[0]["worker_id"]
    assert alice.query_workers(group_name="alice", count=True)["count"] == 4
    alice.update_worker_tags(first, ["gpu", "cuda"])
    alice.update_worker_labels(first, ["rack1"])
    alice.update_worker_groups(first, {"lab": "Write"})
    got = alice.get_worker(first)
    assert sorted(got["info"]["tags"]) == ["cuda", "gpu"] and got["groups"]["lab"] == "Write"
    alice.remove_worker_groups(first, ["lab"])
    assert "lab" not in alice.get_worker(first)["groups"]
    alice.shutdown_worker(first, op="Force")
    assert alice.shutdown_workers_by_uuids([workers[1]["worker_id"]], op="Force")["shutdown_count"] == 1
    admin.admin_shutdown_worker(workers[2]["worker_id"], op="Force")
    assert alice.shutdown_workers_by_filter(op="Force", group_name="alice")["shutdown_count"] == 1
    assert alice.query_workers(group_name="alice", count=True)["count"] == 0


def test_admin_user_operations(server, admin, make_user):
    admin.admin_create_user("carol", "pw1")
    admin.admin_change_password("carol", "pw2")
    with Mitosis(server.url) as carol:
        carol.login("carol", "pw2")
        assert admin.admin_change_group_quota("carol", "+2")["group_quota"] >= 2
        assert admin.admin_change_user_state("carol", "Locked") == {"state": "Locked"}
        assert admin.admin_change_storage_quota("carol", "1GB") == {"storage_quota": 10**9}
    assert admin.admin_delete_user("carol") == {"state": "Deleted"}
    with pytest.raises(ApiError) as info:
        admin.admin_shutdown_coordinator("not-the-secret")
    assert info.value.status == 403
