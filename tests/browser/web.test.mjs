// Browser tests of the web interface in headless Chromium. They sign in,
// open the queue and a case, approve an action, change a verdict, check the
// dashboard charts, a role that may not approve and narrow screens. They
// also open a reported message whose HTML tries to load remote content, run
// scripts and submit a form. Run them with scripts/browser-tests.sh.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";

import { freePort, launchBrowser, signIn, startService } from "./harness.mjs";

const CONFIG = `
[response]
default_playbooks = false
internal_domains = ["corp-example.com"]

[[response.playbooks]]
name = "approve-everything"
verdicts = ["malicious"]
steps = [
  { action = "block_domain", target = "url_domains", mode = "approve", connector = "blocklist" },
  { action = "reset_password", target = "reporters", mode = "approve", connector = "log" },
]
`;

/** A credential lure whose HTML tries everything a page must not do. */
function hostileLure(trap) {
  const html = `<html><head>
<meta http-equiv="refresh" content="5;url=${trap}/refresh">
<link rel="stylesheet" href="${trap}/style.css">
<style>body { background: url(${trap}/style-background.png); }</style>
</head><body onload="fetch('${trap}/onload')">
<p>Your mailbox password expires today. Confirm your password within 24 hours or your account will be locked.</p>
<img src="${trap}/pixel.gif" alt="company logo">
<img src="http://tracker.example/pixel.gif?u=alice" srcset="${trap}/srcset.png 2x" alt="tracker">
<img src="x" onerror="fetch('${trap}/onerror')">
<div style="background-image: url(${trap}/inline-style.png)">Styled block</div>
<table background="${trap}/table-background.png"><tr><td>Account</td></tr></table>
<script>window.top.document.body.dataset.pwned = "script"; window.pwned = 1; fetch("${trap}/script");</script>
<iframe src="${trap}/frame"></iframe>
<form id="steal" action="${trap}/form" method="post"><input name="password" value="hunter2"><button id="send">Send password</button></form>
<p><a href="http://0utlook-account-verify.example/signin/confirm.php?id=browser">Confirm password</a></p>
<p><a href="javascript:fetch('${trap}/javascript-link')">Open mailbox</a></p>
</body></html>`;
  return [
    `From: "IT Service Desk" <it-desk@0utlook-account-verify.example>`,
    "To: alice@corp-example.com, dan@corp-example.com",
    "Subject: Action required: confirm your password today",
    "Message-ID: <browser-test-1@0utlook-account-verify.example>",
    "Date: Tue, 7 May 2024 08:01:00 +0000",
    "MIME-Version: 1.0",
    "Content-Type: text/html; charset=utf-8",
    "",
    html,
  ].join("\r\n");
}

const NEWSLETTER = [
  "From: news@cycling-club.example",
  "To: alice@corp-example.com",
  "Subject: Spring ride on Saturday",
  "Message-ID: <news-browser@cycling-club.example>",
  "Date: Tue, 7 May 2024 09:00:00 +0000",
  "",
  "The spring ride starts at nine at the club house. See you there.",
].join("\r\n");

