"""The worker against DynamoDB Local: real subprocesses, real claims, real terminal writes."""

import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from django.core.management import call_command

from dispatches import lifecycle as services
from dispatches import selectors, storage
from dispatches.domain import AGENTS, DispatchStatus
from fleet import storage as pool_storage
from fleet.demo import demo_agent_commands
from fleet.executors import TRUNCATED_MARKER, Outcome, child_env, command_for
from fleet.worker import verdict
from tenants import storage as tenant_storage

from .workers import (
    ACTOR,
    a_dispatch,
    create,
    in_background,
    logs,
    script,
    status_of,
    use_commands,
    wait_for,
    worker_for,
)

REPORT = """
import os, sys
for name in ("DISPATCH_ID", "AGENT_TYPE", "MODEL_ID", "TASK", "REPO_URL", "TIMEOUT_SECONDS"):
    print(name, "=", os.environ[name])
print("argv", sys.argv[1:])
print("on stderr", file=sys.stderr)
"""
SLEEPER = "import os, time; print('started', os.getpid(), flush=True); time.sleep(60)"


def concurrent_jobs(tenant) -> int:
    return tenant_storage.tenant_get(tenant.tenant_id).concurrent_jobs


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def pid_in_logs(dispatch_id: str) -> int:
    text = wait_for(lambda: "started" in logs(dispatch_id) and logs(dispatch_id), timeout=40)
    return int(text.split("started", 1)[1].split()[0])


def test_a_successful_run_completes_with_its_output_and_frees_the_slot(settings, make_tenant):
    use_commands(
        settings, claude=[*script(REPORT), "model={model}", "--", "{task}", "{repo}@{branch}"]
    )
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    worker = worker_for(tenant)
    assert worker.run(once=True) == 1
    done = storage.dispatch_get(dispatch.dispatch_id)
    assert done.status == DispatchStatus.COMPLETED and done.exit_code == 0
    assert done.worker_id == worker.worker_id and done.ended_at is not None
    output = logs(dispatch.dispatch_id)
    assert f"DISPATCH_ID = {dispatch.dispatch_id}" in output
    assert "AGENT_TYPE = claude" in output and "MODEL_ID = claude-opus-4-5-20251101" in output
    assert (
        "REPO_URL = https://github.com/acme/widgets" in output and "TIMEOUT_SECONDS = 60" in output
    )
    assert (
        "argv ['model=claude-opus-4-5-20251101', '--', 'Fix the failing test in utils.py', "
        "'acme/widgets@main']" in output
    )
    assert "on stderr" in output
    assert concurrent_jobs(tenant) == 0


def test_a_non_zero_exit_fails_with_its_exit_code(settings, make_tenant):
    use_commands(settings, codex=script("import sys; print('tests are red'); sys.exit(3)"))
    tenant, _ = make_tenant()
    dispatch = create(tenant, agent="codex")
    worker_for(tenant).run(once=True)
    done = storage.dispatch_get(dispatch.dispatch_id)
    assert done.status == DispatchStatus.FAILED and done.exit_code == 3
    assert done.status_reason == "Exited with code 3." and "tests are red" in done.error_message
    assert concurrent_jobs(tenant) == 0


def test_an_agent_without_a_command_fails_and_says_so(settings, make_tenant):
    use_commands(settings, claude=script("print(1)"))
    tenant, _ = make_tenant()
    dispatch = create(tenant, agent="grok")
    worker_for(tenant).run(once=True)
    done = storage.dispatch_get(dispatch.dispatch_id)
    assert done.status == DispatchStatus.FAILED and "not available" in done.status_reason
    assert concurrent_jobs(tenant) == 0


def test_a_dispatch_past_its_timeout_is_killed(settings, make_tenant):
    use_commands(settings, claude=script(SLEEPER))
    tenant, _ = make_tenant()
    dispatch = create(tenant, timeout=1)
    started = time.monotonic()
    worker_for(tenant).run(once=True)
    assert time.monotonic() - started < 10
    done = storage.dispatch_get(dispatch.dispatch_id)
    assert done.status == DispatchStatus.TIMEOUT and done.status_reason == "Killed after 1 s."
    assert process_gone(pid_in_logs(dispatch.dispatch_id))
    assert concurrent_jobs(tenant) == 0


