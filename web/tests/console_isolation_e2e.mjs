// Isolate and release from the console's host page (started by tests/e2e/test_console_isolation.py
// against a host in a network namespace): each confirmed with a reason typed at the keyboard; the
// host's TCP to a peer ($PROBE exits 0 when it connects) stops, then works again; the page and the
// API show the isolation state. Screenshots go to $SCREENSHOTS.
import { spawnSync } from "node:child_process";
import { check, login, openPage, waitFor } from "./browser.mjs";

const env = process.env;
const base = env.VIGIL_URL;
const { page, shot, fail, close } = await openPage("failure-isolation");
const [probeCmd, ...probeArgs] = JSON.parse(env.PROBE);
const reaches = () => spawnSync(probeCmd, probeArgs, { stdio: "ignore", timeout: 5000 }).status === 0;

const hostState = () =>
  page.evaluate(async (agent) => {
    const all = await (await fetch("/api/hosts/state")).json();
    return all.find((s) => s["agent.id"] === agent)?.isolation ?? "not isolated";
  }, env.AGENT_ID);

// Opens the dialog with the button, types the reason, Tab to Confirm, Enter; returns the action id.
async function act(button, type, reason) {
  await page.getByRole("button", { name: button }).click();
  const dialog = page.getByRole("dialog", { name: "confirm " + type });
  check(await dialog.getByRole("button", { name: "Confirm " + type }).isDisabled(), `${type} needs a reason`);
  await page.keyboard.type(reason); // the reason field has the focus
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  const result = await dialog.getByTestId("action-result").innerText();
  const id = /^Action (\d+) recorded/.exec(result)?.[1];
  check(id !== undefined, `${type} is recorded: ${result}`);
  return { dialog, id };
}

try {
  await login(page, base, env.USER_NAME, env.USER_PASS);
  await page.goto(`${base}/hosts/${env.AGENT_ID}`);
  await page.getByTestId("isolation").filter({ hasText: /^not isolated$/ }).waitFor();
  check(reaches(), "the host reaches the peer before");

  const iso = await act("Isolate…", "isolate", "console e2e isolate");
  await shot("host-isolate");
  await iso.dialog.getByRole("button", { name: "Close", exact: true }).click();
  await waitFor(() => !reaches(), "the peer to become unreachable");
  check(true, "isolated: the host's TCP to the peer fails");
  await waitFor(async () => (await hostState()) === "isolated", "the API to say isolated");
  await page.reload();
  await page.getByTestId("isolation").filter({ hasText: /^isolated$/ }).waitFor();
  check(true, "the host page shows it isolated (the browser's connection to the server stayed up)");
  await shot("host-isolated");

  const rel = await act("Release…", "release", "console e2e release");
  await rel.dialog.getByRole("button", { name: "Close", exact: true }).click();
  await waitFor(reaches, "the peer to become reachable again");
  check(true, "released: the host reaches the peer again");
  await waitFor(async () => (await hostState()) === "not isolated", "the API to say not isolated");
  await page.reload();
  await page.getByTestId("isolation").filter({ hasText: /^not isolated$/ }).waitFor();
  await page.getByRole("tab", { name: "Response actions" }).click();
  await page.locator(`[data-testid=host-actions] tr[data-action="${rel.id}"]`).filter({ hasText: "release" }).waitFor();
  await page.locator(`[data-testid=host-actions] tr[data-action="${iso.id}"]`).filter({ hasText: "isolate" }).waitFor();
  check(true, "the host's response actions list both");
  await shot("host-released");
} catch (e) {
  await fail(e);
} finally {
  await close();
}