describe("web interface", () => {
  let service;
  let browser;
  let trap;
  const trapHits = [];
  let lureCase;

  before(async () => {
    // A server on 127.0.0.1 that the hostile message points at: any request
    // it receives means the page loaded, ran or submitted something.
    const trapPort = await freePort();
    trap = `http://127.0.0.1:${trapPort}`;
    const trapServer = createServer((request, response) => {
      trapHits.push(`${request.method} ${request.url}`);
      response.end("trap");
    });
    await new Promise((resolve) => trapServer.listen(trapPort, "127.0.0.1", resolve));
    trapServer.unref();
    await fetch(`${trap}/self-check`);
    assert.deepEqual(trapHits, ["GET /self-check"], "the trap server counts requests");
    trapHits.length = 0;

    service = await startService(CONFIG);
    service.addUser("alice", "analyst");
    service.addUser("audra", "auditor");
    service.addUser("ivan", "identity");
    const lure = await service.submit(hostileLure(trap), "alice@corp-example.com");
    const news = await service.submit(NEWSLETTER, "bob@corp-example.com");
    lureCase = (await service.waitForDecision(lure)).case_id;
    await service.waitForDecision(news);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await service?.stop();
  });

  /** Opens a new browser context signed in as `name` that records every request. */
  async function tab(name, viewport = { width: 1280, height: 900 }) {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const requests = [];
    page.on("request", (request) => requests.push(request.url()));
    await signIn(page, service.base, name);
    return { page, requests, context };
  }

  test("analyst signs in and opens the queue", async () => {
    const { page, context } = await tab("alice");

    assert.equal(new URL(page.url()).pathname, "/queue");
    const rows = page.locator("table.queue tbody tr");
    assert.equal(await rows.count(), 2);
    await page.keyboard.press("j");
    assert.equal(await page.locator("table.queue tr.selected").count(), 1);
    const focused = await page.evaluate(() => document.activeElement?.getAttribute("href"));
    assert.match(focused, /^\/cases\//);
    await context.close();
  });

  test("case page shows decision, message, indicators and actions", async () => {
    const { page, context } = await tab("alice");
    await page.goto(`${service.base}/cases/${lureCase}`);

    await assert.doesNotReject(page.locator("#decision .badge.v-malicious").first().waitFor());
    assert.match(await page.locator("h1").innerText(), /confirm your password today/);
    assert.equal(await page.locator("iframe.message-frame").getAttribute("sandbox"), "");
    assert.match(await page.locator("#indicators").innerText(), /0utlook-account-verify\[\.\]example/);
    assert.equal(await page.locator("#actions tr.action-row").count(), 2);
    assert.match(await page.locator("#timeline").innerText(), /decided/);
    await context.close();
  });

  test("hostile message loads, runs and submits nothing", async () => {
    const { page, requests, context } = await tab("alice");
    await page.goto(`${service.base}/cases/${lureCase}`);
    const frame = page.frames().find((candidate) => candidate.url().endsWith("/message"));
    assert.ok(frame, "the message frame loaded");
    await frame.waitForLoadState("load");

    const text = await frame.locator("body").innerText();
    assert.match(text, /Confirm password/);
    assert.match(text, /hxxp:\/\/0utlook-account-verify\[\.\]example\/signin\/confirm\[\.\]php\?id=browser/);
    assert.match(text, /\[image not loaded: company logo\]/);
    assert.equal(await frame.locator("form, input, button, script, iframe, a[href], img[src^='http']").count(), 0);

    // Clicking what is left of the form button and the links does nothing.
    await frame.getByText("Send password").click();
    await frame.getByText("Open mailbox").click();
    await frame.getByText("Confirm password").click();
    await page.waitForTimeout(1500);

    assert.equal(await page.evaluate(() => document.body.dataset.pwned), undefined, "no script of the message ran in the page");
    assert.equal(page.url(), `${service.base}/cases/${lureCase}`);
    assert.ok(requests.some((url) => url.endsWith("/message")), "the request log includes the frame");
    const foreign = requests.filter((url) => !url.startsWith(`${service.base}/`));
    assert.deepEqual(foreign, [], "every request of the page stays on the phishloop server");
    assert.deepEqual(trapHits, [], "the trap server received no request");
    await context.close();
  });

  test("analyst approves an action", async () => {
    const { page, context } = await tab("alice");
    await page.goto(`${service.base}/cases/${lureCase}`);
    const row = page.locator("tr.action-row[data-kind='block_domain']");

    await Promise.all([page.waitForURL(/done=approved/), row.getByRole("button", { name: "Approve" }).click()]);

    assert.match(await page.locator("p.notice").innerText(), /approved and handed to its connector/);
    assert.equal(await page.locator("tr.action-row[data-kind='block_domain']").getAttribute("data-status"), "succeeded");
    assert.match(await page.locator("tr.action-row[data-kind='block_domain']").innerText(), /alice/);
    assert.match(await page.locator("#timeline").innerText(), /action approved/);
    await context.close();
  });

  test("user without the role cannot approve", async () => {
    const auditor = await tab("audra");
    await auditor.page.goto(`${service.base}/cases/${lureCase}`);
    assert.equal(await auditor.page.getByRole("button", { name: "Approve" }).count(), 0, "no button for an auditor");
    const actionId = (await auditor.page.locator("tr.action-row[data-kind='reset_password']").getAttribute("id")).replace("action-", "");
    const csrf = await auditor.page.locator("form.signout input[name=csrf]").getAttribute("value");

    const response = await auditor.page.request.post(`${service.base}/actions/${actionId}/approve`, {
      form: { csrf },
      headers: { origin: service.base },
      maxRedirects: 0,
    });
    assert.equal(response.status(), 403);
    assert.match(await response.text(), /Your role, auditor, may not/);
    await auditor.context.close();

    const identity = await tab("ivan");
    await identity.page.goto(`${service.base}/cases/${lureCase}`);
    assert.equal(await identity.page.locator("tr.action-row[data-kind='reset_password'] button.approve").count(), 1);
    assert.equal(await identity.page.locator("tr.action-row[data-kind='block_domain'] button").count(), 0);
    await identity.context.close();
  });

  test("analyst changes the verdict", async () => {
    const { page, context } = await tab("alice");
    await page.goto(`${service.base}/cases/${lureCase}`);

    await page.locator("details.correct summary").click();
    await page.selectOption("details.correct select[name=verdict]", "simulation");
    await page.selectOption("details.correct select[name=category]", "credential_harvesting");
    await page.fill("details.correct input[name=reason]", "this is the awareness team's simulation of May");
    await Promise.all([page.waitForURL(/done=verdict/), page.getByRole("button", { name: "Record the verdict" }).click()]);

    assert.match(await page.locator("#decision .decision-line").innerText(), /simulation/);
    assert.match(await page.locator("ul.corrections").innerText(), /alice changed malicious \/ credential_harvesting to simulation/);
    assert.match(await page.locator("#timeline").innerText(), /verdict corrected/);
    await context.close();
  });

  test("dashboard shows the charts", async () => {
    const { page, requests, context } = await tab("alice");
    await page.goto(`${service.base}/dashboard`);

    assert.equal(await page.locator("svg.chart").count(), 6);
    assert.ok((await page.locator("#chart-per-day rect").count()) > 0, "the per-day chart has bars");
    assert.match(await page.locator("#chart-funnel").innerText(), /reported/);
    assert.match(await page.locator(".figures").innerText(), /2\s+reports/);
    const foreign = requests.filter((url) => !url.startsWith(`${service.base}/`));
    assert.deepEqual(foreign, []);
    await context.close();
  });

  test("pages fit a narrow screen", async () => {
    const { page, context } = await tab("alice", { width: 390, height: 844 });
    for (const path of ["/queue", `/cases/${lureCase}`, "/dashboard", "/coaching"]) {
      await page.goto(`${service.base}${path}`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `${path} is ${overflow} px wider than the screen`);
    }
    await context.close();
  });
});
