"""gunicorn as `make run` starts it: two instances on one host never share a control socket
(issue 14, bug 15). gunicorn's default is one per user, ~/.gunicorn/gunicorn.ctl."""

import os
import stat
from pathlib import Path

import pytest

from tests.live_app import app_server

pytestmark = [pytest.mark.server, pytest.mark.slow]


def sockets(folder: Path) -> list[Path]:
    return [p for p in folder.glob("gunicorn-*.ctl") if stat.S_ISSOCK(p.stat().st_mode)]


def test_two_instances_on_one_host_each_get_a_control_socket_of_their_own(
    dynamodb_local, tmp_path, monkeypatch
):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    first, second = tmp_path / "a", tmp_path / "b"
    for var_dir in (first, second):
        var_dir.mkdir()
    with app_server(dynamodb_local, first), app_server(dynamodb_local, second):
        ours = sockets(first), sockets(second)
    assert [len(s) for s in ours] == [1, 1]
    assert ours[0][0].name != ours[1][0].name  # named by each instance's own process
    assert not (home / ".gunicorn").exists()
    assert os.listdir(home) == []
