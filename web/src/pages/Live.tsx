// Live events: newly stored events streamed over SSE (/api/events/stream), newest first, filtered
// by category, host and text. Rows are virtualised and the view updates at most once per frame,
// so it stays smooth at thousands of events per second: the table updates at most 10 times a
// second, and an event's JSON is parsed only when its row is drawn. New rows are highlighted for 3 s.
import { useEffect, useRef, useState } from "react";
import { VirtualTable } from "../components/VirtualTable";
import { EVENT_COLUMNS, renderEventCell } from "../components/events";
import { navigate, processPath } from "../router";

const KEEP = 5000; // rows kept in the view
const FRESH_MS = 3000;
const FLUSH_MS = 100; // table updates at most this often
const CATEGORIES = ["", "process", "network", "dns", "file", "persistence", "authentication", "scan", "alert", "action", "policy", "host"];

interface Row {
  raw: string;
  e?: any; // parsed on first use
  at: number;
  n: number;
}
const parsed = (r: Row) => r.e ?? (r.e = JSON.parse(r.raw));

declare global {
  interface Window {
    __vigilLive?: { received: number; rendered: number; frames: number };
  }
}

export function LivePage() {
  const [category, setCategory] = useState("");
  const [host, setHost] = useState("");
  const [text, setText] = useState("");
  const [applied, setApplied] = useState({ category: "", host: "", text: "" });
  const [paused, setPaused] = useState(false);
  const [rows, setRows] = useState<Row[]>([]);
  const [status, setStatus] = useState("connecting");
  const [stats, setStats] = useState({ delivered: 0, dropped: 0, pending: 0, rate: 0 });
  const [, setTick] = useState(0);
  const buffer = useRef<Row[]>([]);
  const pausedRef = useRef(false);
  pausedRef.current = paused;
  const counter = useRef(0);

  useEffect(() => {
    const params = new URLSearchParams();
    if (applied.category) params.set("category", applied.category);
    if (applied.host) params.set("host", applied.host);
    if (applied.text) params.set("q", applied.text);
    const source = new EventSource("/api/events/stream?" + params.toString());
    window.__vigilLive = { received: 0, rendered: 0, frames: 0 };
    let timer = 0;
    let windowStart = performance.now();
    let windowCount = 0;
    let rate = 0;
    let server = { delivered: 0, dropped: 0 };
    const flush = () => {
      timer = 0;
      if (pausedRef.current || buffer.current.length === 0) return;
      const incoming = buffer.current;
      buffer.current = [];
      window.__vigilLive!.rendered += incoming.length;
      window.__vigilLive!.frames += 1;
      setRows((old) => {
        const merged = incoming.reverse().concat(old);
        return merged.length > KEEP ? merged.slice(0, KEEP) : merged;
      });
    };
    source.onopen = () => setStatus("live");
    source.onerror = () => setStatus("reconnecting");
    // A message carries one or more events, one JSON object per line.
    source.onmessage = (m) => {
      const at = performance.now();
      const lines = (m.data as string).split("\n");
      for (const raw of lines) if (raw) buffer.current.push({ raw, at, n: ++counter.current });
      window.__vigilLive!.received += lines.length;
      windowCount += lines.length;
      if (!timer) timer = window.setTimeout(flush, FLUSH_MS);
    };
    source.addEventListener("stats", (m) => {
      server = JSON.parse((m as MessageEvent).data);
      const now = performance.now();
      rate = (windowCount * 1000) / Math.max(1, now - windowStart);
      windowStart = now;
      windowCount = 0;
      setStats({ ...server, pending: buffer.current.length, rate });
    });
    return () => {
      source.close();
      if (timer) clearTimeout(timer);
      buffer.current = [];
    };
  }, [applied]);

  // When paused nothing renders; when resumed, what arrived meanwhile shows at once.
  useEffect(() => {
    if (paused || buffer.current.length === 0) return;
    const incoming = buffer.current;
    buffer.current = [];
    setRows((old) => incoming.reverse().concat(old).slice(0, KEEP));
  }, [paused]);

  // Re-render now and then so highlights fade when the stream is quiet.
  useEffect(() => {
    const t = setInterval(() => setTick((x) => x + 1), 500);
    return () => clearInterval(t);
  }, []);

  const now = performance.now();
  return (
    <section className="fill">
      <form
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          setRows([]);
          setApplied({ category, host, text });
        }}
      >
        <h2>Live events</h2>
        <select aria-label="category" value={category} onChange={(e) => setCategory(e.target.value)}>
          {CATEGORIES.map((c) => (
            <option key={c} value={c}>
              {c || "all categories"}
            </option>
          ))}
        </select>
        <input aria-label="host" placeholder="host name or id" value={host} onChange={(e) => setHost(e.target.value)} />
        <input aria-label="text" placeholder="text" value={text} onChange={(e) => setText(e.target.value)} />
        <button className="btn" type="submit">
          Apply
        </button>
        <button className="btn" type="button" onClick={() => setPaused((p) => !p)} aria-pressed={paused}>
          {paused ? "Resume" : "Pause"}
        </button>
        <button className="btn" type="button" onClick={() => setRows([])}>
          Clear
        </button>
        <span className={"badge " + (status === "live" ? "ok" : "off")} data-testid="live-status">
          {paused ? "paused" : status}
        </span>
        <span className="muted" data-testid="live-stats">
          {stats.rate.toFixed(0)}/s · {stats.delivered.toLocaleString()} received · {stats.dropped.toLocaleString()} dropped
          {paused ? ` · ${buffer.current.length} waiting` : ""}
        </span>
      </form>
      <VirtualTable
        label="live events"
        testId="live-table"
        columns={EVENT_COLUMNS}
        rows={rows}
        renderCell={(r: Row, c) => renderEventCell(parsed(r), c)}
        rowClass={(r: Row) => (now - r.at < FRESH_MS ? "fresh" : "")}
        rowStyle={(r: Row) => {
          const age = now - r.at;
          return age < FRESH_MS ? { background: `rgba(255, 214, 90, ${0.35 * (1 - age / FRESH_MS)})` } : undefined;
        }}
        onOpen={(r: Row) => parsed(r)["process.entity_id"] && navigate(processPath(parsed(r)["process.entity_id"]))}
      />
    </section>
  );
}
