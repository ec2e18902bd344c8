// Host: one host's state and its recent activity, processes, connections, DNS, files and alerts
// (GET /api/events for that host), each event a link to its process tree.
import { useEffect, useState } from "react";
import { api, apiLines, canAct, type Session } from "../api";
import { ActionDialog, type ActionRequest } from "../components/ActionDialog";
import { VirtualTable } from "../components/VirtualTable";
import { EVENT_COLUMNS, renderEventCell } from "../components/events";
import { navigate, processPath } from "../router";
import { ago, type Host } from "./Fleet";

const TABS: [string, string][] = [
  ["", "Recent activity"],
  ["process", "Processes"],
  ["network", "Connections"],
  ["dns", "DNS"],
  ["file", "Files"],
  ["alert", "Alerts"],
  ["action", "Actions"],
];

export function HostPage({ hostId, session }: { hostId: string; session: Session }) {
  const [request, setRequest] = useState<ActionRequest | null>(null);
  const [host, setHost] = useState<Host | null>(null);
  const [tab, setTab] = useState("");
  const [since, setSince] = useState("1h");
  const [rows, setRows] = useState<any[]>([]);
  const [error, setError] = useState("");

  useEffect(() => {
    api<Host[]>("/api/hosts")
      .then((list) => {
        const h = list.find((x) => x["agent.id"] === hostId || x["host.id"] === hostId || x["host.name"] === hostId);
        if (!h) setError(`no host ${hostId}`);
        setHost(h ?? null);
      })
      .catch((e) => setError(e.message));
  }, [hostId]);

  useEffect(() => {
    if (!host) return;
    const controller = new AbortController();
    const params = new URLSearchParams({ host: host["host.id"] || host["host.name"], since, limit: "2000" });
    if (tab) params.set("category", tab);
    const all: any[] = [];
    setRows([]);
    apiLines("/api/events?" + params, "GET", undefined, (chunk) => {
      all.push(...chunk);
      setRows(all.slice());
    }, controller.signal).catch((e) => e.name !== "AbortError" && setError(e.message));
    return () => controller.abort();
  }, [host, tab, since]);

  if (!host) return <section>{error ? <p className="error">{error}</p> : "Loading…"}</section>;
  return (
    <section className="fill">
      <div className="toolbar">
        <h2>{host["host.name"]}</h2>
        <span className={host.online ? "badge ok" : "badge off"}>{host.online ? "online" : "offline"}</span>
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
        <label>
          since <input aria-label="since" value={since} onChange={(e) => setSince(e.target.value)} size={5} />
        </label>
        <span className="muted">{rows.length} events</span>
      </div>
      {error && <p className="error">{error}</p>}
      <VirtualTable
        label="host events"
        columns={EVENT_COLUMNS}
        rows={rows}
        renderCell={renderEventCell}
        onOpen={(e) => e["process.entity_id"] && navigate(processPath(e["process.entity_id"]))}
      />
    </section>
  );
}
