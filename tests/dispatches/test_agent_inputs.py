"""Inputs cannot become options: what a tenant sends never stands where an agent reads flags."""

import json
import os
import re
import subprocess
import sys
from dataclasses import replace

import pytest
from django.conf import settings as django_settings

from dispatches import storage
from dispatches.agents import ConfigError, _parse, check_agent_commands
from dispatches.domain import BRANCH_PATTERN, REPO_PATTERN, DispatchStatus
from fleet.executors import LocalExecutor

from .conftest import BODY
from .workers import a_dispatch, create, logs, script, use_commands, worker_for

ARGV = "import sys; print('argv', sys.argv[1:])"


@pytest.mark.parametrize(
    "repo",
    ["-u./evil", "../..", "acme/..", "acme/a..b", "acme/.hidden", "acme/-x", ".acme/x", "-acme/x"],
)
def test_a_repo_that_could_be_an_option_or_a_path_is_a_400_naming_repo(api, tenant_key, repo):
    _, key = tenant_key()
    response = api(key).post("/api/v1/dispatches", BODY | {"repo": repo})
    assert response.status_code == 400, response.content
    assert "repo" in response.json()["error"]["details"]


REFUSED_BRANCHES = [
    "--force",
    "-b",
    "../../../etc/passwd",
    "a..b",
    "x.lock",
    "a.lock/b",
    "a//b",
    "/a",
    "a/",
    "a.",
    ".a",
    "a/.b",
    "@",
    "a b",
    "a~1",
    "a^1",
    "a:b",
    "a?b",
    "a*b",
    "a[b",
    "a\\b",
    "a@{1}",
]


@pytest.mark.parametrize("branch", REFUSED_BRANCHES)
def test_a_branch_git_would_refuse_or_read_as_an_option_is_a_400_naming_branch(
    api, tenant_key, branch
):
    _, key = tenant_key()
    response = api(key).post("/api/v1/dispatches", BODY | {"branch": branch})
    assert response.status_code == 400, response.content
    assert "branch" in response.json()["error"]["details"]


ACCEPTED_BRANCHES = ["main", "feature/x", "a/-b", "a.lock.b", "v1.2.3", "release/2026.12", "x.LOCK"]


def test_every_branch_accepted_is_one_git_accepts_and_the_refused_ones_git_refuses_too():
    pattern = re.compile(BRANCH_PATTERN)

    def git_accepts(branch: str) -> bool:
        checked = subprocess.run(["git", "check-ref-format", "--branch", branch], check=False)
        return checked.returncode == 0

    for branch in ACCEPTED_BRANCHES:
        assert pattern.fullmatch(branch) and git_accepts(branch), branch
    # "@" is git's name for HEAD: a valid argument to it, never a branch to clone.
    for branch in (b for b in REFUSED_BRANCHES if b != "@"):
        assert not pattern.fullmatch(branch) and not git_accepts(branch), branch
    assert re.compile(REPO_PATTERN).fullmatch("acme/widgets.v2")


@pytest.mark.parametrize(
    ("argv", "item"),
    [
        (["git", "clone", "{repo}", "/tmp/checkout"], "{repo}"),
        (["git", "checkout", "{branch}"], "{branch}"),
        (["claude", "-p", "{task}"], "{task}"),
        (["{repo}"], "{repo}"),
        (["codex", "exec", "{task} please", "--", "x"], "{task} please"),
    ],
)
def test_a_template_with_a_tenant_value_before_the_options_end_is_refused_naming_the_fix(
    argv, item
):
    with pytest.raises(ConfigError) as refused:
        _parse(json.dumps({"claude": argv}))
    message = str(refused.value)
    assert f'"{item}" comes before "--"' in message
    assert 'put "--" before it' in message and "$TASK" in message and "{task_file}" in message


@pytest.mark.parametrize(
    "argv",
    [
        ["git", "clone", "--", "{repo}", "/tmp/checkout"],
        ["git", "checkout", "--branch={branch}"],
        ["claude", "-p", "--", "{task}"],
        ["aider", "--message-file", "{task_file}", "--model", "{model}"],
        ["agent-reading-its-environment"],
    ],
)
def test_a_template_that_keeps_tenant_values_out_of_the_options_is_accepted(argv):
    assert _parse(json.dumps({"claude": argv})) == {"claude": tuple(argv)}


def test_the_system_check_reports_a_bad_template(settings):
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": ["claude", "-p", "{task}"]})
    [error] = check_agent_commands()
    assert error.id == "dispatches.E001" and '"{task}" comes before "--"' in error.msg
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": ["claude", "-p", "--", "{task}"]})
    assert check_agent_commands() == []


def test_a_worker_refuses_to_start_with_a_bad_template(dynamodb_local):
    env = {
        **os.environ,
        "DYNAMODB_ENDPOINT_URL": dynamodb_local,
        "OUTPOST_AGENT_COMMANDS": json.dumps({"claude": ["git", "clone", "{repo}", "x"]}),
    }
    started = subprocess.run(
        [sys.executable, "manage.py", "run_worker", "--once"],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode != 0
    assert '"{repo}" comes before "--"' in started.stderr and "Traceback" not in started.stderr


def test_a_task_that_looks_like_a_flag_arrives_after_the_options_end(settings, make_tenant):
    use_commands(settings, claude=[*script(ARGV), "--", "{task}"])
    tenant, _ = make_tenant()
    dispatch = create(tenant, task="--dangerously-bypass-approvals-and-sandbox")
    worker_for(tenant).run(once=True)
    assert storage.dispatch_get(dispatch.dispatch_id).status == DispatchStatus.COMPLETED
    assert "argv ['--', '--dangerously-bypass-approvals-and-sandbox']" in logs(dispatch.dispatch_id)


def test_a_task_file_holds_the_task_and_is_gone_after_the_run(settings, make_tenant):
    read = "import sys; p = sys.argv[2]; print('file', p, repr(open(p).read()))"
    use_commands(settings, claude=[*script(read), "--message-file", "{task_file}"])
    tenant, _ = make_tenant()
    dispatch = create(tenant, task="--force push to main")
    worker_for(tenant).run(once=True)
    found = re.search(r"file (\S+) '--force push to main'", logs(dispatch.dispatch_id))
    assert found, logs(dispatch.dispatch_id)
    assert not os.path.exists(found.group(1))


def test_a_record_with_an_option_like_repo_is_refused_before_any_command_runs(tmp_path):
    marker = tmp_path / "ran"
    executor = LocalExecutor(commands={"claude": ("touch", str(marker), "--", "{repo}")})
    outcome = executor.run(replace(a_dispatch(), repo="-u./evil/x"), check=lambda: None)
    assert "Refused to run" in outcome.error and not marker.exists()
    outcome = executor.run(replace(a_dispatch(), branch="--force"), check=lambda: None)
    assert "not a valid branch name" in outcome.error and not marker.exists()
