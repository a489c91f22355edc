"""Unit tests of the SDK's wire format over an httpx MockTransport (no server)."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from client.bodies import artifact_type
from client.http import ApiError
from client.sdk import OPERATIONS, Mitosis

SPEC_OPERATION_IDS = """
healthCheck userLogin userAuth getRedisConnectionInfo changePassword queryUserGroups createGroup
getGroup updateUserGroup removeUserGroupParams uploadAttachment queryAttachments queryAttachment
deleteAttachment downloadAttachment batchDownloadAttachmentsByFilter batchDownloadAttachmentsByKeys
batchDeleteAttachmentsByFilter batchDeleteAttachmentsByKeys registerWorker unregisterWorker
queryWorkers shutdownWorkersByFilter shutdownWorkersByUuids getWorker shutdownWorker
updateWorkerTags updateWorkerLabels updateWorkerGroups removeWorkerGroupsParams workerHeartbeat
fetchTask reportTask getTaskForWorker downloadTaskArtifactForWorker downloadAttachmentForWorker
submitTask queryTasks cancelTasksByFilter cancelTasksByUuids batchDownloadArtifactsByFilter
batchDownloadArtifactsByUuids batchDeleteArtifactsByFilter batchDeleteArtifactsByUuids
batchSubmitTasks getTask updateTask cancelTask updateTaskLabels uploadTaskArtifact
deleteTaskArtifact downloadTaskArtifact adminCreateUser adminDeleteUser adminChangeUserPassword
adminChangeUserGroupQuota adminChangeUserState adminChangeGroupStorageQuota adminShutdownWorker
adminDeleteAttachment adminDeleteTaskArtifact adminShutdownCoordinator
""".split()  # noqa: SIM905


class Recorder:
    """A MockTransport handler that records requests and answers from a table."""

    def __init__(self, answers=None):
        self.requests: list[httpx.Request] = []
        self.answers = answers or {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body = self.answers.get((request.method, request.url.path), (200, None))
        if isinstance(body, bytes):
            return httpx.Response(status, content=body)
        return httpx.Response(status, json=body) if body is not None else httpx.Response(status)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def sdk_with(answers=None, token=None) -> tuple[Mitosis, Recorder]:
    rec = Recorder(answers)
    transport = httpx.Client(base_url="http://coord.test", transport=httpx.MockTransport(rec))
    return Mitosis("http://coord.test", token, transport=transport), rec


def test_operations_cover_every_spec_operation_with_a_method():
    assert len(SPEC_OPERATION_IDS) == 62
    assert sorted(OPERATIONS) == sorted(SPEC_OPERATION_IDS)
    for op, name in OPERATIONS.items():
        assert callable(getattr(Mitosis, name, None)), f"{op} -> {name} is not a Mitosis method"
    assert len(set(OPERATIONS.values())) == 62


def test_operations_match_the_spec_file_when_present():
    from tests.client.spec import spec_operation_ids

    ids = spec_operation_ids()
    if ids is not None:
        assert sorted(ids) == sorted(SPEC_OPERATION_IDS)


def test_login_sends_md5_bytes_and_stores_the_token():
    sdk, rec = sdk_with({("POST", "/login"): (200, {"token": "tok-1"})})
    assert sdk.login("alice", "secret", retain=True) == "tok-1"
    body = json.loads(rec.last.content)
    assert body == {
        "username": "alice",
        "md5_password": list(hashlib.md5(b"secret").digest()),
        "retain": True,
    }
    assert sdk.token == "tok-1"
    sdk.http.request("GET", "/health")
    assert rec.last.headers["Authorization"] == "Bearer tok-1"


def test_error_answer_raises_api_error_with_status_and_message():
    sdk, _ = sdk_with(
        {("GET", "/groups/g"): (403, {"error": "Permission denied", "msg": "Permission denied"})}, "t"
    )
    with pytest.raises(ApiError) as info:
        sdk.get_group("g")
    assert info.value.status == 403
    assert info.value.message == "Permission denied"


def test_download_asks_for_json_not_redirect_and_quotes_keys():
    link = {"url": "http://store/x", "size": 3}
    sdk, rec = sdk_with({("GET", "/groups/my g/download/attachments/a/b c.txt"): (200, link)}, "t")
    assert sdk.download_attachment("my g", "a/b c.txt") == link
    assert rec.last.url.params["redirect"] == "false"
    assert rec.last.url.raw_path.startswith(b"/groups/my%20g/download/attachments/a/b%20c.txt")


def test_remove_users_sends_a_comma_list():
    sdk, rec = sdk_with(token="t")
    sdk.remove_group_users("g", ["a", "b"])
    assert rec.last.method == "DELETE"
    assert rec.last.url.params["users"] == "a,b"


def test_submit_task_builds_the_spec_body():
    sdk, rec = sdk_with({("POST", "/tasks"): (200, {"task_id": 1, "uuid": "u"})}, "t")
    sdk.submit_task(
        group_name="g", args=["echo", "hi"], tags=["a"], envs={"K": "V"}, watch=("u0", "ExecSpawned")
    )
    body = json.loads(rec.last.content)
    assert body == {
        "group_name": "g", "tags": ["a"], "labels": [], "timeout": "10m", "priority": 0,
        "task_spec": {"args": ["echo", "hi"], "envs": {"K": "V"}, "resources": [], "terminal_output": False,
                      "watch": ["u0", "ExecSpawned"]},
    }  # fmt: skip


def test_fetch_task_returns_none_on_204_and_uses_the_worker_token():
    sdk, rec = sdk_with({("GET", "/workers/tasks"): (204, None)}, "user-token")
    assert sdk.worker_fetch_task("worker-token") is None
    assert rec.last.headers["Authorization"] == "Bearer worker-token"


def test_query_tasks_drops_unset_filters():
    sdk, rec = sdk_with({("POST", "/tasks/query"): (200, {"count": 0, "tasks": [], "group_name": ""})}, "t")
    sdk.query_tasks(group_name="g", states=["Ready"], exit_status=0, limit=5)
    assert json.loads(rec.last.content) == {
        "group_name": "g",
        "states": ["Ready"],
        "exit_status": "0",
        "limit": 5,
        "count": False,
    }


def test_put_and_fetch_bytes_stream_with_progress(tmp_path):
    stored = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            stored["data"] = request.read()
            assert "Authorization" not in request.headers
            return httpx.Response(200)
        return httpx.Response(200, content=stored["data"])

    transport = httpx.Client(transport=httpx.MockTransport(handler))
    sdk = Mitosis("http://coord.test", "t", transport=transport)
    src = tmp_path / "in.bin"
    src.write_bytes(b"x" * 3_000_000)
    seen = []
    assert sdk.put_bytes("http://store/obj", src, progress=lambda d, t: seen.append((d, t))) == 3_000_000
    assert seen[-1] == (3_000_000, 3_000_000)
    assert stored["data"] == src.read_bytes()
    seen.clear()
    dest = tmp_path / "out" / "o.bin"
    assert (
        sdk.fetch_bytes("http://store/obj", dest, size=3_000_000, progress=lambda d, t: seen.append((d, t)))
        == 3_000_000
    )
    assert dest.read_bytes() == src.read_bytes()
    assert seen[-1] == (3_000_000, 3_000_000)


def test_relative_storage_urls_resolve_against_the_coordinator(tmp_path):
    sdk, rec = sdk_with({("GET", "/storage/x"): (200, b"abc")})
    assert sdk.fetch_bytes("/storage/x", tmp_path / "x") == 3
    assert str(rec.last.url) == "http://coord.test/storage/x"


def test_failed_storage_put_raises_api_error(tmp_path):
    sdk, _ = sdk_with({("PUT", "/obj"): (403, b"SignatureDoesNotMatch")})
    src = tmp_path / "f"
    src.write_bytes(b"1")
    with pytest.raises(ApiError) as info:
        sdk.put_bytes("http://coord.test/obj", src)
    assert info.value.status == 403


@pytest.mark.parametrize(
    ("alias", "wire"),
    [
        ("result", "result"),
        ("exec", "exec-log"),
        ("ExecLog", "exec-log"),
        ("std", "std-log"),
        ("terminal", "std-log"),
    ],
)
def test_artifact_type_aliases(alias, wire):
    assert artifact_type(alias) == wire


def test_artifact_type_rejects_unknown():
    with pytest.raises(ValueError, match="unknown artifact type"):
        artifact_type("video")


def test_login_keeps_other_sessions_unless_asked_not_to():
    sdk, rec = sdk_with({("POST", "/login"): (200, {"token": "tok"})})
    sdk.login("alice", "secret")
    assert json.loads(rec.last.content)["retain"] is True
    sdk.login("alice", "secret", retain=False)
    assert json.loads(rec.last.content)["retain"] is False