def test_cancelling_a_running_dispatch_stops_its_process(settings, make_tenant):
    use_commands(settings, claude=script(SLEEPER))
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    thread = in_background(worker_for(tenant))
    pid = pid_in_logs(dispatch.dispatch_id)
    services.dispatch_cancel(
        dispatch=selectors.dispatch_get(
            tenant_id=tenant.tenant_id, dispatch_id=dispatch.dispatch_id
        ),
        actor=ACTOR,
    )
    cancelled_at = time.monotonic()
    thread.join(timeout=15)
    assert not thread.is_alive() and time.monotonic() - cancelled_at < 8
    assert process_gone(pid)
    done = storage.dispatch_get(dispatch.dispatch_id)
    assert done.status == DispatchStatus.CANCELLED and done.status_reason == "cancelled by tester"
    assert done.exit_code is None
    assert concurrent_jobs(tenant) == 0


def test_two_workers_competing_run_each_dispatch_once(settings, make_tenant, tmp_path):
    marker = tmp_path / "runs.txt"
    append = f"import os, time; time.sleep(0.2); open({str(marker)!r}, 'a').write(os.environ['DISPATCH_ID'] + '\\n')"
    use_commands(settings, claude=script(append))
    tenant, _ = make_tenant()
    dispatches = [create(tenant) for _ in range(8)]
    workers = [worker_for(tenant, concurrency=3) for _ in range(2)]
    threads = [in_background(w) for w in workers]
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(marker.read_text().split()) == sorted(d.dispatch_id for d in dispatches)
    assert sum(w.processed for w in workers) == 8
    assert {status_of(d.dispatch_id) for d in dispatches} == {DispatchStatus.COMPLETED}
    assert concurrent_jobs(tenant) == 0


def test_logs_grow_while_the_dispatch_runs(settings, make_tenant):
    code = "import time; print('first', flush=True); time.sleep(2.5); print('second')"
    use_commands(settings, claude=script(code))
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    thread = in_background(worker_for(tenant))
    wait_for(lambda: "first" in logs(dispatch.dispatch_id))
    assert status_of(dispatch.dispatch_id) == DispatchStatus.RUNNING
    assert "second" not in logs(dispatch.dispatch_id)
    thread.join(timeout=15)
    assert logs(dispatch.dispatch_id) == "first\nsecond\n"


def test_output_beyond_the_limit_is_cut_with_one_marker(settings, make_tenant):
    settings.OUTPOST_LOG_MAX_BYTES = 20_000
    use_commands(settings, claude=script("for _ in range(300): print('x' * 999)"))
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    worker_for(tenant).run(once=True)
    chunks = storage.log_tail(dispatch.dispatch_id, chunks=200)
    text = "".join(c.text for c in chunks)
    assert text.endswith(TRUNCATED_MARKER) and text.count("[output truncated]") == 1
    assert len(text) - len(TRUNCATED_MARKER) == 20_000
    assert all(len(c.text) <= 8192 for c in chunks)
    assert status_of(dispatch.dispatch_id) == DispatchStatus.COMPLETED


def test_stopping_a_worker_lets_running_dispatches_finish(settings, make_tenant):
    use_commands(settings, claude=script("import time; time.sleep(1); print('finished')"))
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    worker = worker_for(tenant, drain_seconds=10)
    thread = in_background(worker, once=False)
    wait_for(lambda: status_of(dispatch.dispatch_id) == DispatchStatus.RUNNING)
    worker.stop()
    thread.join(timeout=15)
    assert status_of(dispatch.dispatch_id) == DispatchStatus.COMPLETED
    assert pool_storage.slots_for_worker(worker.worker_id) == []


def test_stopping_a_worker_hands_back_what_outlives_the_drain(settings, make_tenant):
    use_commands(settings, claude=script(SLEEPER))
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    worker = worker_for(tenant, drain_seconds=0.2)
    thread = in_background(worker, once=False)
    pid = pid_in_logs(dispatch.dispatch_id)
    worker.stop()
    thread.join(timeout=15)
    assert not thread.is_alive() and process_gone(pid)
    again = storage.dispatch_get(dispatch.dispatch_id)
    assert again.status == DispatchStatus.PENDING and again.worker_id == ""
    assert "queued again" in again.status_reason
    assert concurrent_jobs(tenant) == 1  # still PENDING, still holding its slot
    services.dispatch_cancel(
        dispatch=selectors.dispatch_get(
            tenant_id=tenant.tenant_id, dispatch_id=dispatch.dispatch_id
        ),
        actor=ACTOR,
    )


