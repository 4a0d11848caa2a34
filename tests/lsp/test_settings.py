"""Settings: precedence of the four layers, problems shown once, the workspace baseUrl rule."""

from __future__ import annotations

from lsprotocol import types
from m21_lsp.testing.scripted_server import ScriptedModelServer, Step
from support.lsp_client import capabilities, find

URI = "file:///work/shop.py"
REPLY = "<think>ok</think>\nIt adds things up."


async def _model_used(client, model_server, sample: str) -> str:
    """Run an explanation and return the model name the endpoint received."""
    client.open(URI, sample) if URI not in client.docs else None
    seen = len(model_server.requests)
    (action,) = await client.actions(URI, find(sample, "total = 0"), only=["refactor.explain"])
    result = await client.run(action)
    assert result["kind"] == "explained", result
    assert len(model_server.requests) == seen + 1
    return model_server.requests[-1].json["model"]


async def test_layers_rise_from_environment_to_init_options_to_configuration(
    start_lsp, model_server, sample
):
    model_server.default = Step(content=REPLY)
    env = {"M21_MODEL": "env/model"}

    client = await start_lsp(env=env)
    assert await _model_used(client, model_server, sample) == "env/model"

    client = await start_lsp(env=env, init={"m21": {"model": "init/model"}})
    assert await _model_used(client, model_server, sample) == "init/model"

    client = await start_lsp(
        env=env, init={"model": "init/model"}, config={"m21": {"model": "config/model"}}
    )
    assert await _model_used(client, model_server, sample) == "config/model"
    assert [r.method for r in client.registrations] == ["workspace/didChangeConfiguration"]

    client.set_configuration({"m21": {"model": "changed/model", "temperature": 0.5}})
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await client.sync()
    assert await _model_used(client, model_server, sample) == "changed/model"
    assert model_server.requests[-1].json["temperature"] == 0.5
    assert client.shown(types.MessageType.Warning) == []


async def test_clients_that_push_configuration_are_heard(start_lsp, model_server, sample):
    """Neovim 0.7 has no workspace/configuration: it pushes settings in the notification."""
    model_server.default = Step(content=REPLY)
    client = await start_lsp(caps=capabilities("neovim@v0.7.0"), init={"model": "init/model"})
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"m21": {"model": "pushed/model"}})
    )
    await client.sync()
    assert await _model_used(client, model_server, sample) == "pushed/model"


async def test_bad_settings_are_reported_once_and_the_previous_value_kept(
    start_lsp, model_server, sample
):
    model_server.default = Step(content=REPLY)
    client = await start_lsp(
        init={"maxTokens": -5},
        config={"m21": {"temperature": "hot", "hover": "sometimes", "colour": "blue"}},
    )
    (warning,) = await client.wait_until(lambda: client.shown(types.MessageType.Warning))
    assert "maxTokens=-5" in warning
    assert "temperature='hot'" in warning
    assert "hover='sometimes'" in warning
    assert "unknown setting 'colour'" in warning

    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await client.sync()
    assert len(client.shown(types.MessageType.Warning)) == 1

    client.set_configuration({"m21": {"temperature": "hot", "topP": 7}})
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await client.wait_until(lambda: len(client.shown(types.MessageType.Warning)) == 2)
    assert "topP=7" in client.shown(types.MessageType.Warning)[1]
    assert "temperature" not in client.shown(types.MessageType.Warning)[1]

    await _model_used(client, model_server, sample)
    body = model_server.requests[-1].json
    assert body["temperature"] == 1.0 and body["top_p"] == 0.95 and body["max_tokens"] == 8192


async def test_workspace_base_url_is_ignored_unless_allowed_outside_the_workspace(
    start_lsp, model_server, sample
):
    model_server.default = Step(content=REPLY)
    other = ScriptedModelServer().start()
    try:
        other.default = Step(content=REPLY)
        workspace = {"m21": {"baseUrl": other.base_url, "allowWorkspaceBaseUrl": True}}

        client = await start_lsp(config=workspace)
        await _model_used(client, model_server, sample)
        assert other.requests == []
        (warning,) = client.shown(types.MessageType.Warning)
        assert "baseUrl ignored" in warning
        assert "allowWorkspaceBaseUrl is only read from initializationOptions" in warning

        client = await start_lsp(config=workspace, init={"allowWorkspaceBaseUrl": True})
        await _model_used(client, other, sample)
        assert client.shown(types.MessageType.Warning) == [
            "m21-lsp settings: workspace settings: allowWorkspaceBaseUrl is only read from "
            "initializationOptions or the environment (ignored)"
        ]

        client = await start_lsp(
            config={"m21": {"baseUrl": other.base_url}},
            env={"M21_ALLOW_WORKSPACE_BASE_URL": "1"},
        )
        await _model_used(client, other, sample)
        assert client.shown(types.MessageType.Warning) == []
    finally:
        other.stop()


async def test_base_url_from_init_options_is_trusted(start_lsp, model_server, sample):
    other = ScriptedModelServer().start()
    try:
        other.default = Step(content=REPLY)
        client = await start_lsp(init={"baseUrl": other.base_url})
        await _model_used(client, other, sample)
        assert model_server.requests == []
    finally:
        other.stop()
