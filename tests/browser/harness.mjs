// Runs `phishloop serve` on a temporary SQLite data folder on 127.0.0.1,
// creates accounts through the CLI, submits reports through the API, and
// drives Debian's Chromium through playwright-core. Nothing here talks to
// any address but 127.0.0.1: Chromium is started with a host resolver rule
// that fails every name lookup, so even a bug that let a page request a
// remote URL would not reach the network.

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

export const ADMIN_TOKEN = "browser-test-admin-token-0123456789abcdef";
export const PASSWORD = "correct horse battery staple";

/** The phishloop binary: $PHISHLOOP_BIN, or the debug build of this checkout. */
export function binary() {
  return process.env.PHISHLOOP_BIN ?? path.resolve(import.meta.dirname, "../../target/debug/phishloop");
}

/** The Chromium executable: $CHROMIUM, or Debian's. */
export function chromiumPath() {
  return process.env.CHROMIUM ?? "/usr/bin/chromium";
}

/** Returns a free TCP port on 127.0.0.1. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `phishloop serve` on a new temporary data folder with `configText`
 * as its configuration file, and waits until it answers /healthz.
 */
export async function startService(configText = "") {
  const folder = mkdtempSync(path.join(tmpdir(), "phishloop-browser-"));
  const data = path.join(folder, "data");
  const config = path.join(folder, "phishloop.toml");
  writeFileSync(config, configText);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const log = [];
  const child = spawn(binary(), ["serve", "--config", config, "--data", data, "--listen", `127.0.0.1:${port}`], {
    env: { ...process.env, PHISHLOOP_ADMIN_TOKEN: ADMIN_TOKEN, RUST_LOG: process.env.RUST_LOG ?? "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (chunk) => log.push(chunk.toString()));
  child.stderr.on("data", (chunk) => log.push(chunk.toString()));

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`phishloop serve exited with ${child.exitCode}:\n${log.join("")}`);
    }
    try {
      const response = await fetch(`${base}/healthz`);
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`phishloop serve did not answer within 30 s:\n${log.join("")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    base,
    config,
    data,
    log,
    /** Creates an account through `phishloop user add`, password on standard input. */
    addUser(name, role, password = PASSWORD) {
      const result = spawnSync(binary(), ["user", "add", name, "--role", role, "--config", config, "--data", data], {
        input: `${password}\n`,
        encoding: "utf8",
      });
      if (result.status !== 0) throw new Error(`phishloop user add ${name} failed: ${result.stderr}`);
    },
    /** Submits a raw message through the API and returns the report id. */
    async submit(message, reporter) {
      const url = new URL(`${base}/api/v1/reports`);
      if (reporter) url.searchParams.set("reporter", reporter);
      const response = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "message/rfc822" },
        body: message,
      });
      if (response.status !== 202) throw new Error(`submitting a report answered ${response.status}: ${await response.text()}`);
      return (await response.json()).report_id;
    },
    /** Waits until the report's analysis job is done and returns the report. */
    async waitForDecision(reportId, seconds = 60) {
      const deadline = Date.now() + seconds * 1000;
      for (;;) {
        const response = await fetch(`${base}/api/v1/reports/${reportId}`, {
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        });
        const report = await response.json();
        if (report.job?.status === "done" || report.job?.status === "dead") return report;
        if (Date.now() > deadline) throw new Error(`report ${reportId} was not decided within ${seconds} s`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    },
    async stop() {
      child.kill("SIGTERM");
      await new Promise((resolve) => {
        if (child.exitCode !== null) resolve();
        else child.on("exit", resolve);
      });
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

/** Starts headless Chromium that can resolve no host name but 127.0.0.1. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      "--no-sandbox",
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
      "--dns-prefetch-disable",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-pings",
    ],
  });
}

/** Signs in through the form and waits for the page after it. */
export async function signIn(page, base, name, password = PASSWORD) {
  await page.goto(`${base}/login`);
  await page.fill("#name", name);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL((url) => !url.pathname.startsWith("/login")), page.click("button[type=submit]")]);
}
