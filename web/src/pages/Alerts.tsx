// Alerts: stored alerts (GET /api/alerts) and new ones as they are raised (SSE /api/alerts/stream),
// grouped by rule or host, with triage (status, assignee, comments: POST /api/alerts/ID; analysts
// and admins) and a jump to the process tree.
import { useEffect, useMemo, useState } from "react";
import { api, canAct, type Session } from "../api";
import { Link, processPath } from "../router";

interface Alert {
  id: number;
  rule_id: string;
  rule_name: string;
  severity: string;
  "host.name": string;
  "process.entity_id": string;
  status: string;
  assignee: string;
  comments: { author: string; text: string; time: string }[];
  count: number;
  first_seen: string;
  last_seen: string;
}

export function AlertsPage({ session }: { session: Session }) {
  const [alerts, setAlerts] = useState<Alert[]>([]);
  const [error, setError] = useState("");
  const [status, setStatus] = useState("");
  const [group, setGroup] = useState<"rule_name" | "host.name" | "">("rule_name");
  const [selected, setSelected] = useState<number | null>(null);
  const [comment, setComment] = useState("");
  const [assignee, setAssignee] = useState("");
  const mayAct = canAct(session.role);

  const load = () =>
    api<Alert[]>("/api/alerts?limit=1000" + (status ? "&status=" + status : ""))
      .then((a) => {
        setAlerts(a);
        setError("");
      })
      .catch((e) => setError(e.status === 404 ? "This server has no alerts API yet." : e.message));
  useEffect(() => {
    load();
    const source = new EventSource("/api/alerts/stream");
    source.addEventListener("alert", (m) => {
      const a: Alert = JSON.parse((m as MessageEvent).data);
      setAlerts((old) => [a, ...old.filter((x) => x.id !== a.id)]);
    });
    return () => source.close();
  }, [status]);

  const groups = useMemo(() => {
    const map = new Map<string, Alert[]>();
    for (const a of alerts) {
      const k = group ? String((a as any)[group] ?? "") : "all alerts";
      map.set(k, [...(map.get(k) ?? []), a]);
    }
    return [...map.entries()].sort((x, y) => y[1].length - x[1].length);
  }, [alerts, group]);
  const current = alerts.find((a) => a.id === selected);

  const triage = async (body: Record<string, string>) => {
    if (!current) return;
    try {
      const updated = await api<Alert>(`/api/alerts/${current.id}`, "POST", body);
      setAlerts((old) => old.map((a) => (a.id === updated.id ? updated : a)));
      setComment("");
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <section className="fill">
      <div className="toolbar">
        <h2>Alerts</h2>
        <select aria-label="status" value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">every status</option>
          <option value="new">new</option>
          <option value="acknowledged">acknowledged</option>
          <option value="closed">closed</option>
        </select>
        <select aria-label="group by" value={group} onChange={(e) => setGroup(e.target.value as any)}>
          <option value="rule_name">group by rule</option>
          <option value="host.name">group by host</option>
          <option value="">no grouping</option>
        </select>
        <span className="muted">{alerts.length} alerts</span>
      </div>
      {error && <p className="error">{error}</p>}
      <div className="process-body">
        <div className="tree" data-testid="alerts-list">
          {groups.map(([key, list]) => (
            <div key={key}>
              <div className="group-title">
                <b>{key}</b> <span className="muted">({list.length})</span>
              </div>
              {list.map((a) => (
                <button key={a.id} className={"alert-row" + (a.id === selected ? " selected" : "")} onClick={() => setSelected(a.id)} data-alert={a.id}>
                  <span className={"sev-" + a.severity}>{a.severity}</span> <span>{a.rule_name}</span> <span className="muted">{a["host.name"]}</span>{" "}
                  <span className={"badge " + (a.status === "new" ? "off" : "ok")}>{a.status}</span> <span className="muted">×{a.count} · {a.last_seen}</span>
                </button>
              ))}
            </div>
          ))}
        </div>
        {current && (
          <aside className="details" aria-label="alert" data-testid="alert-details">
            <h3>
              #{current.id} {current.rule_name} <span className={"sev-" + current.severity}>{current.severity}</span>
            </h3>
            <dl>
              <dt>host</dt>
              <dd>{current["host.name"]}</dd>
              <dt>status</dt>
              <dd data-testid="alert-status">{current.status}</dd>
              <dt>assignee</dt>
              <dd>{current.assignee || "—"}</dd>
              <dt>seen</dt>
              <dd>
                {current.count}× from {current.first_seen} to {current.last_seen}
              </dd>
              <dt>process</dt>
              <dd>{current["process.entity_id"] ? <Link to={processPath(current["process.entity_id"])}>open the process tree</Link> : "—"}</dd>
            </dl>
            <div className="actions-bar">
              {["acknowledged", "closed", "new"].map((s) => (
                <button key={s} className="btn" disabled={!mayAct || current.status === s} onClick={() => triage({ status: s })}>
                  {s === "acknowledged" ? "Acknowledge" : s === "closed" ? "Close" : "Reopen"}
                </button>
              ))}
            </div>
            <div className="actions-bar">
              <input aria-label="assignee" placeholder="assignee" value={assignee} onChange={(e) => setAssignee(e.target.value)} disabled={!mayAct} />
              <button className="btn" disabled={!mayAct || !assignee} onClick={() => triage({ assignee })}>
                Assign
              </button>
            </div>
            <h3>Comments</h3>
            <ul className="activity">
              {current.comments.map((c, i) => (
                <li key={i}>
                  <span className="muted">
                    {c.time} {c.author}:
                  </span>{" "}
                  {c.text}
                </li>
              ))}
            </ul>
            <textarea aria-label="comment" rows={2} value={comment} onChange={(e) => setComment(e.target.value)} disabled={!mayAct} />
            <button className="btn" disabled={!mayAct || !comment.trim()} onClick={() => triage({ comment })}>
              Comment
            </button>
          </aside>
        )}
      </div>
    </section>
  );
}
