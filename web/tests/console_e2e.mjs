// The console in a real browser against a real vigil-server (started by
// tests/e2e/test_console.py with a local agent and an import): log in, fleet, host, hunt, live
// events, process tree, users, and a viewer who cannot act. Screenshots of every page go to
// $SCREENSHOTS.
import { spawn, spawnSync } from "node:child_process";
import { hostname } from "node:os";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { check, login, openPage, waitFor } from "./browser.mjs";

const env = process.env;
const base = env.VIGIL_URL;
const { page, shot, fail, close } = await openPage("failure");
const processPath = (id) => `/process/${encodeURIComponent(id)}`;

// The rows of an EQL hunt over the last 10 minutes, through the page's session.
const huntApi = (page, query) =>
  page.evaluate(async (query) => {
    const s = await (await fetch("/api/session")).json();
    const r = await fetch("/api/hunt", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf },
      body: JSON.stringify({ query, since: "10m", limit: 10 }) });
    return (await r.text()).split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
  }, query);

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
  // its processes are live: one started now appears without a reload
  await page.getByRole("tab", { name: "Processes" }).click();
  await page.getByTestId("host-live").filter({ hasText: /^live$/ }).waitFor();
  const hostMarker = env.MARKER.replace("console-", "host-live-"); // not matched by the later hunts for MARKER
  await page.getByLabel("filter events").fill(hostMarker); // other processes of the machine stay out of the view
  spawn("/bin/sh", ["-c", `/bin/echo ${hostMarker}`], { stdio: "ignore" });
  const hostRow = page.locator(".vrow").filter({ hasText: `/bin/echo ${hostMarker}` }).first();
  await hostRow.waitFor();
  check(true, "a process started now appears live on the host page");
  await shot("host");
  // keyboard: the selected row opens its process tree with Enter
  await hostRow.click();
  await page.keyboard.press("Enter");
  await page.locator(".tnode.focus").waitFor();
  await page.getByTestId("process-details").getByText(hostMarker, { exact: false }).first().waitFor();
  check(true, "Enter on a host event opens its process tree");

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
  // column picking: process.pid off, and the CSV export has the chosen columns
  await page.getByRole("button", { name: "Columns" }).click();
  await page.getByRole("checkbox", { name: "process.pid", exact: true }).uncheck();
  check((await page.getByRole("columnheader", { name: "process.pid" }).count()) === 0, "a column picked off is gone");
  const exported = async (button) => {
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: button }).click()]);
    return readFileSync(await download.path(), "utf8").trimEnd().split("\n");
  };
  const csv = await exported("Export CSV");
  check(csv.length === huntRows + 1 && csv[0].startsWith("@timestamp,host.name,") && !csv[0].includes("process.pid"),
    `CSV export: a header of the shown columns and ${huntRows} rows (${csv.length - 1}; ${csv[0]})`);
  const jsonRows = (await exported("Export JSON")).map((l) => JSON.parse(l));
  check(jsonRows.length === huntRows && jsonRows.every((r) => hosts.includes(r["host.name"])), `JSON export: ${jsonRows.length} rows`);
  // a saved hunt: named in a prompt, listed, and it runs from the list
  page.once("dialog", (d) => d.accept("console-saved"));
  await page.getByRole("button", { name: "Save", exact: true }).click();
  const savedHunt = page.locator("aside[aria-label='saved hunts']").getByRole("button", { name: "console-saved", exact: true });
  await savedHunt.waitFor();
  await page.getByLabel("EQL query (Ctrl+Enter runs)").fill("process where false");
  await savedHunt.click();
  await page.getByTestId("hunt-info").filter({ hasText: `${huntRows} rows in` }).waitFor();
  check((await page.getByLabel("EQL query (Ctrl+Enter runs)").inputValue()) === env.HUNT_QUERY, "the saved hunt is listed and runs its query");
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
  check(await liveRow.first().evaluate((el) => el.classList.contains("fresh")), "a new row is highlighted");
  await shot("live");
  // Paused, the rows stay put: the next exec (sleep 0.2) must not shift the row under the click.
  await page.getByRole("button", { name: "Pause" }).click();
  await page.getByTestId("live-status").filter({ hasText: "paused" }).waitFor();
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

  // ---- a sequence hunt: each of the shell's children exec'd, then exited (dash spawns them with
  // vfork, so their exec stands for their fork): one group per child
  await page.getByRole("link", { name: "Hunt" }).click();
  await page
    .getByLabel("EQL query (Ctrl+Enter runs)")
    .fill(`sequence by process.entity_id\n  [process where event.action == "exec" and process.parent.command_line : "*${marker}*"]\n  [process where event.action == "exit"]`);
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
  await page.getByRole("tab", { name: "YARA sets" }).click();
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

  // ---- an alert from a rule appears live and is acknowledged (the API agrees)
  await page.getByRole("link", { name: "Alerts" }).click();
  await page.getByRole("heading", { name: "Alerts" }).waitFor();
  await page.waitForTimeout(500);
  spawn("/bin/sh", ["-c", `/bin/echo ${env.ALERT_MARKER}`], { stdio: "ignore" });
  const alertRow = page.locator("[data-testid=alerts-list] .alert-row").filter({ hasText: env.ALERT_RULE }).first();
  await alertRow.waitFor();
  const alertId = await alertRow.getAttribute("data-alert");
  await alertRow.click();
  await page.getByTestId("alert-details").getByRole("button", { name: "Acknowledge" }).click();
  await page.getByTestId("alert-status").filter({ hasText: /^acknowledged$/ }).waitFor();
  const alertApi = await page.evaluate(async (id) => (await (await fetch(`/api/alerts/${id}`)).json()).status, alertId);
  check(alertApi === "acknowledged", `the rule's alert #${alertId} appeared and is acknowledged (API: ${alertApi})`);
  await shot("alerts");
  // the jump from the alert to its process tree: the echo that matched the rule
  await page.getByTestId("alert-details").getByRole("link", { name: "open the process tree" }).click();
  await page.locator(".tnode.focus").waitFor();
  await page.getByTestId("process-details").getByText(env.ALERT_MARKER).first().waitFor();
  check(true, "the alert opens the process tree of the process that matched");

  // ---- block a hash from a process-tree node: confirmation and reason, then exec fails with EPERM
  const blockExe = env.BLOCK_EXE;
  check(spawnSync(blockExe).status === 0, "the binary to block runs before the block");
  const blockEntity = await waitFor(async () => (await huntApi(page, `process where event.action == "exec" and process.executable == "${blockExe}"`))[0]?.["process.entity_id"], "the binary's exec to be stored");
  await page.goto(base + processPath(blockEntity));
  await page.locator(".tnode.focus").waitFor();
  await page.getByTestId("process-details").getByRole("button", { name: "Block hash" }).click();
  const dialog = page.getByRole("dialog", { name: "confirm block-hash" });
  check((await dialog.innerText()).includes(blockExe), "the confirmation names the binary");
  check(await dialog.getByRole("button", { name: "Confirm block-hash" }).isDisabled(), "no action without a reason");
  const reason = `console e2e ${env.MARKER}`;
  await dialog.getByLabel("reason").fill(reason);
  await dialog.getByRole("button", { name: "Confirm block-hash" }).click();
  const result = await page.getByTestId("action-result").innerText();
  const actionId = /Action (\d+) recorded/.exec(result)?.[1];
  check(actionId !== undefined, `the action is recorded: ${result}`);
  await shot("block-hash");
  await waitFor(() => spawnSync(blockExe).error?.code === "EPERM", "exec of the blocked binary to fail with EPERM");
  check(true, "after the block, exec of the binary fails with EPERM");
  await dialog.getByRole("button", { name: "Close", exact: true }).click();

  // ---- kill a process tree from its node: the shell and its sleeping child die
  const killMarker = env.MARKER.replace("console-", "kill-");
  const victim = spawn("/bin/sh", ["-c", `sleep 600; echo ${killMarker}`], { stdio: "ignore" });
  const victimDone = new Promise((resolve) => victim.on("exit", (code, signal) => resolve(signal)));
  const victimEntity = await waitFor(async () => (await huntApi(page, `process where event.action == "exec" and process.command_line : "*${killMarker}*"`))[0]?.["process.entity_id"], "the shell's exec to be stored");
  await page.goto(base + processPath(victimEntity));
  await page.locator(".tnode.focus").waitFor();
  await page.getByTestId("process-details").getByRole("button", { name: "Kill tree" }).click();
  const killDialog = page.getByRole("dialog", { name: "confirm kill" });
  check((await killDialog.innerText()).includes("and all its descendants"), "the confirmation says the descendants die too");
  await killDialog.getByLabel("reason").fill(`console e2e kill ${killMarker}`);
  await killDialog.getByRole("button", { name: "Confirm kill" }).click();
  await killDialog.getByTestId("action-result").waitFor();
  const victimSignal = await Promise.race([victimDone, new Promise((r) => setTimeout(() => r("still running"), 30000))]);
  check(victimSignal === "SIGKILL", `the process was killed from its tree node (${victimSignal})`);
  await killDialog.getByRole("button", { name: "Close", exact: true }).click();

  // ---- quarantine a file from the file events of the process that wrote it
  const qFile = join(dirname(blockExe), env.MARKER.replace("console-", "quarantine-") + ".txt");
  spawnSync("/bin/sh", ["-c", `echo secret > ${qFile}; sleep 0.2`]);
  check(existsSync(qFile), "the file to quarantine is written");
  const writer = await waitFor(async () => (await huntApi(page, `file where file.path == "${qFile}"`))[0]?.["process.entity_id"], "the file's event to be stored");
  await page.goto(base + processPath(writer));
  await page.locator(".tnode.focus").waitFor();
  await page.getByTestId("process-details").getByRole("tab", { name: /^file/ }).click();
  await page.getByTestId("process-details").locator("li").filter({ hasText: qFile }).first().getByRole("button", { name: "quarantine" }).click();
  const qDialog = page.getByRole("dialog", { name: "confirm quarantine" });
  check((await qDialog.innerText()).includes(qFile), "the confirmation names the file");
  await qDialog.getByLabel("reason").fill("console e2e quarantine");
  await qDialog.getByRole("button", { name: "Confirm quarantine" }).click();
  await qDialog.getByTestId("action-result").waitFor();
  await waitFor(() => !existsSync(qFile), "the file to leave its path");
  check(true, "the file was quarantined from its process's file events");
  await qDialog.getByRole("button", { name: "Close", exact: true }).click();

  // ---- the audit log shows the action, who asked and why
  await page.getByRole("link", { name: "Response" }).click();
  const auditRow = page.locator(`[data-testid=audit-log] tr[data-action="${actionId}"]`);
  await auditRow.filter({ hasText: /: done/ }).waitFor();
  const auditCells = await auditRow.locator("td").allInnerTexts();
  check(auditCells[2] === env.ADMIN_USER && auditCells[3] === "block-hash" && auditCells[5] === reason && auditCells[6] === "done",
    `the audit log shows the block-hash (${auditCells.join(" | ")})`);
  await shot("response");

  // ---- scans: a file scan started from the page (confirmed with a reason), its progress live
  // over SSE, its findings
  await page.getByRole("link", { name: "Scans" }).click();
  await page.locator("[data-testid=yara-table] tr").filter({ hasText: "console-test" }).waitFor();
  await page.getByLabel("scan rules").selectOption("console-test");
  await page.getByLabel("scan hosts").fill(me);
  await page.getByLabel("scan paths").fill(env.SCAN_DIR);
  await page.getByLabel("scan cpu").fill("5");
  await page.getByRole("button", { name: "Start scan…" }).click();
  const scanDialog = page.getByRole("dialog", { name: "confirm scan" });
  await scanDialog.getByLabel("reason").fill("console e2e scan");
  await scanDialog.getByRole("button", { name: "Confirm scan" }).click();
  const scanResult = await page.getByTestId("action-result").innerText();
  const jobId = /^Scan job (\d+) started/.exec(scanResult)?.[1];
  check(jobId !== undefined, `the scan job is created: ${scanResult}`);
  await scanDialog.getByRole("button", { name: "Close", exact: true }).click();
  const hostBar = page.locator(`[data-testid=scan-progress] .scan-host[data-host="${me}"]`);
  await page.locator(`[data-testid=scan-progress] .scan-host[data-host="${me}"][data-status="done"]`).waitFor({ timeout: 120000 });
  const files = env.SCAN_FILES;
  const expectedFindings = JSON.parse(env.SCAN_EXPECTED);
  const counts = await hostBar.getByTestId("scan-counts").innerText();
  check(counts.startsWith(`${files}/${files} files`) && counts.includes(`${expectedFindings.length} findings`), `the host's progress: ${counts}`);
  check((await hostBar.getByRole("progressbar").getAttribute("aria-valuenow")) === "100", "its bar is full");
  const seen = await page.evaluate(() => window.__vigilScan);
  check(seen.job === Number(jobId) && !seen.statuses[0].startsWith("done") && seen.statuses.at(-1) === `done ${files}/${files}`,
    `the page followed the scan live: ${[...new Set(seen.statuses)].slice(0, 8).join(", ")} … ${seen.statuses.at(-1)}`);
  await page.locator("[data-testid=scan-findings] tbody tr td:nth-child(4)").nth(expectedFindings.length - 1).waitFor();
  const where = await page.locator("[data-testid=scan-findings] tbody tr td:nth-child(4)").allInnerTexts();
  const rulesShown = await page.locator("[data-testid=scan-findings] tbody tr td:nth-child(3)").allInnerTexts();
  check(JSON.stringify([...where].sort()) === JSON.stringify(expectedFindings) && rulesShown.every((r) => r.endsWith("console_test")),
    `the findings are the two marked files (${where.join(", ")})`);
  check(await page.getByRole("button", { name: "Cancel scan…" }).isDisabled(), "a finished scan cannot be cancelled");
  await shot("scans");

  // ---- a scan waiting on its splay: pause, resume and cancel from the page, each confirmed with a
  // reason that reaches the audit log; cancel ends it on the host
  await page.getByLabel("scan splay").fill("30m");
  await page.getByRole("button", { name: "Start scan…" }).click();
  await scanDialog.getByLabel("reason").fill("console e2e splay");
  await scanDialog.getByRole("button", { name: "Confirm scan" }).click();
  const job2 = /^Scan job (\d+) started/.exec(await page.getByTestId("action-result").innerText())?.[1];
  await scanDialog.getByRole("button", { name: "Close", exact: true }).click();
  const job2Host = (status) => page.locator(`[data-testid=scan-progress] .scan-host[data-host="${me}"][data-status="${status}"]`);
  await job2Host("waiting").waitFor();
  check(true, `scan job ${job2} waits on its splay`);
  for (const op of ["pause", "resume", "cancel"]) {
    await page.getByRole("button", { name: op === "cancel" ? "Cancel scan…" : op[0].toUpperCase() + op.slice(1) + "…" }).click();
    const d = page.getByRole("dialog", { name: `confirm ${op} scan` });
    check(await d.getByRole("button", { name: `Confirm ${op} scan` }).isDisabled(), `${op} needs a reason`);
    await d.getByLabel("reason").fill(`console e2e ${op}`);
    await d.getByRole("button", { name: `Confirm ${op} scan` }).click();
    const answer = await page.getByTestId("action-result").innerText();
    check(new RegExp(`^${op} sent to the hosts \\(action \\d+\\)`).test(answer), `${op}: ${answer}`);
    await d.getByRole("button", { name: "Close", exact: true }).click();
  }
  await job2Host("cancelled").waitFor();
  check(await page.getByRole("button", { name: "Cancel scan…" }).isDisabled(), "the cancelled scan ends on the host, its controls are off");
  const controls = await page.evaluate(async (job) => {
    const text = await (await fetch("/api/actions?limit=10")).text();
    return text.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l))
      .filter((a) => a.type === "scan_control" && a.params.job === `${job}.1`).map((a) => `${a.params.op}:${a.reason}`);
  }, job2);
  check(JSON.stringify(controls) === JSON.stringify(["pause:console e2e pause", "resume:console e2e resume", "cancel:console e2e cancel"]),
    `the audit log has the three controls with their reasons (${controls})`);
  await shot("scans-cancelled");

  // ---- fleet: the isolation column; host page: its scans and its response actions
  await page.getByRole("link", { name: "Fleet" }).click();
  check((await row.getByTestId("isolation").innerText()) === "not isolated", "the fleet shows the host's isolation state");
  await row.getByRole("link").click();
  await page.getByRole("tab", { name: "Scans" }).click();
  const hostScan = page.locator(`[data-testid=host-scans] tr[data-job="${jobId}"]`);
  await hostScan.waitFor();
  const hostScanCells = await hostScan.locator("td").allInnerTexts();
  check(hostScanCells[3] === "done" && hostScanCells[4] === `${files}/${files}` && hostScanCells[5] === String(expectedFindings.length),
    `the host page lists the scan (${hostScanCells.join(" | ")})`);
  await shot("host-scans");
  await page.getByRole("tab", { name: "Response actions" }).click();
  const hostAction = page.locator(`[data-testid=host-actions] tr[data-action="${actionId}"]`);
  await hostAction.waitFor();
  const hostActionCells = await hostAction.locator("td").allInnerTexts();
  check(hostActionCells[3] === "block-hash" && hostActionCells[5] === reason && hostActionCells[6] === "done",
    `the host page lists the block-hash (${hostActionCells.join(" | ")})`);
  await shot("host-actions");

  // ---- a viewer cannot act, and the API refuses too
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByLabel("User", { exact: true }).waitFor();
  await login(page, base, env.VIEWER_USER, env.VIEWER_PASS);
  check((await page.getByRole("link", { name: "Users" }).count()) === 0, "a viewer has no Users page");
  await page.getByRole("link", { name: "Hunt" }).click();
  check(await page.getByRole("button", { name: "Save", exact: true }).isDisabled(), "a viewer's Save button is disabled");
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
  await page.getByRole("tab", { name: "YARA sets" }).click();
  await page.locator("[data-testid=yara-table] tr").filter({ hasText: "console-test" }).waitFor();
  check((await page.getByRole("button", { name: "Remove" }).count()) === 0, "a viewer has no Remove button");
  await shot("viewer-hunt");
  // the process node offers no action, and the API refuses one
  await page.goto(base + processPath(blockEntity));
  await page.locator(".tnode.focus").waitFor();
  await page.getByTestId("process-details").waitFor();
  check((await page.getByRole("button", { name: /Block hash|Kill/ }).count()) === 0, "a viewer sees no response buttons on a process");
  const actStatus = await page.evaluate(async (host) => {
    const s = await (await fetch("/api/session")).json();
    const r = await fetch("/api/actions", { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf },
      body: JSON.stringify({ type: "isolate", hosts: [host], params: {}, reason: "viewer" }) });
    return r.status;
  }, me);
  check(actStatus === 403, `the API refuses a viewer's action (${actStatus})`);
  // an alert cannot be triaged by a viewer, in the page or through the API
  await page.getByRole("link", { name: "Alerts" }).click();
  await page.locator(`[data-alert="${alertId}"]`).click();
  check(await page.getByTestId("alert-details").getByRole("button", { name: "Close", exact: true }).isDisabled(), "a viewer's triage buttons are disabled");
  const triage = await page.evaluate(async (id) => {
    const s = await (await fetch("/api/session")).json();
    return (await fetch(`/api/alerts/${id}`, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf },
      body: JSON.stringify({ status: "closed" }) })).status;
  }, alertId);
  check(triage === 403, `the API refuses a viewer's triage (${triage})`);
  await shot("viewer-process");
  // scans: no form, no controls, and the API refuses
  await page.getByRole("link", { name: "Scans" }).click();
  await page.locator(`[data-testid=scan-jobs] tr[data-job="${jobId}"] button`).click();
  await page.getByTestId("scan-progress").waitFor();
  check((await page.getByRole("button", { name: /Start scan|Pause|Resume|Cancel scan/ }).count()) === 0, "a viewer has no scan controls");
  const scanRefused = await page.evaluate(async (id) => {
    const s = await (await fetch("/api/session")).json();
    const post = (path, body) =>
      fetch(path, { method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf }, body: JSON.stringify(body) });
    return [(await post(`/api/scans/${id}/cancel`, {})).status, (await post("/api/scans", { kind: "memory", rules: "console-test" })).status];
  }, jobId);
  check(scanRefused[0] === 403 && scanRefused[1] === 403, `the API refuses a viewer's scan and cancel (${scanRefused})`);
  await shot("viewer-scans");
} catch (e) {
  await fail(e);
} finally {
  await close();
}
