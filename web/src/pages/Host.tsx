// Host: one host's state (online, isolation) and its activity, processes, connections, DNS, files
// and alerts: the stored ones (GET /api/events for that host), then live as they are stored (SSE,
// /api/events/stream), each event a link to its process tree;
// the scans that included it (GET /api/scans) and the response actions on it (the audit log).
import { useEffect, useMemo, useState } from "react";
import { api, apiLines, canAct, type Session } from "../api";
import { ActionDialog, type ActionRequest } from "../components/ActionDialog";
import { VirtualTable } from "../components/VirtualTable";
import { EVENT_COLUMNS, renderEventCell } from "../components/events";
import { Link, navigate, processPath } from "../router";
import { IsolationBadge, ago, loadHosts, type Host } from "./Fleet";
import { AuditTable, loadActions, type Action } from "./Response";

const TABS: [string, string][] = [
  ["", "Recent activity"],
  ["process", "Processes"],
  ["network", "Connections"],
  ["dns", "DNS"],
  ["file", "Files"],
  ["alert", "Alerts"],
  ["action", "Action events"],
  ["@scans", "Scans"],
  ["@actions", "Response actions"],
];

// The scans that included the host, with its progress in each (newest first).
function HostScans({ agent }: { agent: string }) {
  const [jobs, setJobs] = useState<any[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    api<any[]>("/api/scans")
      .then((all) => setJobs(all.filter((j) => j.hosts.some((h: any) => h["agent.id"] === agent)).sort((a, b) => b.id - a.id)))
      .catch((e) => setError(e.message));
  }, [agent]);
  if (error) return <p className="error">{error}</p>;
  if (!jobs) return <p className="muted">Loading…</p>;
  return (
    <table className="grid" data-testid="host-scans">
      <thead>
        <tr>
          <th>Scan</th>
          <th>Kind</th>
          <th>Rules</th>
          <th>Status here</th>
          <th className="num">Done</th>
          <th className="num">Findings</th>
          <th>Started</th>
        </tr>
      </thead>
      <tbody>
        {jobs.map((j) => {
          const h = j.hosts.find((x: any) => x["agent.id"] === agent);
          const [done, total] = j.kind === "memory" ? [h.processes_done, h.processes_total] : [h.files_done, h.files_total];
          return (
            <tr key={j.id} data-job={j.id}>
              <td>
                <Link to={`/scans?job=${j.id}`}>{j.scan_id ?? j.id}</Link>
              </td>
              <td>{j.kind}</td>
              <td>{j.rules}</td>
              <td>{h.status}</td>
              <td className="num">{total === undefined ? "—" : `${done}/${total}`}</td>
              <td className="num">{h.findings ?? 0}</td>
              <td>{j.started ?? ""}</td>
            </tr>
          );
        })}
        {jobs.length === 0 && (
          <tr>
            <td colSpan={7} className="muted">
              No scan included this host.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

// The response actions that targeted the host (newest first), with its answer to each.
function HostActions({ agent }: { agent: string }) {
  const [actions, setActions] = useState<Action[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    loadActions()
      .then((all) => setActions(all.filter((a) => a.targets?.some((t) => t["agent.id"] === agent))))
      .catch((e) => setError(e.message));
  }, [agent]);
  if (error) return <p className="error">{error}</p>;
  if (!actions) return <p className="muted">Loading…</p>;
  return <AuditTable actions={actions} testId="host-actions" agent={agent} />;
}

const KEEP = 2000; // events shown
const LIVE_FLUSH_MS = 250;
const eventKey = (e: any) => [e["host.id"], e["event.sequence"], e["@timestamp"], e["process.entity_id"], e["event.action"]].join("|");

export function HostPage({ hostId, session }: { hostId: string; session: Session }) {
  const [request, setRequest] = useState<ActionRequest | null>(null);
  const [host, setHost] = useState<Host | null>(null);
  const [tab, setTab] = useState("");
  const [since, setSince] = useState("1h");
  const [rows, setRows] = useState<any[]>([]);
  const [error, setError] = useState("");
  const [liveState, setLiveState] = useState("connecting");
  const [filter, setFilter] = useState("");
  const shown = useMemo(() => {
    const needle = filter.trim().toLowerCase();
    return needle ? rows.filter((e) => JSON.stringify(e).toLowerCase().includes(needle)) : rows;
  }, [rows, filter]);

  useEffect(() => {
    loadHosts()
      .then((list) => {
        const h = list.find((x) => x["agent.id"] === hostId || x["host.id"] === hostId || x["host.name"] === hostId);
        if (!h) setError(`no host ${hostId}`);
        setHost(h ?? null);
      })
      .catch((e) => setError(e.message));
  }, [hostId]);

  // The stored events of the tab, then the new ones as they are stored (the live stream opens
  // first, so nothing falls between the two; what both carry is shown once).
  useEffect(() => {
    if (!host || tab.startsWith("@")) return;
    const controller = new AbortController();
    const hostKey = host["host.id"] || host["host.name"];
    const params = new URLSearchParams({ host: hostKey, since, limit: String(KEEP) });
    const live = new URLSearchParams({ host: hostKey });
    if (tab) {
      params.set("category", tab);
      live.set("category", tab);
    }
    let all: any[] = [];
    let pending: any[] = [];
    let loaded = false;
    let timer = 0;
    const seen = new Set<string>();
    const flush = () => {
      timer = 0;
      const fresh = pending.filter((e) => !seen.has(eventKey(e))).reverse();
      pending = [];
      fresh.forEach((e) => seen.add(eventKey(e)));
      all = fresh.concat(all).slice(0, KEEP);
      if (fresh.length) setRows(all);
    };
    setRows([]);
    setLiveState("connecting");
    const source = new EventSource("/api/events/stream?" + live);
    source.onopen = () => setLiveState("live");
    source.onerror = () => setLiveState("reconnecting");
    source.onmessage = (m) => {
      for (const raw of (m.data as string).split("\n")) if (raw) pending.push(JSON.parse(raw));
      if (loaded && !timer) timer = window.setTimeout(flush, LIVE_FLUSH_MS);
    };
    apiLines("/api/events?" + params, "GET", undefined, (chunk) => {
      all.push(...chunk);
      chunk.forEach((e) => seen.add(eventKey(e)));
      setRows(all.slice());
    }, controller.signal)
      .then(() => {
        loaded = true;
        flush();
      })
      .catch((e) => e.name !== "AbortError" && setError(e.message));
    return () => {
      controller.abort();
      source.close();
      if (timer) clearTimeout(timer);
    };
  }, [host, tab, since]);

  if (!host) return <section>{error ? <p className="error">{error}</p> : "Loading…"}</section>;
  return (
    <section className="fill">
      <div className="toolbar">
        <h2>{host["host.name"]}</h2>
        <span className={host.online ? "badge ok" : "badge off"}>{host.online ? "online" : "offline"}</span>
        <IsolationBadge state={host.isolation} />
        <span className="muted">
          {host.os} · sensor {host.sensor} · agent {host["agent.version"]} · last seen {ago(host.last_seen)} · {host.events_received.toLocaleString()} events,{" "}
          {host.events_dropped.toLocaleString()} dropped
        </span>
        {canAct(session.role) && (
          <>
            <button
              className="btn danger"
              onClick={() =>
                setRequest({ type: "isolate", hosts: [host["agent.id"]], params: {}, what: `Cut ${host["host.name"]} off the network (only the Vigil server stays reachable).` })
              }
            >
              Isolate…
            </button>
            <button
              className="btn"
              onClick={() => setRequest({ type: "release", hosts: [host["agent.id"]], params: {}, what: `Release ${host["host.name"]} from network isolation.` })}
            >
              Release…
            </button>
          </>
        )}
      </div>
      {request && <ActionDialog request={request} onClose={() => setRequest(null)} />}
      <div className="toolbar">
        <div className="tabs" role="tablist">
          {TABS.map(([k, label]) => (
            <button key={k} role="tab" aria-selected={tab === k} className={tab === k ? "tab active" : "tab"} onClick={() => setTab(k)}>
              {label}
            </button>
          ))}
        </div>
        {!tab.startsWith("@") && (
          <label>
            since <input aria-label="since" value={since} onChange={(e) => setSince(e.target.value)} size={5} />
          </label>
        )}
        {!tab.startsWith("@") && (
          <>
            <input aria-label="filter events" placeholder="filter: any text" value={filter} onChange={(e) => setFilter(e.target.value)} size={24} />
            <span className="muted">{filter.trim() ? `${shown.length} of ${rows.length}` : rows.length} events</span>
            <span className={"badge " + (liveState === "live" ? "ok" : "off")} data-testid="host-live" title="new events appear as they are stored">
              {liveState}
            </span>
          </>
        )}
      </div>
      {error && <p className="error">{error}</p>}
      {tab === "@scans" && <HostScans agent={host["agent.id"]} />}
      {tab === "@actions" && <HostActions agent={host["agent.id"]} />}
      {!tab.startsWith("@") && (
        <VirtualTable
          label="host events"
          columns={EVENT_COLUMNS}
          rows={shown}
          renderCell={renderEventCell}
          onOpen={(e) => e["process.entity_id"] && navigate(processPath(e["process.entity_id"]))}
        />
      )}
    </section>
  );
}
