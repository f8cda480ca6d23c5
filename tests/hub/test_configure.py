"""``configure(c, ...)`` on a traitlets Config, read back the way JupyterHub reads it."""

from __future__ import annotations

import sys
from datetime import datetime
from types import SimpleNamespace

import pytest
from jupyterhub.spawner import LocalProcessSpawner
from traitlets.config import Config

from jupyter_cull_ext import knobs
from jupyter_cull_ext.hub import configure
from jupyter_cull_ext.hub.cli import CullHub
from jupyter_cull_ext.hub.options import SERVER_GRACE, defaults
from jupyter_cull_ext.hubenv import ENV_MAX_AGE, ENV_STARTED

SERVICE = "jupyter-cull-hub"


def lazy(value):
    """A config list as JupyterHub will see it (appended to a LazyConfigValue or a list)."""
    return value if isinstance(value, list) else value.get_value([])


def spawner_env(c: Config, name: str = "", groups: tuple[str, ...] = ()) -> dict:
    """The environment entries a LocalProcessSpawner gets from ``c``, callables called."""
    stub = SimpleNamespace(
        name=name, user=SimpleNamespace(groups=[SimpleNamespace(name=g) for g in groups]),
        orm_spawner=SimpleNamespace(started=datetime(2025, 1, 1, 12, 0, 0, 123456)))
    env = LocalProcessSpawner(config=c).environment
    return {k: v(stub) if callable(v) else v for k, v in env.items()}


def test_service_and_a_role_with_exactly_the_three_scopes():
    c = Config()
    c.JupyterHub.services = [{"name": "other", "url": "http://127.0.0.1:10101"}]
    service = configure(c, max_age=3600)
    assert c.JupyterHub.services == [{"name": "other", "url": "http://127.0.0.1:10101"},
                                     service]
    assert service == {"name": SERVICE, "command": [
        sys.executable, "-m", "jupyter_cull_ext.hub", "--max-age=3600"]}
    [role] = lazy(c.JupyterHub.load_roles)
    assert role["scopes"] == ["list:users", "read:servers", "delete:servers"]
    assert (role["name"], role["services"]) == (SERVICE, [SERVICE])


def test_the_command_carries_the_policy_to_the_companion():
    c = Config()
    service = configure(c, max_age=3600, groups=[("a", 60), ("b", 0)], timeout=900,
                        cull_every=30, concurrency=5, api_page_size=100,
                        remove_named_servers=True, cull_default_servers=False, name="culler")
    app = CullHub()
    app.initialize(service["command"][3:])
    assert list(app.group_max_age.items()) == [("a", 60), ("b", 0)]
    assert (app.max_age, app.timeout, app.cull_every, app.concurrency, app.api_page_size) == (
        3600, 900, 30, 5, 100)
    assert app.remove_named_servers and not app.cull_default_servers and app.cull_named_servers
    assert not app.dry_run
    [role] = lazy(c.JupyterHub.load_roles)
    assert role["scopes"][-1] == "read:users:groups"
    assert role["services"] == ["culler"]


def test_each_server_learns_its_max_age_and_started():
    c = Config()
    configure(c, max_age=3600, groups={"a": 60, "b": 0}, cull_named_servers=False)
    assert spawner_env(c, groups=("b", "a")) == {
        ENV_MAX_AGE: "60", ENV_STARTED: "2025-01-01T12:00:00.123456Z"}
    assert spawner_env(c, groups=("b",))[ENV_MAX_AGE] == "0"
    assert spawner_env(c)[ENV_MAX_AGE] == "3600"
    assert spawner_env(c, name="nb", groups=("a",))[ENV_MAX_AGE] == "0"  # not culled


def test_existing_environment_is_kept():
    c = Config()
    c.Spawner.environment = {"A": "1"}
    configure(c, max_age=60)
    assert set(spawner_env(c)) == {"A", ENV_MAX_AGE, ENV_STARTED}

    # A spawner class's own section replaces the Spawner one: ours go into both.
    c = Config()
    c.Spawner.environment = {"A": "1"}
    c.LocalProcessSpawner.environment = {"B": "2"}
    configure(c, max_age=60)
    assert set(spawner_env(c)) == {"B", ENV_MAX_AGE, ENV_STARTED}
    assert set(c.Spawner.environment) == {"A", ENV_MAX_AGE, ENV_STARTED}


