"""Issue 16 point 1: a dispatch is priced exactly as the control plane's ledger prices it.

FIGURES are what the ledger's formula gives in JavaScript (doubles, Math.round to
microdollars) for the same inputs: every agent, each model tier and a model it does not
know (priced flagship), at four sizes of run. They were computed once with node from the
formula cost-calculator.ts documents; a change of rate, tier or rounding here breaks them.
The token samples are the output formats token-counter.ts documents for each agent.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dispatches import costs
from dispatches.costs import Tokens

# (agent, model, seconds, vCPU units, memory MB, tokens in, tokens out,
#  compute, memory, llm, total) as the ledger computes them
FIGURES = [
    (
        "claude",
        "claude-opus-4-5-20251101",
        60,
        1024,
        2048,
        1000,
        500,
        0.00072,
        0.00012,
        0.0525,
        0.05334,
    ),
    (
        "claude",
        "claude-opus-4-5-20251101",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        9.25923,
        9.360058,
    ),
    ("claude", "claude-opus-4-5-20251101", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("claude", "claude-opus-4-5-20251101", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 9e-05, 0.000139),
    (
        "claude",
        "claude-sonnet-4-20250514",
        60,
        1024,
        2048,
        1000,
        500,
        0.00072,
        0.00012,
        0.021,
        0.02184,
    ),
    (
        "claude",
        "claude-sonnet-4-20250514",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        3.703692,
        3.80452,
    ),
    ("claude", "claude-sonnet-4-20250514", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("claude", "claude-sonnet-4-20250514", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 3.6e-05, 8.5e-05),
    (
        "claude",
        "claude-3-5-haiku-20241022",
        60,
        1024,
        2048,
        1000,
        500,
        0.00072,
        0.00012,
        0.00525,
        0.00609,
    ),
    (
        "claude",
        "claude-3-5-haiku-20241022",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        0.925923,
        1.026751,
    ),
    ("claude", "claude-3-5-haiku-20241022", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("claude", "claude-3-5-haiku-20241022", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 9e-06, 5.8e-05),
    (
        "claude",
        "claude-sonnet-4-5-20250929",
        60,
        1024,
        2048,
        1000,
        500,
        0.00072,
        0.00012,
        0.0525,
        0.05334,
    ),
    (
        "claude",
        "claude-sonnet-4-5-20250929",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        9.25923,
        9.360058,
    ),
    ("claude", "claude-sonnet-4-5-20250929", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("claude", "claude-sonnet-4-5-20250929", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 9e-05, 0.000139),
    ("codex", "gpt-5.2-codex", 60, 1024, 2048, 1000, 500, 0.00072, 0.00012, 0.025, 0.02584),
    (
        "codex",
        "gpt-5.2-codex",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        4.19752,
        4.298348,
    ),
    ("codex", "gpt-5.2-codex", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("codex", "gpt-5.2-codex", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 4e-05, 8.9e-05),
    ("codex", "gpt-4.1-codex", 60, 1024, 2048, 1000, 500, 0.00072, 0.00012, 0.01, 0.01084),
    (
        "codex",
        "gpt-4.1-codex",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        1.679008,
        1.779836,
    ),
    ("codex", "gpt-4.1-codex", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("codex", "gpt-4.1-codex", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 1.6e-05, 6.5e-05),
    ("codex", "gpt-4o-mini", 60, 1024, 2048, 1000, 500, 0.00072, 0.00012, 0.0025, 0.00334),
    (
        "codex",
        "gpt-4o-mini",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        0.419752,
        0.52058,
    ),
    ("codex", "gpt-4o-mini", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("codex", "gpt-4o-mini", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 4e-06, 5.3e-05),
    ("codex", "gpt-5.1-codex-max", 60, 1024, 2048, 1000, 500, 0.00072, 0.00012, 0.025, 0.02584),
    (
        "codex",
        "gpt-5.1-codex-max",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        4.19752,
        4.298348,
    ),
    ("codex", "gpt-5.1-codex-max", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("codex", "gpt-5.1-codex-max", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 4e-05, 8.9e-05),
    ("gemini", "gemini-3-pro-preview", 60, 1024, 2048, 1000, 500, 0.00072, 0.00012, 0.02, 0.02084),
    (
        "gemini",
        "gemini-3-pro-preview",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        3.20987,
        3.310698,
    ),
    ("gemini", "gemini-3-pro-preview", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("gemini", "gemini-3-pro-preview", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 3e-05, 7.9e-05),
    ("gemini", "gemini-2.0-flash", 60, 1024, 2048, 1000, 500, 0.00072, 0.00012, 0.008, 0.00884),
    (
        "gemini",
        "gemini-2.0-flash",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        1.283948,
        1.384776,
    ),
    ("gemini", "gemini-2.0-flash", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("gemini", "gemini-2.0-flash", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 1.2e-05, 6.1e-05),
    (
        "gemini",
        "gemini-2.0-flash-lite",
        60,
        1024,
        2048,
        1000,
        500,
        0.00072,
        0.00012,
        0.002,
        0.00284,
    ),
    (
        "gemini",
        "gemini-2.0-flash-lite",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        0.320987,
        0.421815,
    ),
    ("gemini", "gemini-2.0-flash-lite", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("gemini", "gemini-2.0-flash-lite", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 3e-06, 5.2e-05),
    (
        "gemini",
        "gemini-3-flash-preview",
        60,
        1024,
        2048,
        1000,
        500,
        0.00072,
        0.00012,
        0.02,
        0.02084,
    ),
    (
        "gemini",
        "gemini-3-flash-preview",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        3.20987,
        3.310698,
    ),
    ("gemini", "gemini-3-flash-preview", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("gemini", "gemini-3-flash-preview", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 3e-05, 7.9e-05),
    ("aider", "deepseek-coder-v2", 60, 1024, 2048, 1000, 500, 0.00072, 0.00012, 0.00112, 0.00196),
    (
        "aider",
        "deepseek-coder-v2",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        0.179753,
        0.280581,
    ),
    ("aider", "deepseek-coder-v2", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("aider", "deepseek-coder-v2", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 2e-06, 5.1e-05),
    ("aider", "deepseek-coder", 60, 1024, 2048, 1000, 500, 0.00072, 0.00012, 0.00028, 0.00112),
    (
        "aider",
        "deepseek-coder",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        0.044938,
        0.145766,
    ),
    ("aider", "deepseek-coder", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("aider", "deepseek-coder", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 0, 4.9e-05),
    (
        "aider",
        "deepseek/deepseek-coder",
        60,
        1024,
        2048,
        1000,
        500,
        0.00072,
        0.00012,
        0.00112,
        0.00196,
    ),
    (
        "aider",
        "deepseek/deepseek-coder",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        0.179753,
        0.280581,
    ),
    ("aider", "deepseek/deepseek-coder", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("aider", "deepseek/deepseek-coder", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 2e-06, 5.1e-05),
    ("aider", "unknown-model", 60, 1024, 2048, 1000, 500, 0.00072, 0.00012, 0.0028, 0.00364),
    (
        "aider",
        "unknown-model",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        0.449382,
        0.55021,
    ),
    ("aider", "unknown-model", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("aider", "unknown-model", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 4e-06, 5.3e-05),
    ("grok", "grok-4.1", 60, 1024, 2048, 1000, 500, 0.00072, 0.00012, 0.0125, 0.01334),
    ("grok", "grok-4.1", 3601, 2048, 4096, 123457, 98765, 0.086424, 0.014404, 2.09876, 2.199588),
    ("grok", "grok-4.1", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("grok", "grok-4.1", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 2e-05, 6.9e-05),
    ("grok", "grok-3", 60, 1024, 2048, 1000, 500, 0.00072, 0.00012, 0.005, 0.00584),
    ("grok", "grok-3", 3601, 2048, 4096, 123457, 98765, 0.086424, 0.014404, 0.839504, 0.940332),
    ("grok", "grok-3", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("grok", "grok-3", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 8e-06, 5.7e-05),
    ("grok", "grok-2", 60, 1024, 2048, 1000, 500, 0.00072, 0.00012, 0.00125, 0.00209),
    # The ledger maps grok-4-fast-reasoning to fast (unknown models are flagship): grok-2's.
    (
        "grok",
        "grok-4-fast-reasoning",
        60,
        1024,
        2048,
        1000,
        500,
        0.00072,
        0.00012,
        0.00125,
        0.00209,
    ),
    ("grok", "grok-2", 3601, 2048, 4096, 123457, 98765, 0.086424, 0.014404, 0.209876, 0.310704),
    ("grok", "grok-2", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("grok", "grok-2", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 2e-06, 5.1e-05),
    ("grok", "grok-code-fast-1", 60, 1024, 2048, 1000, 500, 0.00072, 0.00012, 0.0125, 0.01334),
    (
        "grok",
        "grok-code-fast-1",
        3601,
        2048,
        4096,
        123457,
        98765,
        0.086424,
        0.014404,
        2.09876,
        2.199588,
    ),
    ("grok", "grok-code-fast-1", 0, 1024, 2048, 0, 0, 0, 0, 0, 0),
    ("grok", "grok-code-fast-1", 7, 512, 1024, 1, 1, 4.2e-05, 7e-06, 2e-05, 6.9e-05),
]


@pytest.mark.parametrize("row", FIGURES, ids=lambda r: f"{r[0]}-{r[1]}-{r[2]}s")
def test_every_agent_and_tier_costs_what_the_ledger_says(row):
    agent, model, seconds, vcpu, memory, tokens_in, tokens_out, *expected = row
    cost = costs.price(
        agent=agent,
        model_id=model,
        duration=seconds,
        tokens=Tokens(tokens_in, tokens_out, tokens_in + tokens_out, "parsed"),
        vcpu_units=vcpu,
        memory_mb=memory,
    )
    assert [cost.compute, cost.memory, cost.llm, cost.total] == expected


def test_the_ledgers_own_test_figures():
    """cost-calculator.test.ts: 60 s, 1 vCPU, 2 GB, 1,000 in and 500 out on Claude Opus."""
    cost = costs.price(
        agent="claude",
        model_id="claude-opus-4-5-20251101",
        duration=60,
        tokens=Tokens(1000, 500, 1500, "parsed"),
    )
    assert (cost.compute, cost.memory, cost.llm, cost.storage) == (0.00072, 0.00012, 0.0525, 0)
    assert (cost.tier, cost.tier_multiplier) == ("flagship", 1.0)
    assert costs.model_tier("claude-sonnet-4-20250514") == "balanced"
    assert costs.model_tier("gpt-4o-mini") == "fast"
    assert costs.model_tier("unknown-model") == "flagship"


def test_persistent_storage_is_priced_per_second_of_a_30_day_month():
    cost = costs.price(
        agent="claude",
        model_id="claude-opus-4-5-20251101",
        duration=60,
        tokens=Tokens(1000, 500, 1500, "parsed"),
        efs_bytes=1024**3,
        persistent=True,
    )
    assert cost.storage == round(0.30 / 2592000 * 60, 6) == 0.000007


def test_bad_inputs_are_refused_as_the_ledger_refuses_them():
    good: dict[str, Any] = {
        "agent": "claude",
        "model_id": "x",
        "duration": 1,
        "tokens": Tokens(1, 1, 2, "parsed"),
    }
    for bad in ({"duration": -1}, {"vcpu_units": 0}, {"memory_mb": 0}):
        with pytest.raises(ValueError):
            costs.price(**{**good, **bad})
    with pytest.raises(ValueError):
        costs.price(**{**good, "tokens": Tokens(-1, 0, -1, "parsed")})


def test_half_a_microdollar_rounds_up_as_javascript_does():
    assert costs._microdollars(0.0000005) == 0.000001  # Math.round(0.5) / 1e6, as node gives
    assert round(0.0000005, 6) == 0.0  # Python's round() halves to even


def test_the_duration_is_created_to_ended_rounded_to_whole_seconds_half_up():
    start = datetime(2026, 12, 8, 12, 0, 0, tzinfo=UTC)
    assert costs.duration_seconds(start, start + timedelta(milliseconds=1499)) == 1
    assert costs.duration_seconds(start, start + timedelta(milliseconds=1500)) == 2
    assert costs.duration_seconds(start, start + timedelta(microseconds=1_499_999)) == 1


# --- tokens, from the output formats token-counter.ts documents ------------------------------


@pytest.mark.parametrize(
    ("agent", "output", "expected"),
    [
        ("claude", 'done {"usage":{"input_tokens":1500,"output_tokens":2500}}', (1500, 2500, 4000)),
        ("claude", '{"usage": {"output_tokens": 7, "cache": 1, "input_tokens": 3}}', (3, 7, 10)),
        ("codex", "Tokens used: 3500 (input: 1000, output: 2500)", (1000, 2500, 3500)),
        (
            "codex",
            'x {"usage":{"prompt_tokens":1000,"completion_tokens":2500}}',
            (1000, 2500, 3500),
        ),
        ("codex", '{"usage":{"completion_tokens":20,"prompt_tokens":10}}', (10, 20, 30)),
        (
            "gemini",
            'Usage: {"promptTokenCount":1200,"candidatesTokenCount":800}',
            (1200, 800, 2000),
        ),
        (
            "gemini",
            '{"usageMetadata":{"promptTokenCount":1200,"candidatesTokenCount":800,'
            '"totalTokenCount":2100}}',
            (1200, 800, 2100),  # the stated total wins, as in the ledger
        ),
        ("gemini", '{"candidatesTokenCount":5,"promptTokenCount":4}', (4, 5, 9)),
        ("aider", "Tokens: 4,532 sent, 1,234 received. Cost: $0.01", (4532, 1234, 5766)),
        ("aider", "tokens: 4532 sent, 1234 received", (4532, 1234, 5766)),
        ("grok", '{"usage":{"prompt_tokens":1000,"completion_tokens":500}}', (1000, 500, 1500)),
    ],
)
def test_each_agents_own_token_count_is_parsed(agent, output, expected):
    tokens = costs.count_tokens(agent, output)
    assert (tokens.input, tokens.output, tokens.total, tokens.source) == (*expected, "parsed")


def test_the_first_count_in_the_output_is_the_one_taken():
    output = '{"usage":{"input_tokens":1,"output_tokens":2}} {"usage":{"input_tokens":9,"output_tokens":9}}'
    assert costs.count_tokens("claude", output).total == 3


def test_without_a_count_the_tokens_are_estimated_from_the_length_as_the_ledger_does():
    tokens = costs.count_tokens("claude", "x" * 1001)  # 251 tokens: 151 in, 100 out
    assert (tokens.input, tokens.output, tokens.total, tokens.source) == (
        151,
        100,
        251,
        "estimated",
    )
    # JavaScript's length counts UTF-16 code units: an emoji is two
    assert costs.count_tokens("codex", "\U0001f600" * 4).total == 2
    # another agent's format is not this agent's count
    assert costs.count_tokens("aider", '{"usage":{"input_tokens":1,"output_tokens":2}}').source == (
        "estimated"
    )
    # Arabic-Indic digits are not JavaScript digits
    assert costs.count_tokens("codex", "Tokens used: \u0663 (input: 1, output: 2)").source == (
        "estimated"
    )


def test_an_empty_output_has_no_tokens():
    assert costs.count_tokens("grok", "  \n").source == "unavailable"


# --- on the dispatch: priced when it ends, in the same write ---------------------------------


def test_a_finished_run_carries_its_cost_from_the_tokens_its_agent_printed(settings, make_tenant):
    from dispatches import lifecycle, storage
    from outpost_admin.dynamo import counting_calls
    from tests.dispatches.workers import ACTOR, create, script, use_commands, worker_for

    usage = '{"type":"result","usage":{"input_tokens":1500,"output_tokens":2500}}'
    use_commands(settings, claude=script(f"print({usage!r})"))
    tenant, _ = make_tenant()
    dispatch = create(tenant)
    assert worker_for(tenant).run(once=True) == 1
    done = storage.dispatch_get(dispatch.dispatch_id)
    assert done.ended_at is not None and done.cost is not None
    expected = costs.price(
        agent="claude",
        model_id=dispatch.model_id,
        duration=costs.duration_seconds(done.started_at, done.ended_at),
        tokens=Tokens(1500, 2500, 4000, "parsed"),
    )
    assert done.cost == expected.as_item()
    assert (done.cost["tokenSource"], done.cost["llm"]) == ("parsed", 0.015 * 1.5 + 0.075 * 2.5)

    # a cancel prices the time it waited, with no tokens, in its one transaction
    waiting = create(tenant)
    with counting_calls() as log:
        lifecycle.dispatch_cancel(dispatch=waiting, actor=ACTOR)
    assert log.by_operation() == {"TransactWriteItems": 1}
    cancelled = storage.dispatch_get(waiting.dispatch_id).cost
    assert cancelled is not None
    assert (cancelled["tokenSource"], cancelled["llm"]) == ("unavailable", 0)


def test_the_api_and_the_run_page_show_the_cost(settings, make_tenant, client):
    from dispatches import storage
    from tests.dispatches.workers import create, script, use_commands, worker_for

    use_commands(settings, claude=script("print('Tokens used: 30 (input: 10, output: 20)')"))
    tenant, issued = make_tenant()
    dispatch = create(tenant)
    worker_for(tenant).run(once=True)
    cost = storage.dispatch_get(dispatch.dispatch_id).cost
    assert cost is not None
    body = client.get(
        f"/api/v1/dispatches/{dispatch.dispatch_id}", HTTP_X_API_KEY=issued.raw
    ).json()["data"]
    assert body["cost"]["total"] == cost["total"]
    assert body["cost"]["tokenSource"] == "estimated"  # a codex format, on a claude run
    assert body["cost"]["modelTier"] == "flagship"


def test_the_meter_keeps_what_the_count_needs_of_a_long_output():
    meter = costs.OutputMeter(keep=100, tail=80)
    meter.feed("x" * 150)
    meter.feed('{"usage":{"input_tokens":3,"output_tokens":4}}')
    assert meter.tokens("claude") == Tokens(3, 4, 7, "parsed")  # found in the tail
    quiet = costs.OutputMeter(keep=100, tail=80)
    quiet.feed("y" * 1000)
    assert quiet.tokens("claude") == Tokens(150, 100, 250, "estimated")  # all 1,000 counted
    short = costs.OutputMeter()
    short.feed("Tokens: 1,000 sent, 20 received")
    assert short.tokens("aider") == costs.count_tokens("aider", "Tokens: 1,000 sent, 20 received")
