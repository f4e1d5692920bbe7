"""What the operator sees in Prefect: parameter descriptions, held runs that say so, an outbox
rerun that says what it wrote, and `digest serve` keeping clear of the work-pool deployment."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from digest.starter import SAMPLE_DATE, write_starter

ROOT = Path(__file__).resolve().parent.parent


def _logs(flow_run_id, prefix: str) -> list[str]:  # noqa: ANN001
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    by_run = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
    deadline = time.monotonic() + 20
    while True:  # run logs reach the API in batches, shortly after the run
        with get_client(sync_client=True) as client:
            found = [log.message for log in client.read_logs(log_filter=by_run, limit=200)
                     if log.message.startswith(prefix)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _run(config: Path):  # noqa: ANN202 - a Prefect State
    from datetime import date

    from flows.daily_digest import daily_digest

    return daily_digest(edition_date=date.fromisoformat(SAMPLE_DATE), config_path=str(config), return_state=True)


def test_every_flow_parameter_has_a_description_for_the_ui_form():
    from prefect.utilities.callables import parameter_schema

    from flows.daily_digest import daily_digest

    properties = parameter_schema(daily_digest).properties
    assert set(properties) == {"edition_date", "config_path", "regions", "send", "force", "retry_failed", "finish"}
    descriptions = {name: prop.get("description", "") for name, prop in properties.items()}
    assert all(len(text) > 20 for text in descriptions.values()), descriptions
    assert "dry run" in descriptions["send"] and "YYYY-MM-DD" in descriptions["edition_date"]


@pytest.mark.slow
def test_a_held_run_is_tagged_and_named_held_and_found_by_its_state(prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateName

    config = write_starter(tmp_path).config
    with config.open("a", encoding="utf-8") as toml:
        toml.write("\n[quality]\nmin_articles = 500\n")
    state = _run(config)
    assert state.is_completed() and state.name == "Held"
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
        by_state = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Held"]))))
    assert "held" in run.tags
    assert run.name.endswith(f"-held-{SAMPLE_DATE}")
    assert run.id in {r.id for r in by_state}  # what `prefect flow-run ls --state Held` lists


@pytest.mark.slow
def test_an_outbox_rerun_says_it_wrote_the_same_messages_again(prefect_harness, tmp_path):
    config = write_starter(tmp_path).config
    first, again = _run(config), _run(config)
    outbox = tmp_path / "out" / "outbox"
    assert _logs(first.state_details.flow_run_id, "deliver: ") == [
        f"deliver: 5 messages in {outbox}: 5 new, 0 written again (already there from an earlier run)"]
    assert _logs(again.state_details.flow_run_id, "deliver: ") == [
        f"deliver: 5 messages in {outbox}: 0 new, 5 written again (already there from an earlier run)"]
    assert len(list(outbox.glob("*.eml"))) == 5


def test_serve_has_its_own_deployment_name_not_one_of_prefect_yaml():
    from typer.main import get_command

    from digest.cli import app
    from flows.daily_digest import SERVE_NAME

    deployed = {d["name"] for d in yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())["deployments"]}
    serve = get_command(app).commands["serve"]
    default = next(p.default for p in serve.params if p.name == "name")
    assert default == SERVE_NAME and SERVE_NAME not in deployed


@pytest.mark.slow
def test_serve_refuses_the_name_of_a_work_pool_deployment(prefect_harness):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate

    from flows.daily_digest import DeploymentTaken, check_serve_name

    with get_client(sync_client=True) as client:
        client.create_work_pool(WorkPoolCreate(name="digest-test-pool", type="process"), overwrite=True)
        flow_id = client.create_flow_from_name("daily-digest")
        client.create_deployment(flow_id, "pooled", work_pool_name="digest-test-pool",
                                 entrypoint="flows/daily_digest.py:daily_digest")
        client.create_deployment(flow_id, "served-before", entrypoint="flows/daily_digest.py:daily_digest")
    with pytest.raises(DeploymentTaken, match=r"daily-digest/pooled runs on work pool 'digest-test-pool'"):
        check_serve_name("pooled")
    check_serve_name("served-before")  # a served deployment may be served again
    check_serve_name("never-made")


@pytest.mark.slow
def test_a_mailbox_that_cannot_be_read_after_delivery_is_a_warning_not_a_failed_edition(prefect_harness, tmp_path):
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_starter(tmp_path).config
    with config.open("a", encoding="utf-8") as toml:
        toml.write(f'\n[mail.imap]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
                   'username = "bounces"\ntimeout = 2\n')
    state = _run(config)
    assert state.is_completed() and state.name == "Completed"
    assert len(list((tmp_path / "out" / "outbox").glob("*.eml"))) == 5
    (warning,) = _logs(state.state_details.flow_run_id, "bounces: ")
    assert "127.0.0.1" in warning
