"""Issue 14 bug 11 in Chromium: on the API docs, "Try it out" on the create, with its example
body as it stands and a key given to Authorize, creates a dispatch (it used to answer 400)."""

import json

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def agent_commands(settings):
    settings.OUTPOST_AGENT_COMMANDS = json.dumps({"claude": ["true"]})


def test_try_it_out_on_the_create_with_its_example_creates_a_dispatch(page: Page, tenant_user_of):
    _, raw_key, _ = tenant_user_of("Docs Try Co")
    page.goto("/api/docs/")
    page.locator("button.authorize").first.click()
    dialog = page.locator(".auth-container").filter(has_text="ApiKey (apiKey)")
    dialog.locator("input").fill(raw_key)
    dialog.locator("button.authorize").click()
    page.get_by_role("button", name="Close").first.click()

    operation = page.locator("#operations-api-dispatch_create")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    body = operation.locator("textarea.body-param__text")
    expect(body).to_contain_text('"agent"')  # the example is a real request
    operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    expect(status).to_have_text("201", timeout=15_000)
