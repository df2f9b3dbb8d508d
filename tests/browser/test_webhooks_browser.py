"""A tenant user adds a webhook endpoint, sends a test event, reads the delivery log and its
attempts, resends, recovers failed deliveries and deletes the endpoint, in Chromium."""

import pytest
from playwright.sync_api import Page, expect
from standardwebhooks import Webhook

from tests.webhooks.conftest import Background
from tests.webhooks.receiver import Receiver
from webhooks.delivery import Deliverer

from .conftest import TENANT_PASSWORD, log_in


@pytest.fixture
def receiver(settings):
    settings.OUTPOST_WEBHOOK_ALLOW_PRIVATE = True
    settings.OUTPOST_WEBHOOK_RETRY_DELAYS = [0]  # one attempt, then failed: the log shows it
    started = Receiver(answers=[500]).start()
    yield started
    started.stop()


@pytest.fixture
def hooks_user(tenant_user_of, page: Page):
    tenant, _, user = tenant_user_of("Hooks Co")
    log_in(page, user.username, TENANT_PASSWORD)
    page.wait_for_url("**/home/")
    return tenant


def add_endpoint(page: Page, url: str) -> str:
    page.click("header nav >> text=Webhooks")
    expect(page.locator("h1")).to_contain_text("Webhooks of Hooks Co")
    page.click("text=Add endpoint")
    page.get_by_label("URL").fill(url)
    page.get_by_label("dispatch.succeeded").check()
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Endpoint added")
    secret = page.locator("#signing-secret").inner_text()
    page.click("text=Go to the endpoint")
    expect(page.locator("h1")).to_contain_text(url)
    return secret


def test_the_delivery_log_its_attempts_and_resend(page: Page, hooks_user, receiver):
    secret = add_endpoint(page, receiver.url)
    with Background(Deliverer(tenant_id=hooks_user.tenant_id)):
        page.click("text=Send test event")
        expect(page.locator("#messages")).to_contain_text("queued")
        receiver.wait_for(1)
        page.reload()
        row = page.locator("#deliveries tbody tr").first
        expect(row).to_contain_text("webhook.test")
        expect(row).to_contain_text("failed")
        expect(row).to_contain_text("HTTP 500")
        row.locator("a").first.click()  # expands to its attempts, in place
        expect(page.locator("table.attempts")).to_contain_text("HTTP 500")
        receiver.answers = [500, 200]
        row.get_by_role("button", name="Resend").click()
        receiver.wait_for(2)
        page.wait_for_timeout(300)
        page.reload()
        expect(page.locator("#deliveries tbody tr").first).to_contain_text("delivered")
    first, second = receiver.requests[:2]
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    Webhook(secret).verify(second.body, second.headers)


def test_recover_all_failed_since_a_time_and_delete(page: Page, hooks_user, receiver):
    add_endpoint(page, receiver.url)
    with Background(Deliverer(tenant_id=hooks_user.tenant_id)):
        for _ in range(2):
            page.click("text=Send test event")
            page.wait_for_load_state()
        receiver.wait_for(2)
        receiver.answers = [200]
        page.get_by_label("Failed since (UTC)").fill("2020-01-01T00:00")
        page.click("text=Recover all failed since…")
        expect(page.locator("h1")).to_contain_text("Send again the failed deliveries")
        page.click("main button[type=submit]")
        expect(page.locator("body")).to_contain_text("2 failed deliveries will be sent again")
        receiver.wait_for(4)
        page.wait_for_timeout(300)
        page.reload()
        expect(page.locator("#deliveries tbody")).not_to_contain_text("failed")
    page.click("text=Delete endpoint")
    expect(page.locator("h1")).to_contain_text("Delete the endpoint")
    page.click("main button[type=submit]")
    expect(page.locator("body")).to_contain_text("No endpoints yet.")
