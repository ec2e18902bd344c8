// The console in a real browser against a real vigil-server (started by
// tests/e2e/test_console.py with a local agent and an import): log in, fleet, host, hunt, live
// events, process tree, users, and a viewer who cannot act. Screenshots of every page go to
// $SCREENSHOTS.
import { spawn } from "node:child_process";
import { hostname } from "node:os";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launch, login, check } from "./browser.mjs";

const env = process.env;
const base = env.VIGIL_URL;
const shots = env.SCREENSHOTS;
mkdirSync(shots, { recursive: true });
const { context, close } = await launch();
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(30000);
const shot = (name) => page.screenshot({ path: join(shots, name + ".png") });

try {
  // ---- login: a wrong password is refused, the right one lands on the fleet
  await page.goto(base + "/");
  await page.getByLabel("User", { exact: true }).fill(env.ADMIN_USER);
  await page.getByLabel("Password", { exact: true }).fill("wrong-password");
  await shot("login");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("alert").filter({ hasText: "wrong user name or password" }).waitFor();
  check(true, "a wrong password is refused on the login page");
  await login(page, base, env.ADMIN_USER, env.ADMIN_PASS);
  check((await page.getByTestId("who").innerText()).includes("admin"), "logged in as an admin");

  // ---- fleet: the local host is online
  const me = hostname();
  const row = page.locator(`[data-testid=fleet-table] tr[data-host="${me}"]`);
  await row.waitFor();
  check((await row.locator(".badge").innerText()) === "online", `the local host ${me} is online`);
  await page.getByLabel("search hosts").fill("no-such-host-anywhere");
  await page.getByText("No host matches.").waitFor();
  await page.getByLabel("search hosts").fill("");
  await shot("fleet");

  // ---- host page
  await row.getByRole("link").click();
  await page.getByRole("heading", { name: me }).waitFor();
  await page.locator(".vrow").first().waitFor();
  check((await page.locator(".vrow").count()) > 0, "the host page lists recent activity");
  await shot("host");

  // ---- hunt: completion, an error at its position, the expected rows
  await page.getByRole("link", { name: "Hunt" }).click();
  const editor = page.getByLabel("EQL query (Ctrl+Enter runs)");
  await editor.fill("");
  await editor.pressSequentially("process where process.parent.na");
  await page.getByRole("option", { name: /process\.parent\.name/ }).waitFor();
  await editor.press("Tab");
  check((await editor.inputValue()) === "process where process.parent.name", "field completion from the schema");
  await editor.fill('process where process.name ==');
  await editor.press("Control+Enter");
  const err = await page.getByTestId("hunt-error").innerText();
  check(/^line 1, column \d+/.test(err), `a bad query shows its position: ${err}`);
  await page.locator(".tok-error").waitFor();
  await editor.fill(env.HUNT_QUERY);
  await page.getByLabel("since").fill("2000-01-01T00:00:00Z");
  await page.getByRole("button", { name: /^Run/ }).click();
  await page.getByTestId("hunt-info").filter({ hasText: "rows in" }).waitFor();
  const huntRows = await page.evaluate(() => window.__vigilHunt.rows);
  check(huntRows === Number(env.HUNT_EXPECTED), `the hunt returns the ${env.HUNT_EXPECTED} imported rows (${huntRows})`);
  const hosts = JSON.parse(env.HUNT_HOSTS);
  const shown = await page.locator("[data-testid=hunt-table] .vrow .vcell:nth-child(2)").allInnerTexts();
  check(shown.length > 0 && shown.every((h) => hosts.includes(h)), `rows are of the imported hosts (${[...new Set(shown)]})`);
  // sorting by a column, both ways
  await page.getByRole("columnheader", { name: "host.name" }).click();
  const up = await page.locator("[data-testid=hunt-table] .vrow .vcell:nth-child(2)").allInnerTexts();
  check(up.join("\n") === [...up].sort().join("\n"), "sorted by host.name ascending");
  await page.getByRole("columnheader", { name: /host\.name/ }).click();
  const down = await page.locator("[data-testid=hunt-table] .vrow .vcell:nth-child(2)").allInnerTexts();
  check(down.join("\n") === [...down].sort().reverse().join("\n"), "and descending");
  await shot("hunt");

  // ---- live events: a process started now appears, and opens in the tree with its parent
  await page.getByRole("link", { name: "Live events" }).click();
  const marker = env.MARKER;
  await page.getByLabel("text").fill(marker);
  await page.getByRole("button", { name: "Apply" }).click();
  await page.getByTestId("live-status").filter({ hasText: "live" }).waitFor();
  await page.waitForTimeout(500);
  spawn("/bin/sh", ["-c", `sleep 0.5; /bin/echo ${marker} child; sleep 0.2`], { stdio: "ignore" });
  // The echo's exec (the shell's own command line also names the echo).
  const liveRow = page
    .locator("[data-testid=live-table] .vrow")
    .filter({ has: page.locator(".vcell:nth-child(6)", { hasText: /^echo$/ }) })
    .filter({ has: page.locator(".vcell:nth-child(7)", { hasText: new RegExp(`^/bin/echo ${marker} child$`) }) });
  await liveRow.first().waitFor();
  check(true, "the new process appears in the live view");
  await shot("live");
  await liveRow.first().locator("a.treelink").click();
  await page.getByTestId("process-tree").waitFor();
  const focus = page.locator(".tnode.focus");
  await focus.waitFor();
  const focusName = await focus.locator(".pname").innerText();
  check(focusName === "echo", `the process tree opens on the echo (${focusName})`);
  // The parent: the shell the test started (its name is sh or dash, its command line is ours).
  const parent = page.locator(".tnode:not(.focus)").filter({ hasText: `sleep 0.5; /bin/echo ${marker} child` });
  await parent.first().waitFor();
  const levels = await Promise.all([parent.first().getAttribute("aria-level"), focus.getAttribute("aria-level")]);
  const parentName = await parent.first().locator(".pname").innerText();
  check(Number(levels[0]) + 1 === Number(levels[1]), `its parent, the test's shell (${parentName}), is one level above it (${levels})`);
  await page.getByTestId("process-details").getByText(`/bin/echo ${marker} child`).first().waitFor();
  await shot("process");

  // ---- a sequence hunt: each of the shell's children forked, then exec'd: three grouped results
  await page.getByRole("link", { name: "Hunt" }).click();
  await page
    .getByLabel("EQL query (Ctrl+Enter runs)")
    .fill(`sequence by process.entity_id\n  [process where event.action == "fork" and process.command_line : "*${marker}*"]\n  [process where event.action == "exec"]`);
  await page.getByLabel("since").fill("10m");
  await page.getByRole("button", { name: /^Run/ }).click();
  await page.getByTestId("hunt-info").filter({ hasText: "groups in" }).waitFor();
  const groups = await page.locator("[data-testid=hunt-table] .vrow.group-header").count();
  const seqInfo = await page.getByTestId("hunt-info").innerText();
  check(groups === 3 && seqInfo.startsWith("3 groups"), `a sequence hunt shows 3 grouped results (${seqInfo}, ${groups} headers)`);
  await shot("hunt-sequence");

  // ---- users (admin)
  await page.getByRole("link", { name: "Users" }).click();
  await page.getByRole("cell", { name: env.VIEWER_USER, exact: true }).waitFor();
  await shot("users");

  // ---- rules: a YARA set that does not compile shows where and why; one that does is listed
  await page.getByRole("link", { name: "Rules" }).click();
  await page.getByLabel("rule set name").fill("console-test");
  await page.getByLabel("rules text").fill("rule broken {\n  condition: no_such_identifier\n}\n");
  await page.getByRole("button", { name: "Upload" }).click();
  const yaraError = await page.getByTestId("rules-error").innerText();
  check(/pasted:2/.test(yaraError), `a YARA error shows its origin and line: ${yaraError}`);
  await page.getByLabel("rules text").fill('rule console_test {\n  strings: $a = "vigil-console"\n  condition: $a\n}\n');
  await page.getByRole("button", { name: "Upload" }).click();
  const yaraRow = page.locator("[data-testid=yara-table] tr").filter({ hasText: "console-test" });
  await yaraRow.waitFor();
  const yaraCells = await yaraRow.locator("td").allInnerTexts();
  check(yaraCells[2] === "1", `the uploaded set is listed with its one rule (${yaraCells.join(" | ")})`);
  await shot("rules");

  // ---- alerts and response (their APIs may not be on this server yet: the page says so)
  await page.getByRole("link", { name: "Alerts" }).click();
  await page.getByRole("heading", { name: "Alerts" }).waitFor();
  await page.waitForTimeout(300);
  await shot("alerts");
  await page.getByRole("link", { name: "Response" }).click();
  await page.getByRole("heading", { name: "Response" }).waitFor();
  await page.waitForTimeout(300);
  await shot("response");

  // ---- a viewer cannot act, and the API refuses too
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByLabel("User", { exact: true }).waitFor();
  await login(page, base, env.VIEWER_USER, env.VIEWER_PASS);
  check((await page.getByRole("link", { name: "Users" }).count()) === 0, "a viewer has no Users page");
  await page.getByRole("link", { name: "Hunt" }).click();
  check(await page.getByRole("button", { name: "Save" }).isDisabled(), "a viewer's Save button is disabled");
  const refused = await page.evaluate(async () => {
    const s = await (await fetch("/api/session")).json();
    const post = (body) =>
      fetch("/api/hunts", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf }, body: JSON.stringify(body) });
    const users = await fetch("/api/users");
    const yara = await fetch("/api/yara/console-test", { method: "DELETE", headers: { "X-CSRF-Token": s.csrf } });
    return { hunts: (await post({ name: "x", query: "process where true" })).status, users: users.status, yara: yara.status };
  });
  check(refused.hunts === 403 && refused.users === 403 && refused.yara === 403, `the API refuses the viewer (${JSON.stringify(refused)})`);
  await page.getByRole("link", { name: "Rules" }).click();
  await page.locator("[data-testid=yara-table] tr").filter({ hasText: "console-test" }).waitFor();
  check(await page.getByRole("button", { name: "Remove" }).first().isDisabled(), "a viewer's Remove is disabled");
  await shot("viewer-hunt");
} catch (e) {
  await shot("failure").catch(() => {});
  console.error(`FAIL at ${page.url()} (screenshot failure.png): ${e.message}`);
  process.exitCode = 1;
} finally {
  await close();
}
