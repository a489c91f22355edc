"""The worker agent: log in, register, heartbeat, fetch, run, upload, commit.."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from client.http import ApiError, HttpClient
from client.worker_api import WorkerApi, download_to, upload_file
from mito.units import parse_duration
from worker_agent.config import WorkerConfig, user_cache_dir
from worker_agent.runner import kill_group, run_command
from worker_agent.states import ExecState, exec_state_reaches, watched_task_reaches
from worker_agent.workspace import PathEscapes, Workspace

log = logging.getLogger("mito.worker")
S = ExecState

# Redis key TTLs per announced state (upstream 8); None: no expiry; missing: 60 s
_TTL = {
    S.FetchResource: 360, S.ExecSpawned: None, S.Watch: None, S.ExecFinished: 660, S.UploadResult: 660,
    S.UploadFinishedResult: 660, S.UploadCancelledResult: 660,
}  # fmt: skip
_RESOURCE_FAILURES = {
    "ResourceNotFound": S.FetchResourceNotFound,
    "ResourceForbidden": S.FetchResourceForbidden,
    "FetchResourceTimeout": S.FetchResourceTimeout,
}


class WorkerGone(Exception):
    """The coordinator answered 401: this worker was removed, shut down, or its token expired."""


class TaskLost(Exception):
    """The coordinator no longer gives this task to this worker (404 on a report)."""


class Aborted(Exception):
    """The agent is stopping: drop the task without committing (the coordinator puts it back to Ready)."""


@dataclass
class TaskRun:
    task: dict[str, Any]
    workspace: Workspace
    cancel: threading.Event = field(default_factory=threading.Event)
    reason: str | None = None  # "user" (heartbeat said cancel), "shutdown", "gone", "lost"
    pgid: int | None = None

    @property
    def id(self) -> int:
        return self.task["id"]

    @property
    def uuid(self) -> str:
        return str(self.task["uuid"])

    def stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.cancel.set()


class Agent:
    def __init__(self, config: WorkerConfig, *, transport: httpx.Client | None = None):
        self.config = config
        self.api = WorkerApi(HttpClient(config.coordinator, transport=transport))
        self._transport = transport
        self.files = transport or httpx.Client()  # presigned object-store URLs
        self.stopping = threading.Event()  # no more fetching
        self.forced = threading.Event()  # exit now, no more retries
        self.done = threading.Event()  # the heartbeat thread ends
        self.current: TaskRun | None = None
        self.worker_id: str | None = None
        self.redis = None
        self.work_dir: Path | None = None
        self._signals = 0

    # ------------------------------------------------------------------ start and stop
    def run(self) -> int:
        """Serve until stopped; return the process exit code."""
        try:
            self.start()
        except WorkerGone as exc:
            log.error("cannot register: %s", exc)
            return 1
        heartbeat = threading.Thread(target=self.heartbeat_loop, name="heartbeat", daemon=True)
        heartbeat.start()
        try:
            self.fetch_loop()
        finally:
            self.done.set()
            self.shutdown()
        return 0

    def start(self) -> None:
        user_token, username = self.login()
        cfg = self.config
        groups = cfg.groups or [username]  # default: the user's personal group
        resp = self.call(
            "register",
            lambda: self.api.register(
                user_token, tags=cfg.tags, groups=groups, labels=cfg.labels, lifetime=cfg.lifetime
            ),
            interrupt=self.stopping,
        )
        self.worker_id = str(resp["worker_id"])
        self.work_dir = (self.config.work_dir or user_cache_dir()) / self.worker_id
        self.work_dir.mkdir(parents=True, exist_ok=True)
        log.info(
            "registered worker %s at %s (tags=%s groups=%s labels=%s)", self.worker_id, cfg.coordinator,
            ",".join(cfg.tags), ",".join(groups), ",".join(cfg.labels),
        )  # fmt: skip
        self.connect_redis(resp.get("redis_url"))

    def login(self) -> tuple[str, str]:
        """A user token: the cached one if /auth accepts it, else a retained login (keeps other sessions)."""
        cache_file = self.config.credentials_file()
        key = f"{self.config.coordinator}|{self.config.user or ''}"
        cache = _read_json(cache_file)
        token = cache.get(key)
        if token:
            try:
                name = self.call(
                    "auth", lambda: self.api.auth(token), interrupt=self.stopping, gone_on_401=False
                )
                log.info("reusing the cached credential of %s", name)
                return token, name
            except ApiError as exc:
                if exc.status != 401:
                    raise
                log.info("the cached credential was refused; logging in again")
        if not self.config.user or not self.config.password:
            raise WorkerGone("no valid cached credential: give --user and --password")
        try:
            token = self.call(
                "login",
                lambda: self.api.login(self.config.user, self.config.password, retain=True),
                interrupt=self.stopping, gone_on_401=False,
            )  # fmt: skip
        except ApiError as exc:
            raise WorkerGone(f"login as {self.config.user} failed: {exc.message}") from exc
        log.info("logged in as %s", self.config.user)
        cache[key] = token
        _write_json(cache_file, cache)
        return token, self.config.user

    def connect_redis(self, url: str | None) -> None:
        if not url or self.config.skip_redis:
            log.info("no Redis: exec states go to the coordinator only, watches poll it")
            return
        try:
            import redis

            url = url.replace("protocol=resp3", "protocol=3")
            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            client.ping()
            self.redis = client
            log.info("connected to Redis for exec-state pub/sub")
        except Exception as exc:  # noqa: BLE001 -- any Redis failure means: run without it
            log.warning("cannot use Redis at %s (%s); falling back to polling", url, exc)

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)

    def on_signal(self, signum, _frame) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second signal: exiting now")
            run = self.current
            if run and run.pgid:
                kill_group(run.pgid, signal.SIGKILL)
            os._exit(130)
        log.info("signal %d: stopping (no more tasks; the running one is ended and handed back)", signum)
        self.stopping.set()
        if self.current:
            self.current.stop("shutdown")

    def on_gone(self, why: str) -> None:
        if not self.stopping.is_set():
            log.warning("the coordinator refused this worker (%s): it was removed or shut down; exiting", why)
        self.stopping.set()
        self.forced.set()
        if self.current:
            self.current.stop("gone")

    def shutdown(self) -> None:
        if not self.forced.is_set():
            try:
                self.api.unregister()
                log.info("unregistered worker %s", self.worker_id)
            except ApiError as exc:
                log.warning("unregister failed: %s", exc)
        if self.work_dir:
            import shutil

            shutil.rmtree(self.work_dir, ignore_errors=True)
        log.info("worker %s exited", self.worker_id)

    # ------------------------------------------------------------------ loops
    def heartbeat_loop(self) -> None:
        api = WorkerApi(HttpClient(self.config.coordinator, self.api.http.token, transport=self._transport))
        while not self.done.wait(self.config.heartbeat_interval):
            try:
                cancel = api.heartbeat()
            except ApiError as exc:
                if exc.status == 401:
                    self.on_gone("heartbeat: 401")
                    return
                log.warning("heartbeat failed: %s", exc)
                continue
            run = self.current
            if run and run.uuid in cancel:
                log.info("task %s was cancelled by its user: ending it", run.uuid)
                run.stop("user")

    def fetch_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                task = self.call("fetch", self.api.fetch, interrupt=self.stopping)
            except WorkerGone:
                return
            except ApiError as exc:
                if self.stopping.is_set():
                    return
                log.warning("fetch failed: %s", exc)
                self.stopping.wait(self.config.polling_interval)
                continue
            if task is None:
                self.stopping.wait(self.config.polling_interval * random.uniform(0.8, 1.2))  # noqa: S311
                continue
            self.execute(task)

    # ------------------------------------------------------------------ HTTP with retries
    @property
    def max_backoff(self) -> float:
        """Longest wait between retries: scales with the polling interval, between 1 s and 10 s."""
        return min(10.0, max(1.0, 5 * self.config.polling_interval))

    def call(
        self,
        what: str,
        fn: Callable[[], Any],
        *,
        interrupt: threading.Event | None = None,
        deadline: float | None = None,
        gone_on_401: bool = True,
    ) -> Any:
        """Call the coordinator, retrying with backoff while it is unreachable or answers 5xx.

        A 401 means this worker no longer exists (WorkerGone); other errors are raised as they are.
        """
        interrupt = interrupt or self.forced
        delay = min(0.5, self.config.polling_interval)
        cap = self.max_backoff
        while True:
            try:
                return fn()
            except ApiError as exc:
                if exc.status == 401 and gone_on_401:
                    self.on_gone(f"{what}: 401")
                    raise WorkerGone(exc.message) from exc
                transient = exc.status == 0 or exc.status >= 500 or exc.status == 429
                late = deadline is not None and time.monotonic() + delay > deadline
                if not transient or late or interrupt.is_set():
                    raise
                log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
                if interrupt.wait(delay):
                    raise
                delay = min(delay * 2, cap)

    # ------------------------------------------------------------------ one task
    def execute(self, task: dict[str, Any]) -> None:
        ws = Workspace(self.work_dir / "tasks" / str(task["uuid"])).create()
        run = TaskRun(task=task, workspace=ws)
        self.current = run
        if self.stopping.is_set():
            run.stop("gone" if self.forced.is_set() else "shutdown")
        log.info("claimed task %s: %s", run.uuid, " ".join(task["spec"].get("args") or []))
        try:
            self.execute_steps(run)
        except TaskLost as exc:
            log.warning("task %s is no longer assigned to this worker (%s): dropped", run.uuid, exc)
        except (WorkerGone, Aborted):
            self.announce(run, S.WorkerExited, report=False)
            log.info("task %s abandoned: the coordinator hands it to another worker", run.uuid)
        except ApiError as exc:
            self.announce(run, S.WorkerExited, report=False)
            log.error("task %s abandoned: %s", run.uuid, exc)
        finally:
            self.current = None
            ws.remove()

    def execute_steps(self, run: TaskRun) -> None:
        spec = run.task["spec"]
        started = time.monotonic()
        self.announce(run, S.FetchResource)
        failure = self.fetch_resources(run, deadline=started + self.config.fetch_timeout)
        if failure is None and spec.get("watch"):
            failure = self.wait_watch(run, spec["watch"], deadline=started + self.config.fetch_timeout)
        self.check_abort(run)
        if failure is None and run.reason == "user":
            failure = "UserCancellation"
        if failure is not None:
            self.announce(run, _RESOURCE_FAILURES.get(failure, S.WatchTimeout))
            self.report(run, "cancel", lambda: self.api.report_cancel(run.id))
            self.commit(run, 0, failure)
            return
        outcome = self.run_process(run, spec)
        self.check_abort(run)
        if outcome.timed_out:
            log.info("task %s timed out: killed its process group", run.uuid)
        else:
            log.info("task %s exited with status %d", run.uuid, outcome.exit_status)
        finished = not outcome.timed_out and not outcome.cancelled
        self.announce(run, S.ExecFinished if finished else S.ExecTimeout)
        self.announce(run, S.UploadResult)
        if finished:
            self.report(run, "finish", lambda: self.api.report_finish(run.id))
            self.announce(run, S.UploadFinishedResult)
        else:
            self.report(run, "cancel", lambda: self.api.report_cancel(run.id))
            self.announce(run, S.UploadCancelledResult)
        uploaded = self.upload_artifacts(run, spec)
        msg = "ExecTimeout" if outcome.timed_out else "UserCancellation" if outcome.cancelled else None
        if not uploaded:
            self.announce(run, S.UploadResultTimeout)
            msg = "UploadResultTimeout"
        else:
            self.announce(run, S.UploadResultFinished)
            if finished and not self.submit_new_task(run):
                msg = "SubmitNewTaskFailed"
        self.commit(run, outcome.exit_status, msg)

    def check_abort(self, run: TaskRun) -> None:
        if run.reason == "gone":
            raise WorkerGone("removed while running a task")
        if run.reason == "shutdown":
            raise Aborted("shutting down")
        if run.reason == "lost":
            raise TaskLost("404 on an exec state report")

    def report(self, run: TaskRun, what: str, fn: Callable[[], Any]) -> Any:
        """A report op that must arrive: retried until the coordinator answers (404: the task is lost)."""
        try:
            return self.call(f"{what} of task {run.uuid}", fn)
        except ApiError as exc:
            if exc.status == 404:
                raise TaskLost(exc.message) from exc
            raise

    def commit(self, run: TaskRun, exit_status: int, msg: str | None) -> None:
        try:
            self.report(run, "commit", lambda: self.api.report_commit(run.id, exit_status, msg))
        except TaskLost:
            log.warning("commit of task %s answered 404: it was committed or reassigned meanwhile", run.uuid)
            return
        log.info("committed task %s: exit_status=%d msg=%s", run.uuid, exit_status, msg)
        self.announce(run, S.TaskCommitted, report=False)

    def announce(self, run: TaskRun, state: ExecState, *, report: bool = True) -> None:
        """Record an exec state: SET + PUBLISH on Redis, and the ExecState report op (best effort)."""
        log.info("task %s: %s", run.uuid, state.name)
        if self.redis is not None:
            key = f"task:{run.uuid}"
            ttl = _TTL.get(state, 60)
            if state == S.ExecPending:
                ttl = int(_timeout_seconds(run.task)) + 60
            try:
                self.redis.set(key, int(state), ex=ttl)
                self.redis.publish(key, int(state))
            except Exception as exc:  # noqa: BLE001 -- Redis is optional; the coordinator has the state
                log.warning("cannot publish %s on Redis: %s", state.name, exc)
        if not report:
            return
        try:
            self.api.report_exec_state(run.id, state.name)
        except ApiError as exc:
            if exc.status == 401:
                self.on_gone("exec state: 401")
            elif exc.status == 404:
                log.warning("task %s is no longer ours (404 on exec state)", run.uuid)
                run.stop("lost")
            else:
                log.warning("cannot report exec state %s: %s", state.name, exc)

    # ------------------------------------------------------------------ steps
    def fetch_resources(self, run: TaskRun, *, deadline: float) -> str | None:
        """Download every resource; None when all are in place, else the failure message to commit."""
        for res in run.task["spec"].get("resources") or []:
            if run.cancel.is_set():
                return None
            remote, local = res.get("remote_file") or {}, res.get("local_path", "")
            try:
                dest = run.workspace.resource_path(local)
            except PathEscapes:
                log.warning("task %s: resource path %r leaves the resource directory", run.uuid, local)
                return "ResourceForbidden"
            if "Artifact" in remote:
                art = remote["Artifact"]
                what = f"artifact {art['content_type']} of {art['uuid']}"
                get_url = lambda a=art: self.api.artifact_url(str(a["uuid"]), a["content_type"])  # noqa: E731
            else:
                key = (remote.get("Attachment") or {}).get("key", "")
                what = f"attachment {key}"
                get_url = lambda k=key: self.api.attachment_url(run.uuid, k)  # noqa: E731
            try:
                info = self.call(f"locate {what}", get_url, deadline=deadline)
            except ApiError as exc:
                if exc.status == 0 or exc.status >= 500:
                    return "FetchResourceTimeout"
                log.warning("task %s: %s: %s", run.uuid, what, exc)
                return "ResourceNotFound" if exc.status == 404 else "ResourceForbidden"
            failure = self.download(run, what, info, dest, deadline)
            if failure:
                return failure
        return None

    def download(self, run: TaskRun, what: str, info: dict, dest: Path, deadline: float) -> str | None:
        url = urljoin(self.config.coordinator + "/", info["url"])
        dest.parent.mkdir(parents=True, exist_ok=True)
        delay = 0.5
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "FetchResourceTimeout"
            try:
                size = download_to(self.files, url, dest, timeout=min(self.config.download_timeout, left))
                log.info("task %s: downloaded %s (%d bytes) to %s", run.uuid, what, size, dest)
                return None
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code < 500:
                    log.warning("task %s: download of %s refused: %s", run.uuid, what, exc)
                    return "ResourceForbidden"
                log.warning("task %s: download of %s failed: %s", run.uuid, what, exc)
            except httpx.HTTPError as exc:
                log.warning("task %s: download of %s failed: %s", run.uuid, what, exc)
            if self.forced.wait(min(delay, max(0.0, deadline - time.monotonic()))):
                raise WorkerGone("stopping")
            delay = min(delay * 2, self.max_backoff)

    def wait_watch(self, run: TaskRun, watch: list, *, deadline: float) -> str | None:
        """Wait until the watched task reaches the exec state; None when it did, else `WatchTimeout`."""
        uuid, target = str(watch[0]), ExecState.parse(watch[1])
        self.announce(run, S.Watch)
        log.info("task %s: waiting for task %s to reach %s", run.uuid, uuid, target.name)
        pubsub = None
        if self.redis is not None:
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(f"task:{uuid}")
            except Exception as exc:  # noqa: BLE001 -- fall back to polling the coordinator
                log.warning("cannot subscribe on Redis (%s); polling the coordinator", exc)
                pubsub = None
        poll_every = self.config.watch_poll_interval if pubsub else self.config.polling_interval
        next_poll = 0.0
        try:
            while time.monotonic() < deadline:
                if run.cancel.is_set():
                    return None
                if pubsub is not None:
                    try:
                        msg = pubsub.get_message(timeout=0.2)
                    except Exception as exc:  # noqa: BLE001
                        log.warning("Redis subscription lost (%s); polling the coordinator", exc)
                        pubsub, poll_every = None, self.config.polling_interval
                        msg = None
                    if msg and msg.get("type") == "message" and _reaches_int(msg.get("data"), target):
                        return None
                else:
                    run.cancel.wait(min(0.2, poll_every))
                if time.monotonic() < next_poll:
                    continue
                next_poll = time.monotonic() + poll_every
                verdict = self.poll_watched(uuid, target)
                if verdict is not None:
                    return None if verdict else "WatchTimeout"
            return "WatchTimeout"
        finally:
            if pubsub is not None:
                with contextlib.suppress(Exception):
                    pubsub.close()

    def poll_watched(self, uuid: str, target: ExecState) -> bool | None:
        """True: reached; False: it never will (gone or ended elsewhere); None: not yet."""
        if self.redis is not None:
            try:
                if _reaches_int(self.redis.get(f"task:{uuid}"), target):
                    return True
            except Exception as exc:  # noqa: BLE001
                log.warning("cannot read the watched task's state on Redis: %s", exc)
        try:
            info = self.call(f"get task {uuid}", lambda: self.api.get_task(uuid), deadline=time.monotonic())
        except ApiError as exc:
            if exc.status == 404:
                log.warning("watched task %s does not exist", uuid)
                return False
            if exc.status == 401:
                raise
            return None
        return watched_task_reaches(info, target)

    def run_process(self, run: TaskRun, spec: dict[str, Any]):
        ws = run.workspace
        env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
        env.update({str(k): str(v) for k, v in (spec.get("envs") or {}).items()})
        env.update(
            MITO_RESULT_DIR=str(ws.result), MITO_EXEC_DIR=str(ws.exec), MITO_RESOURCE_DIR=str(ws.resource),
            MITO_TASK_UUID=run.uuid, MITO_NEW_TASK=str(ws.new_task),
        )  # fmt: skip
        if run.task.get("upstream_task_uuid"):
            env["MITO_UPSTREAM_TASK_UUID"] = str(run.task["upstream_task_uuid"])
        self.announce(run, S.ExecPending)
        terminal = bool(spec.get("terminal_output"))

        def spawned(pid: int) -> None:
            run.pgid = pid
            self.announce(run, S.ExecSpawned)

        return run_command(
            list(spec.get("args") or []), env=env, cwd=Path.cwd(), timeout=_timeout_seconds(run.task),
            grace=self.config.kill_grace, stdout=ws.stdout if terminal else None,
            stderr=ws.stderr if terminal else None, stop=run.cancel, on_spawn=spawned,
        )  # fmt: skip

    def upload_artifacts(self, run: TaskRun, spec: dict[str, Any]) -> bool:
        """Pack and upload the artifacts; False when the upload phase ran out of time."""
        deadline = time.monotonic() + self.config.upload_timeout
        for content_type, path in run.workspace.pack(bool(spec.get("terminal_output"))):
            size = path.stat().st_size
            delay = 0.5
            while True:
                if time.monotonic() >= deadline:
                    log.warning("task %s: upload phase timed out", run.uuid)
                    return False
                try:
                    url = self.call(
                        f"upload {content_type} of task {run.uuid}",
                        lambda c=content_type, n=size: self.api.report_upload(run.id, c, n),
                        deadline=deadline,
                    )  # fmt: skip
                    url = urljoin(self.config.coordinator + "/", url)
                    upload_file(self.files, url, path, timeout=self.config.upload_timeout)
                    log.info("task %s: uploaded %s (%d bytes)", run.uuid, content_type, size)
                    break
                except ApiError as exc:
                    if exc.status == 404:
                        raise TaskLost(exc.message) from exc
                    if exc.status == 401:
                        raise
                    if 400 <= exc.status < 500:
                        log.warning("task %s: %s refused (%s): not uploaded", run.uuid, content_type, exc)
                        break
                    log.warning("task %s: upload of %s failed: %s", run.uuid, content_type, exc)
                except httpx.HTTPError as exc:
                    log.warning("task %s: upload of %s failed: %s; retrying", run.uuid, content_type, exc)
                if self.forced.wait(delay):
                    raise WorkerGone("stopping")
                delay = min(delay * 2, self.max_backoff)
        return True

    def submit_new_task(self, run: TaskRun) -> bool:
        """Submit the downstream task the command wrote to MITO_NEW_TASK, if any; False on failure."""
        path = run.workspace.new_task
        if not path.is_file() or path.stat().st_size == 0:
            return True
        try:
            req = json.loads(path.read_text())
            resp = self.report(run, "submit", lambda: self.api.report_submit(run.id, req))
        except (ValueError, ApiError) as exc:
            if isinstance(exc, ApiError) and exc.status in (0, 401):
                raise
            log.warning("task %s: cannot submit the new task: %s", run.uuid, exc)
            return False
        log.info("task %s: submitted a downstream task %s", run.uuid, resp)
        return True


def _timeout_seconds(task: dict[str, Any]) -> float:
    timeout = task.get("timeout")
    if isinstance(timeout, int | float):
        return float(timeout)
    return parse_duration(str(timeout))


def _reaches_int(value: Any, target: ExecState) -> bool:
    return value is not None and exec_state_reaches(ExecState.parse(value), target)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
