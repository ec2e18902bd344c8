// The console's Rules page in a real browser against a real vigil-server (started by
// tests/e2e/test_console_rules.py): EQL and Sigma rules (errors at their line, enable/disable,
// source), IOC sets (a bad indicator named by its line, add, remove), YARA sets, and a viewer who
// gets no buttons while the API refuses the same requests. Screenshots of each tab go to
// $SCREENSHOTS.
import { check, login, openPage } from "./browser.mjs";

const env = process.env;
const base = env.VIGIL_URL;
const { page, shot, fail, close } = await openPage("failure-rules");

// A request through the page's session (cookie and CSRF token): its status and JSON body.
const call = (method, path, body) =>
  page.evaluate(
    async ([method, path, body]) => {
      const s = await (await fetch("/api/session")).json();
      const r = await fetch(path, {
        method,
        headers: { "Content-Type": "application/json", "X-CSRF-Token": s.csrf },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: r.status, body: await r.json().catch(() => null) };
    },
    [method, path, body],
  );

const eqlHeader = "// id: console-eql\n// name: Console EQL rule\n// severity: high\n// tags: attack.execution, attack.t1059\n";
const eqlBroken = eqlHeader + 'process where process.name == "sh" and\n  process.command_line : * "x"\n';
const eqlGood = eqlHeader + 'process where process.name == "sh" and process.command_line : "*console-eql-marker*"\n';
const sha = (c) => c.repeat(64);
const iocBad = `# console test feed\n${sha("a")}\n${sha("b").slice(1)}\nevil.example\n`;
const iocGood = `# console test feed\n${sha("a")}\n${sha("c")}\nevil.example\n`;

try {
  await login(page, base, env.ANALYST_USER, env.ANALYST_PASS);
  await page.getByRole("link", { name: "Rules" }).click();
  await page.getByRole("tab", { name: "EQL & Sigma" }).waitFor();
  check((await page.getByRole("tab", { name: "EQL & Sigma" }).getAttribute("aria-selected")) === "true", "the Rules page opens on the detection rules");
  const rulesTable = page.getByTestId("rules-table");
  await rulesTable.locator("tbody tr").first().waitFor();
  await shot("rules-detection");

  // ---- EQL: a syntax error is shown with file:line:column and its line is marked
  await page.getByLabel("rule file name").fill("console-eql.eql");
  await page.getByLabel("rule source").fill(eqlBroken);
  await page.getByRole("button", { name: "Upload rule" }).click();
  const eqlError = await page.getByTestId("rule-error").innerText();
  check(/^console-eql\.eql:6:\d+: /.test(eqlError), `an EQL syntax error shows file:line:column: ${eqlError}`);
  const errLine = Number(/:(\d+):/.exec(eqlError)[1]);
  const marked = page.locator("[data-testid=rule-error-source] .src-line.error");
  check((await marked.count()) === 1 && Number(await marked.getAttribute("data-line")) === errLine, `line ${errLine} of the source is marked`);
  await page.getByLabel(/^error at line/).waitFor();
  check((await page.locator("[data-rule=console-eql]").count()) === 0, "the broken rule is not listed");
  await page.getByTestId("rule-error-source").scrollIntoViewIfNeeded();
  await shot("rules-detection-error");

  // ---- a valid EQL rule is listed with its metadata
  await page.getByLabel("rule source").fill(eqlGood);
  await page.getByRole("button", { name: "Upload rule" }).click();
  await page.getByTestId("rule-notice").filter({ hasText: "rule console-eql added" }).waitFor();
  const eqlRow = page.locator("[data-rule=console-eql]");
  await eqlRow.waitFor();
  const cells = await eqlRow.locator("td").allInnerTexts();
  check(cells[1] === "Console EQL rule" && cells[2] === "eql" && cells[3] === "high" && cells[4] === "attack.execution, attack.t1059" && cells[5] === "enabled",
    `the EQL rule is listed (${cells.join(" | ")})`);
  check((await page.getByTestId("rule-error").count()) === 0, "the earlier error is gone");

  // ---- disable it: the page and the API say disabled
  await eqlRow.getByRole("button", { name: "Disable" }).click();
  await eqlRow.getByTestId("rule-state").filter({ hasText: /^disabled$/ }).waitFor();
  const eqlApi = await call("GET", "/api/rules/console-eql");
  check(eqlApi.status === 200 && eqlApi.body.enabled === false, `the API shows the rule disabled (${JSON.stringify(eqlApi.body.enabled)})`);

  // ---- Sigma from a file: the file input fills the name and the text, the rule is listed
  await page.getByLabel("rule file", { exact: true }).setInputFiles(env.SIGMA_FILE);
  await page.getByLabel("rule file name").and(page.locator("[value='console_sigma.yml']")).waitFor();
  check((await page.getByLabel("rule source").inputValue()).startsWith("title: Console Sigma rule"), "the chosen file is loaded into the editor");
  await page.getByRole("button", { name: "Upload rule" }).click();
  const sigmaRow = page.locator("[data-rule=console-sigma]");
  await sigmaRow.waitFor();
  const sigmaCells = await sigmaRow.locator("td").allInnerTexts();
  check(sigmaCells[2] === "sigma" && sigmaCells[4].includes("attack.t1059.004") && sigmaCells[5] === "enabled", `the Sigma rule is listed (${sigmaCells.join(" | ")})`);
  // a Sigma rule that is not YAML: the error names the file and why
  await page.getByLabel("rule file name").fill("broken.yml");
  await page.getByLabel("rule source").fill("title: broken\ndetection: [unclosed\n");
  await page.getByRole("button", { name: "Upload rule" }).click();
  const sigmaError = await page.getByTestId("rule-error").innerText();
  check(sigmaError.startsWith("broken.yml: ") && /YAML/.test(sigmaError), `a broken Sigma rule is refused with why: ${sigmaError}`);

  // ---- a rule's source
  await sigmaRow.getByRole("button", { name: "console-sigma" }).click();
  await page.getByTestId("rule-source").getByText("CommandLine|contains: console-sigma-marker").waitFor();
  await page.getByTestId("rule-source").scrollIntoViewIfNeeded();
  await shot("rules-rule-source");

  // ---- IOC sets: a bad SHA-256 is refused naming its line; the corrected set is listed
  await page.getByRole("tab", { name: "IOC sets" }).click();
  await page.getByText("No IOC sets yet.").waitFor();
  await page.getByLabel("IOC set name").fill("console-feed");
  await page.getByLabel("IOC set source").fill("console test");
  await page.getByLabel("IOC set expires").fill("30d");
  await page.getByLabel("indicators").fill(iocBad);
  await page.getByRole("button", { name: "Save IOC set" }).click();
  const iocError = await page.getByTestId("ioc-error").innerText();
  check(iocError.startsWith("indicators[3]: ") && iocError.includes(sha("b").slice(1)), `a bad SHA-256 is refused with its line: ${iocError}`);
  const iocMarked = page.locator("[data-testid=ioc-error-source] .src-line.error");
  check((await iocMarked.getAttribute("data-line")) === "3", "line 3 of the indicators is marked");
  await page.getByTestId("ioc-error-source").scrollIntoViewIfNeeded();
  await shot("rules-ioc-error");
  await page.getByLabel("indicators").fill(iocGood);
  await page.getByRole("button", { name: "Save IOC set" }).click();
  const iocRow = page.locator("[data-set=console-feed]");
  await iocRow.waitFor();
  const iocCells = await iocRow.locator("td").allInnerTexts();
  check(iocCells[1] === "console test" && iocCells[2] === "sha256 2, domain 1" && iocCells[3] === "3" && /^\d{4}-\d\d-\d\d \d\d:\d\d$/.test(iocCells[4]) && iocCells[5] === "ioc-console-feed",
    `the IOC set is listed (${iocCells.join(" | ")})`);
  // another set, removed after a confirmation
  await page.getByLabel("IOC set name").fill("console-tmp");
  await page.getByLabel("IOC set expires").fill("");
  await page.getByLabel("indicators").fill("10.11.12.0/24\n");
  await page.getByRole("button", { name: "Save IOC set" }).click();
  const tmpRow = page.locator("[data-set=console-tmp]");
  await tmpRow.waitFor();
  check((await tmpRow.locator("td").nth(4).innerText()) === "never", "a set without expiry never expires");
  page.once("dialog", (d) => d.accept());
  await tmpRow.getByRole("button", { name: "Remove" }).click();
  await tmpRow.waitFor({ state: "detached" });
  const tmpApi = await call("DELETE", "/api/ioc/sets/console-tmp");
  check(tmpApi.status === 404, `the removed set is gone from the API too (${tmpApi.status})`);
  await shot("rules-ioc");

  // ---- YARA sets
  await page.getByRole("tab", { name: "YARA sets" }).click();
  await page.getByLabel("rule set name").fill("console-rules");
  await page.getByLabel("rules text").fill('rule console_rules {\n  strings: $a = "console-rules"\n  condition: $a\n}\n');
  await page.getByRole("button", { name: "Upload" }).click();
  await page.locator("[data-testid=yara-table] tr").filter({ hasText: "console-rules" }).waitFor();
  await shot("rules-yara");

  // ---- a viewer sees the lists, no buttons, and the API refuses the same requests
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByLabel("User", { exact: true }).waitFor();
  await login(page, base, env.VIEWER_USER, env.VIEWER_PASS);
  await page.getByRole("link", { name: "Rules" }).click();
  await page.locator("[data-rule=console-eql]").waitFor();
  const noButtons = async (names) => {
    for (const name of names) check((await page.getByRole("button", { name }).count()) === 0, `a viewer has no ${name} button`);
  };
  await noButtons(["Upload rule", "Disable", "Enable"]);
  check((await page.getByLabel("rule source").count()) === 0, "a viewer has no upload form");
  const viewerRule = await call("POST", "/api/rules", { source: eqlGood, file: "console-eql.eql" });
  const viewerEnable = await call("POST", "/api/rules/console-eql/enable", {});
  check(viewerRule.status === 403 && viewerEnable.status === 403, `the API refuses a viewer's upload and enable (${viewerRule.status}, ${viewerEnable.status})`);
  check((await call("GET", "/api/rules/console-eql")).body.enabled === false, "the rule stays disabled");
  await shot("viewer-rules");
  await page.getByRole("tab", { name: "IOC sets" }).click();
  await page.locator("[data-set=console-feed]").waitFor();
  await noButtons(["Save IOC set", "Remove", "Replace…"]);
  const viewerIoc = await call("POST", "/api/ioc/sets", { name: "console-feed", indicators: ["evil.example"] });
  const viewerIocDelete = await call("DELETE", "/api/ioc/sets/console-feed");
  check(viewerIoc.status === 403 && viewerIocDelete.status === 403, `the API refuses a viewer's IOC set and removal (${viewerIoc.status}, ${viewerIocDelete.status})`);
  await shot("viewer-rules-ioc");
  await page.getByRole("tab", { name: "YARA sets" }).click();
  await page.locator("[data-testid=yara-table] tr").filter({ hasText: "console-rules" }).waitFor();
  await noButtons(["Upload", "Remove"]);
} catch (e) {
  await fail(e);
} finally {
  await close();
}