def test_run_worker_once_runs_what_is_pending_and_exits(settings, make_tenant):
    use_commands(settings, gemini=script("print('hello from gemini')"))
    tenant, _ = make_tenant()
    dispatches = [create(tenant, agent="gemini") for _ in range(3)]
    out = io.StringIO()
    call_command(
        "run_worker",
        "--once",
        "--concurrency",
        "2",
        "--tenant",
        tenant.tenant_id,
        "--worker-id",
        "cmd-once",
        stdout=out,
    )
    assert "ran 3 dispatch(es)" in out.getvalue()
    assert {status_of(d.dispatch_id) for d in dispatches} == {DispatchStatus.COMPLETED}
    assert all("hello from gemini" in logs(d.dispatch_id) for d in dispatches)
    assert pool_storage.slots_for_worker("cmd-once") == []


# --- the pieces, without a store --------------------------------------------------------


def test_placeholders_are_filled_per_item_and_never_through_a_shell():
    dispatch = a_dispatch(task="Fix it; rm -rf / and leave {repo} alone $(whoami)")
    argv = command_for(dispatch, ("agent", "--task={task}", "{model}", "{unknown}", '{"json": 1}'))
    assert argv == [
        "agent",
        "--task=Fix it; rm -rf / and leave {repo} alone $(whoami)",
        "claude-opus-4-5-20251101",
        "{unknown}",
        '{"json": 1}',
    ]


def test_the_child_environment_keeps_path_but_not_the_workers_secrets(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hush")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "for-the-agent")
    env = child_env(a_dispatch(repo=""))
    assert env["PATH"] == os.environ["PATH"] and env["ANTHROPIC_API_KEY"] == "for-the-agent"
    assert "AWS_SECRET_ACCESS_KEY" not in env and env["DISPATCH_ID"] == "01JTESTDISPATCH"
    assert env["REPO_URL"] == "" and env["TIMEOUT_SECONDS"] == "600"


@pytest.mark.parametrize(
    ("outcome", "status", "exit_code", "reason"),
    [
        (Outcome(exit_code=0), DispatchStatus.COMPLETED, 0, ""),
        (Outcome(exit_code=2), DispatchStatus.FAILED, 2, "Exited with code 2."),
        (Outcome(exit_code=-9), DispatchStatus.FAILED, 137, "Killed by signal SIGKILL."),
        (Outcome(timed_out=True), DispatchStatus.TIMEOUT, None, "Killed after 30 s."),
    ],
)
def test_how_each_outcome_is_recorded(outcome, status, exit_code, reason):
    result = verdict(outcome, timeout_seconds=30)
    assert (result.status, result.exit_code, result.status_reason) == (status, exit_code, reason)


def test_sigterm_hands_back_work_and_exits_cleanly(dynamodb_local, settings, make_tenant):
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    env = {
        **os.environ,
        "DYNAMODB_ENDPOINT_URL": dynamodb_local,
        "DJANGO_SECRET_KEY": "test-only",
        "OUTPOST_AGENT_COMMANDS": json.dumps({"claude": script(SLEEPER)}),
    }
    command = [sys.executable, "manage.py", "run_worker", "--tenant", tenant.tenant_id]
    command += ["--worker-id", "sigterm-test", "--drain-seconds", "0.5"]
    worker = subprocess.Popen(command, env=env, cwd=settings.BASE_DIR, stdout=subprocess.PIPE)
    try:
        pid = pid_in_logs(dispatch.dispatch_id)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=15)
    finally:
        worker.kill()
    assert worker.returncode == 0 and b"exiting" in output and process_gone(pid)
    assert status_of(dispatch.dispatch_id) == DispatchStatus.PENDING
    assert pool_storage.slots_for_worker("sigterm-test") == []
    services.dispatch_cancel(
        dispatch=selectors.dispatch_get(
            tenant_id=tenant.tenant_id, dispatch_id=dispatch.dispatch_id
        ),
        actor=ACTOR,
    )


def test_the_demo_commands_of_make_run_take_every_agent_to_success(settings, make_tenant):
    settings.OUTPOST_AGENT_COMMANDS = demo_agent_commands()
    tenant, _ = make_tenant()
    dispatches = [create(tenant, agent=agent) for agent in AGENTS]
    worker_for(tenant, concurrency=len(AGENTS)).run(once=True)
    assert {status_of(d.dispatch_id) for d in dispatches} == {DispatchStatus.COMPLETED}
    for dispatch in dispatches:
        output = logs(dispatch.dispatch_id)
        assert dispatch.model_id in output and dispatch.task in output
        assert output.endswith(f"[{dispatch.agent}] done\n")
