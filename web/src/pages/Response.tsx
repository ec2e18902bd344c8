// Response: the audit log of every action (GET /api/actions, JSON Lines, refreshed every 3 s) with
// each target's state, and a form for actions on hosts (isolate, release, block a hash, IP or
// domain), always confirmed with a reason. Killing a process and quarantining a file start from
// the process tree, where the thing is seen.
import { useEffect, useState } from "react";
import { apiLines, canAct, type Session } from "../api";
import { ActionDialog, type ActionRequest } from "../components/ActionDialog";

export interface Action {
  id: number;
  time: string;
  actor: string;
  type: string;
  params: Record<string, unknown>;
  reason: string;
  status: string;
  error: string;
  targets: { "host.name": string; "agent.id": string; status: string; error: string; finished: string }[];
}

const FORM_TYPES: Record<string, { param: string; label: string } | null> = {
  isolate: null,
  release: null,
  "block-hash": { param: "sha256", label: "SHA-256" },
  "unblock-hash": { param: "sha256", label: "SHA-256" },
  "block-ip": { param: "ip", label: "IP or CIDR" },
  "unblock-ip": { param: "ip", label: "IP or CIDR" },
  "block-domain": { param: "domain", label: "domain" },
  "unblock-domain": { param: "domain", label: "domain" },
};

// The audit log, newest first (GET /api/actions is oldest first, at most limit).
export async function loadActions(limit = 1000): Promise<Action[]> {
  const all: Action[] = [];
  await apiLines(`/api/actions?limit=${limit}`, "GET", undefined, (rows) => all.push(...rows));
  return all.reverse();
}

// The audit log as a table; with agent (the Host page), the last column is that host's answer.
export function AuditTable({ actions, testId, agent }: { actions: Action[]; testId: string; agent?: string }) {
  const answer = (t: Action["targets"][number]) => `${agent ? "" : (t["host.name"] || t["agent.id"]) + ": "}${t.status}${t.error ? " (" + t.error + ")" : ""}`;
  return (
    <table className="grid" data-testid={testId}>
      <thead>
        <tr>
          <th>#</th>
          <th>Time</th>
          <th>Who</th>
          <th>Action</th>
          <th>Parameters</th>
          <th>Reason</th>
          <th>Status</th>
          <th>{agent ? "This host" : "Hosts"}</th>
        </tr>
      </thead>
      <tbody>
        {actions.map((a) => (
          <tr key={a.id} data-action={a.id}>
            <td>{a.id}</td>
            <td>{a.time}</td>
            <td>{a.actor}</td>
            <td>{a.type}</td>
            <td className="mono params" title={JSON.stringify(a.params)}>
              {JSON.stringify(a.params)}
            </td>
            <td>{a.reason}</td>
            <td className={a.status === "failed" ? "warn" : ""} title={a.error}>
              {a.status}
            </td>
            <td>
              {a.targets
                ?.filter((t) => !agent || t["agent.id"] === agent)
                .map(answer)
                .join("; ")}
            </td>
          </tr>
        ))}
        {actions.length === 0 && (
          <tr>
            <td colSpan={8} className="muted">
              No actions{agent ? " on this host" : ""}.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

export function ResponsePage({ session }: { session: Session }) {
  const [actions, setActions] = useState<Action[]>([]);
  const [error, setError] = useState("");
  const [type, setType] = useState("isolate");
  const [hosts, setHosts] = useState("");
  const [value, setValue] = useState("");
  const [request, setRequest] = useState<ActionRequest | null>(null);
  const mayAct = canAct(session.role);

  const load = () =>
    loadActions()
      .then((list) => {
        setActions(list);
        setError("");
      })
      .catch((e) => setError(e.status === 404 ? "This server has no response API yet." : e.message));
  useEffect(() => {
    load();
    const t = setInterval(load, 3000);
    return () => clearInterval(t);
  }, []);

  const spec = FORM_TYPES[type];
  return (
    <section className="fill">
      <div className="toolbar">
        <h2>Response</h2>
        <span className="muted">every action, who asked for it and why, and what each host answered</span>
      </div>
      {error && <p className="error">{error}</p>}
      {mayAct && (
        <form
          className="toolbar"
          onSubmit={(e) => {
            e.preventDefault();
            const list = hosts.split(/[\s,]+/).filter(Boolean);
            const params: Record<string, unknown> = spec ? { [spec.param]: value.split(/[\s,]+/).filter(Boolean) } : {};
            setRequest({ type, hosts: list, params, what: `${type} on ${list.join(", ")}${spec ? ": " + value : ""}` });
          }}
        >
          <select aria-label="action" value={type} onChange={(e) => setType(e.target.value)}>
            {Object.keys(FORM_TYPES).map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
          <input aria-label="hosts" placeholder="hosts (names or agent ids)" value={hosts} onChange={(e) => setHosts(e.target.value)} required />
          {spec && <input aria-label={spec.label} placeholder={spec.label} value={value} onChange={(e) => setValue(e.target.value)} required />}
          <button className="btn danger" type="submit">
            {type}…
          </button>
        </form>
      )}
      <AuditTable actions={actions} testId="audit-log" />
      {request && (
        <ActionDialog
          request={request}
          onClose={(done) => {
            setRequest(null);
            if (done) load();
          }}
        />
      )}
    </section>
  );
}
