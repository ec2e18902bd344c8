// Fleet: every enrolled host with its state, network isolation (GET /api/hosts/state, from the
// audit log), sensor, event rate, drops and last contact; search and filter; refreshed every 5 s
// (events/s from the change between refreshes).
import { useEffect, useRef, useState } from "react";
import { api } from "../api";
import { Link, hostPath } from "../router";

export interface Host {
  "agent.id": string;
  "host.id": string;
  "host.name": string;
  os: string;
  "agent.version": string;
  sensor: string;
  online: boolean | null; // null: an imported host (no agent, so no online state)
  imported?: boolean;
  last_seen: string;
  last_event?: string; // imported hosts: their last event's time
  events_received: number;
  events_dropped: number;
  batches_rejected: number;
  rate?: number;
  isolation?: HostState;
}

// What the audit log says of a host (GET /api/hosts/state).
export interface HostState {
  "agent.id": string;
  isolation: "isolated" | "not isolated";
  isolation_action: number;
  isolation_since: string;
  isolation_pending: "" | "isolate" | "release";
  isolation_error?: string;
}

// The hosts with their isolation state; a server without response actions has none.
export async function loadHosts(): Promise<Host[]> {
  const [list, states] = await Promise.all([api<Host[]>("/api/hosts"), api<HostState[]>("/api/hosts/state").catch(() => [] as HostState[])]);
  const byAgent = new Map(states.map((s) => [s["agent.id"], s]));
  for (const h of list) h.isolation = byAgent.get(h["agent.id"]);
  return list;
}

export function IsolationBadge({ state }: { state?: HostState }) {
  const isolated = state?.isolation === "isolated";
  const pending = state?.isolation_pending ? ` (${state.isolation_pending} pending)` : "";
  return (
    <span className={isolated ? "badge off" : "muted"} data-testid="isolation" title={state?.isolation_error ?? state?.isolation_since ?? ""}>
      {isolated ? "isolated" : "not isolated"}
      {pending}
      {state?.isolation_error ? " (last attempt failed)" : ""}
    </span>
  );
}

export function ago(rfc3339: string): string {
  if (!rfc3339) return "never";
  const s = Math.max(0, (Date.now() - Date.parse(rfc3339)) / 1000);
  if (s < 60) return `${Math.round(s)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function FleetPage() {
  const [hosts, setHosts] = useState<Host[]>([]);
  const [error, setError] = useState("");
  const [text, setText] = useState("");
  const [state, setState] = useState("all");
  const last = useRef<{ at: number; received: Map<string, number> } | null>(null);

  useEffect(() => {
    let stop = false;
    const load = async () => {
      try {
        const list = await loadHosts();
        const now = Date.now();
        const prev = last.current;
        for (const h of list) {
          const before = prev?.received.get(h["agent.id"]);
          if (prev && before !== undefined) h.rate = ((h.events_received - before) * 1000) / (now - prev.at);
        }
        last.current = { at: now, received: new Map(list.map((h) => [h["agent.id"], h.events_received])) };
        if (!stop) {
          setHosts(list);
          setError("");
        }
      } catch (e) {
        if (!stop) setError((e as Error).message);
      }
    };
    load();
    const t = setInterval(load, 5000);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, []);

  const q = text.toLowerCase();
  const shown = hosts.filter(
    (h) =>
      (state === "all" || (state === "isolated" ? h.isolation?.isolation === "isolated" : (state === "online") === h.online)) &&
      (!q || [h["host.name"], h["agent.id"], h["host.id"], h.os, h.sensor].some((v) => (v || "").toLowerCase().includes(q))),
  );
  const online = hosts.filter((h) => h.online).length;
  return (
    <section>
      <div className="toolbar">
        <h2>Fleet</h2>
        <span className="muted" data-testid="fleet-summary">
          {hosts.length} hosts, {online} online
        </span>
        <input aria-label="search hosts" placeholder="Search name, id, OS, sensor" value={text} onChange={(e) => setText(e.target.value)} />
        <select aria-label="state" value={state} onChange={(e) => setState(e.target.value)}>
          <option value="all">all states</option>
          <option value="online">online</option>
          <option value="offline">offline</option>
          <option value="isolated">isolated</option>
        </select>
      </div>
      {error && <p className="error">{error}</p>}
      <table className="grid" data-testid="fleet-table">
        <thead>
          <tr>
            <th>Host</th>
            <th>State</th>
            <th>Isolation</th>
            <th>Sensor</th>
            <th>OS</th>
            <th>Agent</th>
            <th className="num">Events/s</th>
            <th className="num">Received</th>
            <th className="num">Dropped</th>
            <th>Last seen</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((h) => (
            <tr key={h["agent.id"] || "import:" + h["host.id"] + ":" + h["host.name"] + ":" + h.sensor} data-host={h["host.name"]}>
              <td>{h.imported ? h["host.name"] || h["host.id"] : <Link to={hostPath(h["agent.id"])}>{h["host.name"] || h["agent.id"]}</Link>}</td>
              <td>
                {h.imported ? (
                  <span className="badge">imported</span>
                ) : (
                  <span className={h.online ? "badge ok" : "badge off"}>{h.online ? "online" : "offline"}</span>
                )}
              </td>
              <td>
                <IsolationBadge state={h.isolation} />
              </td>
              <td>{h.sensor}</td>
              <td>{h.os}</td>
              <td>{h["agent.version"]}</td>
              <td className="num">{h.rate === undefined ? "…" : h.rate.toFixed(1)}</td>
              <td className="num">{h.events_received.toLocaleString()}</td>
              <td className={"num" + (h.events_dropped ? " warn" : "")}>{h.events_dropped.toLocaleString()}</td>
              <td title={h.imported ? "last event " + h.last_event : h.last_seen}>{ago((h.imported ? h.last_event : h.last_seen) || "")}</td>
            </tr>
          ))}
          {shown.length === 0 && (
            <tr>
              <td colSpan={10} className="muted">
                {hosts.length ? "No host matches." : "No hosts enrolled yet (vigil-server token create, then vigil-agent enroll)."}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}
