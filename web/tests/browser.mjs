// Shared by the console's browser tests and benchmarks: Debian's chromium driven by playwright-core
// (no browser download), headless, with a fresh profile and no background networking; a test's
// page with its screenshots, waiting and failure report.
import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "vigil-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    ignoreHTTPSErrors: true, // the server's certificate is from Vigil's own CA
    viewport: { width: 1280, height: 800 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

export async function login(page, base, user, password) {
  await page.goto(base + "/");
  await page.getByLabel("User", { exact: true }).fill(user);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByTestId("who").waitFor();
}

export function check(condition, message) {
  if (!condition) {
    console.error("FAIL: " + message);
    process.exit(1);
  }
  console.log("ok: " + message);
}

// A fresh page for a browser test: shot(name) saves $SCREENSHOTS/name.png; fail(e) saves
// failureName.png and reports where the test was (call it from the test's catch, close() last).
export async function openPage(failureName) {
  const shots = process.env.SCREENSHOTS;
  mkdirSync(shots, { recursive: true });
  rmSync(join(shots, failureName + ".png"), { force: true }); // an earlier run's
  const { context, close } = await launch();
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30000);
  const shot = (name) => page.screenshot({ path: join(shots, name + ".png") });
  const fail = async (e) => {
    await shot(failureName).catch(() => {});
    console.error(`FAIL at ${page.url()} (screenshot ${failureName}.png): ${e.message}`);
    process.exitCode = 1;
  };
  return { page, shot, fail, close };
}

// Polls f (sync or async) until it gives a truthy value; fails after timeoutMs naming what it waited for.
export async function waitFor(f, what, timeoutMs = 30000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