@pytest.mark.parametrize("kwargs", [{"dry_run": True}, {"tell_servers": False}])
def test_servers_are_told_nothing_and_get_no_grace(kwargs):
    c = Config()
    service = configure(c, max_age=60, **kwargs)
    assert spawner_env(c) == {}
    assert ("--dry-run=True" in service["command"]) == ("dry_run" in kwargs)
    assert "--server-grace=0" in service["command"]
    # Unless the operator says otherwise.
    service = configure(Config(), max_age=60, server_grace=5, **kwargs)
    assert "--server-grace=5" in service["command"]


def test_one_set_of_defaults_for_the_command_configure_and_the_pass():
    app = CullHub()
    app.initialize([])
    for name, value in defaults().items():
        assert getattr(app, name) == value, name
    assert app.server_grace == SERVER_GRACE == 20
    assert "saving open documents" in app.class_traits()["server_grace"].help
    # configure() with only a max age: servers are told it, and the default grace applies.
    service = configure(Config(), max_age=60)
    assert service["command"][3:] == ["--max-age=60"]


def test_standalone_service():
    c = Config()
    service = configure(c, max_age=60, api_token="t" * 64, managed=False)
    assert service == {"name": SERVICE, "api_token": "t" * 64}


def test_service_declared_elsewhere():
    c = Config()
    service = configure(c, max_age=60, register=False)
    assert "services" not in c.JupyterHub and "load_roles" not in c.JupyterHub
    assert service["command"][-1] == "--max-age=60"
    assert set(spawner_env(c)) == {ENV_MAX_AGE, ENV_STARTED}


def test_mistakes_are_refused():
    with pytest.raises(TypeError, match="once"):
        configure(Config(), max_age=60, once=True)
    with pytest.raises(TypeError, match="max_age_typo"):
        configure(Config(), max_age=60, max_age_typo=1)
    with pytest.raises(ValueError, match="nothing to enforce"):
        configure(Config())
    with pytest.raises(knobs.ConfigError, match="max_age"):
        configure(Config(), max_age=-1)
    with pytest.raises(ValueError, match="api_token"):
        configure(Config(), max_age=60, managed=False)


def token_scopes(c: Config, section: str = "Spawner", db=None) -> list[str]:
    """The scopes JupyterHub asks for when it makes a server's token (``server_token_scopes``
    called as ``User.spawn`` does)."""
    import asyncio

    configured = LocalProcessSpawner(config=c).server_token_scopes
    assert callable(configured), configured
    return asyncio.run(configured(SimpleNamespace(db=db, user=SimpleNamespace(name="u"))))


def test_each_server_may_stop_itself_and_keeps_its_other_scopes():
    c = Config()
    configure(c, max_age=60)
    # Nothing configured before: the hub's default server role, plus the one scope.
    assert token_scopes(c) == ["access:servers!server", "delete:servers!server",
                               "users:activity!user"]

    # The operator's own list is kept, and so is a callable of theirs (sync or async).
    c = Config()
    c.Spawner.server_token_scopes = ["users:activity!user", "read:users:name!user"]
    configure(c, max_age=60)
    assert token_scopes(c) == ["delete:servers!server", "read:users:name!user",
                               "users:activity!user"]

    async def theirs(spawner):
        return ["inherit"] if spawner.user.name == "u" else []

    c = Config()
    c.LocalProcessSpawner.server_token_scopes = theirs
    configure(c, max_age=60)
    assert token_scopes(c) == ["delete:servers!server", "inherit"]

    # Servers told nothing: their tokens are left alone too.
    c = Config()
    configure(c, max_age=60, tell_servers=False)
    assert not LocalProcessSpawner(config=c).server_token_scopes
