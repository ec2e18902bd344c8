// The browser half of bench/console/run_console_bench.py (see there). Prints one line per result.
import { launch, login } from "../../web/tests/browser.mjs";

const base = process.env.VIGIL_URL;
const seconds = Number(process.env.SECONDS);
const { context, close } = await launch();
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(120000);

// Frame statistics over ms milliseconds, measured in the page with requestAnimationFrame.
const frames = (ms) =>
  page.evaluate(
    (ms) =>
      new Promise((resolve) => {
        const times = [];
        const start = performance.now();
        const step = (t) => {
          times.push(t);
          if (t - start < ms) requestAnimationFrame(step);
          else {
            const gaps = times.slice(1).map((x, i) => x - times[i]);
            resolve({ frames: times.length, fps: (times.length * 1000) / (t - start), long: gaps.filter((g) => g > 50).length, worst: Math.max(...gaps) });
          }
        };
        requestAnimationFrame(step);
      }),
    ms,
  );

try {
  await login(page, base, process.env.BENCH_USER, process.env.BENCH_PASS);

  // ---- tree: a 1-node tree (baseline), then 1,000 descendants; time until rendered
  const openTree = async (id) => {
    await page.goto(base + "/");
    await page.getByTestId("fleet-table").waitFor();
    await page.evaluate(() => (window.__vigilTree = undefined));
    const t0 = Date.now();
    await page.evaluate((id) => {
      history.pushState(null, "", "/process/" + id);
      dispatchEvent(new PopStateEvent("popstate"));
    }, id);
    await page.waitForFunction(() => window.__vigilTree);
    const r = await page.evaluate(() => window.__vigilTree);
    return { ...r, wall: Date.now() - t0, rendered: await page.locator(".tnode").count() };
  };
  const lone = await openTree("tree-lone");
  const big = await openTree("tree-root");
  console.log(`tree: 1 node ${lone.ms.toFixed(0)} ms; ${big.rendered} nodes (${big.nodes} from the API) ${big.ms.toFixed(0)} ms; ratio ${(big.ms / lone.ms).toFixed(2)}`);

  // ---- scroll: a 100-row result (baseline) and a 100,000-row result, scrolled top to bottom in 5 s
  const scroll = async (host, limit) => {
    await page.goto(base + "/hunt");
    await page.getByLabel("EQL query (Ctrl+Enter runs)").fill(`process where host.name == "${host}"`);
    await page.getByLabel("since").fill("1d");
    await page.getByLabel("limit").fill(String(limit));
    await page.getByRole("button", { name: /^Run/ }).click();
    await page.waitForFunction(() => window.__vigilHunt && window.__vigilHunt.done, null, { timeout: 300000 });
    const loaded = await page.evaluate(() => window.__vigilHunt);
    await page.waitForTimeout(500);
    const measure = frames(5000);
    await page.evaluate(() => {
      const el = document.querySelector("[data-testid=hunt-table] .vscroll");
      const start = performance.now();
      const step = (t) => {
        const f = Math.min(1, (t - start) / 4800);
        el.scrollTop = f * (el.scrollHeight - el.clientHeight);
        if (f < 1) requestAnimationFrame(step);
      };
      requestAnimationFrame(step);
    });
    return { ...(await measure), rows: loaded.rows, loadMs: loaded.ms };
  };
  const small = await scroll("small-host", 1000);
  const large = await scroll("big-host", 100000);
  console.log(`scroll: ${small.rows} rows ${small.fps.toFixed(1)} fps (${small.long} frames > 50 ms); ${large.rows} rows ${large.fps.toFixed(1)} fps (${large.long} frames > 50 ms, worst ${large.worst.toFixed(0)} ms, loaded in ${(large.loadMs / 1000).toFixed(1)} s); ratio ${(large.fps / small.fps).toFixed(3)}`);

  // ---- live: idle baseline, then RATE events/s for SECONDS
  await page.goto(base + "/live");
  await page.getByTestId("live-status").filter({ hasText: "live" }).waitFor();
  const idle = await frames(10000);
  console.log("FEED START");
  await page.waitForTimeout(2000); // the feeder reaches its rate
  const before = await page.evaluate(() => ({ ...window.__vigilLive }));
  const busy = await frames(seconds * 1000);
  const after = await page.evaluate(() => ({ ...window.__vigilLive }));
  console.log("FEED STOP");
  const stats = await page.getByTestId("live-stats").innerText();
  const received = after.received - before.received;
  const dropped = 1 - busy.fps / idle.fps;
  console.log(
    `live: idle ${idle.fps.toFixed(1)} fps; under load ${busy.fps.toFixed(1)} fps over ${seconds} s, ${received} events received (${(received / seconds).toFixed(0)}/s), ` +
      `${busy.long} frames > 50 ms (worst ${busy.worst.toFixed(0)} ms); dropped frames ${(dropped * 100).toFixed(1)}% of baseline; page says: ${stats}`,
  );
} finally {
  await close();
}
