// Captures the queue, a case and the dashboard of the web interface on real
// reported messages into docs/screenshots/. Starts `phishloop serve` on a
// temporary folder, submits a sample of the messages of CORPUS_DIR through
// the API (the phish/, spam/ and ham/ subfolders when present), and signs in
// as an analyst. Chromium resolves no host name, so nothing in the messages
// is fetched. The local parts of email addresses are masked in the
// captured pages, because corpus messages name real people.
// Usage: node screenshots.mjs CORPUS_DIR [MESSAGES]

import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

import { launchBrowser, signIn, startService } from "./harness.mjs";

const CONFIG = `
[analysis.organization]
domains = ["corp-example.com"]

[response]
internal_domains = ["corp-example.com"]

[[response.playbooks]]
name = "block-malicious"
verdicts = ["malicious"]
min_confidence = 0.8
steps = [
  { action = "block_url", target = "urls", mode = "auto", connector = "blocklist" },
  { action = "block_domain", target = "url_domains", mode = "approve", connector = "blocklist" },
]
`;

const REPORTERS = ["alice@corp-example.com", "bob@corp-example.com", "carol@corp-example.com", "dan@corp-example.com"];

/** Lists the files under `folder`, sorted, so every run picks the same sample. */
function files(folder) {
  const found = [];
  for (const entry of readdirSync(folder).sort()) {
    const full = path.join(folder, entry);
    if (statSync(full).isDirectory()) found.push(...files(full));
    else found.push(full);
  }
  return found;
}

/** Takes `count` files spread evenly over `list`. */
function spread(list, count) {
  if (list.length <= count) return list;
  const step = list.length / count;
  return Array.from({ length: count }, (_, index) => list[Math.floor(index * step)]);
}

/** Replaces the local part of every email address in the text of a page or frame with "…". */
async function maskAddresses(target) {
  await target.evaluate(() => {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const address = /[\w.+'-]+@(?=[\w-]+(\.|\[\.\]))/g;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      node.nodeValue = node.nodeValue.replace(address, "…@");
    }
  });
}

/** Masks the addresses of the page and its frames, then captures it. */
async function capture(page, options) {
  for (const frame of page.frames()) await maskAddresses(frame);
  await page.screenshot(options);
}

function sample(corpus, total) {
  const parts = [
    ["phish", Math.ceil(total * 0.6)],
    ["spam", Math.ceil(total * 0.2)],
    ["ham", Math.ceil(total * 0.2)],
  ];
  const chosen = [];
  for (const [folder, count] of parts) {
    const full = path.join(corpus, folder);
    try {
      chosen.push(...spread(files(full), count));
    } catch {
      // A corpus without this subfolder.
    }
  }
  return chosen.length > 0 ? chosen : spread(files(corpus), total);
}

const [corpus, countText] = process.argv.slice(2);
if (!corpus) {
  console.error("usage: node screenshots.mjs CORPUS_DIR [MESSAGES]");
  process.exit(2);
}
const output = path.resolve(import.meta.dirname, "../../docs/screenshots");
const service = await startService(CONFIG);
try {
  service.addUser("alice", "analyst");
  const reports = [];
  for (const [index, file] of sample(corpus, Number(countText ?? 40)).entries()) {
    try {
      reports.push(await service.submit(readFileSync(file), REPORTERS[index % REPORTERS.length]));
    } catch (error) {
      console.error(`skipped ${file}: ${error.message}`);
    }
  }
  for (const id of reports) await service.waitForDecision(id, 120);
  console.log(`submitted and decided ${reports.length} reports`);

  const browser = await launchBrowser();
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await signIn(page, service.base, "alice");

  await page.goto(`${service.base}/queue`);
  await capture(page, { path: path.join(output, "queue.png") });

  // The case: the first malicious case with links, where the sanitised
  // message shows link targets.
  const candidates = await page.locator("table.queue tbody tr:has(.v-malicious) a.case-link").evaluateAll((links) =>
    links.map((link) => link.getAttribute("href")),
  );
  let shown = candidates[0];
  for (const href of candidates) {
    await page.goto(`${service.base}${href}`);
    if ((await page.locator("#indicators table").count()) > 0) {
      shown = href;
      break;
    }
  }
  await page.goto(`${service.base}${shown}`);
  await page.waitForTimeout(500);
  await capture(page, { path: path.join(output, "case.png"), fullPage: false });
  await page.locator("#message").scrollIntoViewIfNeeded();
  await page.locator("#message").screenshot({ path: path.join(output, "case-message.png") });
  await page.locator("#actions").screenshot({ path: path.join(output, "case-actions.png") });

  await page.goto(`${service.base}/dashboard`);
  await capture(page, { path: path.join(output, "dashboard.png"), fullPage: true });

  const narrow = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await signIn(narrow, service.base, "alice");
  await narrow.goto(`${service.base}/queue`);
  await capture(narrow, { path: path.join(output, "queue-narrow.png") });
  await browser.close();
  console.log(`screenshots written to ${output}`);
} finally {
  await service.stop();
}
