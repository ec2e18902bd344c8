// Scans: YARA scan jobs (GET/POST /api/scans) with each host's live progress over SSE
// (/api/scans/ID/stream), the findings of the job (/api/scans/ID/findings), pause, resume and
// cancel (analysts and admins, confirmed with a reason that goes to the audit log), and the YARA
// rule sets scans use (components/YaraSets.tsx).
import { useEffect, useState } from "react";
import { api, apiLines, canAct, type Session } from "../api";
import { ActionDialog, type ActionRequest } from "../components/ActionDialog";
import { YaraSets, type RuleSet } from "../components/YaraSets";
import { formatTime } from "../components/events";
import { Link, processPath } from "../router";

interface HostProgress {
  "agent.id": string;
  "host.name": string;
  status: string;
  error?: string;
  files_total?: number;
  files_done?: number;
  bytes_total?: number;
  bytes_done?: number;
  processes_total?: number;
  processes_done?: number;
  findings?: number;
  errors?: number;
  eta_seconds?: number;
  updated?: string;
}

interface Job {
  id: number;
  kind: "files" | "memory";
  rules: string;
  rules_version: number;
  spec: { paths?: string[]; pids?: number[]; cpu?: number };
  hosts_total: number;
  every_seconds: number;
  owner: string;
  created: string;
  status: string;
  runs: number;
  run?: number;
  scan_id?: string;
  started?: string;
  hosts: HostProgress[];
  finished: boolean;
}

declare global {
  interface Window {
    // What the page saw of the selected job's hosts over SSE, for the browser test.
    __vigilScan?: { job: number; statuses: string[] };
  }
}

const FINAL = new Set(["done", "cancelled", "failed"]);
const mb = (b?: number) => ((b ?? 0) / 1048576).toFixed(1);

// The job's own status is "finished" as soon as a one-off job's run was dispatched (no more runs
// to come), so whether the scan still runs is read from its hosts.
const jobEnded = (j: Job) => j.finished || j.status === "cancelled" || j.status === "failed";

function jobState(j: Job): string {
  if (j.status === "cancelled" || j.status === "failed") return j.status;
  if (j.finished) return "finished";
  const running = j.hosts.filter((h) => !FINAL.has(h.status)).length;
  return `${running} of ${j.hosts.length} hosts running`;
}

function HostBar({ h, kind }: { h: HostProgress; kind: string }) {
  const [done, total, unit] =
    kind === "memory" ? [h.processes_done ?? 0, h.processes_total ?? 0, "processes"] : [h.files_done ?? 0, h.files_total ?? 0, "files"];
  const pct = h.status === "done" ? 100 : total > 0 ? Math.min(100, (100 * done) / total) : 0;
  return (
    <div className="scan-host" data-host={h["host.name"]} data-status={h.status}>
      <div className="scan-host-head">
        <b>{h["host.name"] || h["agent.id"]}</b> <span className={"badge " + (h.status === "failed" ? "off" : "ok")}>{h.status}</span>{" "}
        <span className="muted" data-testid="scan-counts">
          {done}/{total} {unit} · {mb(h.bytes_done)}/{mb(h.bytes_total)} MB · {h.findings ?? 0} findings
          {h.errors ? ` · ${h.errors} errors` : ""}
          {h.eta_seconds !== undefined && !FINAL.has(h.status) ? ` · about ${Math.round(h.eta_seconds)} s left` : ""}
        </span>
      </div>
      <div className="bar" role="progressbar" aria-label={"progress on " + h["host.name"]} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(pct)}>
        <div className={"bar-fill" + (h.status === "failed" ? " failed" : "")} style={{ width: pct + "%" }} />
      </div>
      {h.error && <p className="error">{h.error}</p>}
    </div>
  );
}

function JobDetails({ jobId, session, onChanged }: { jobId: number; session: Session; onChanged: () => void }) {
  const [job, setJob] = useState<Job | null>(null);
  const [findings, setFindings] = useState<any[]>([]);
  const [error, setError] = useState("");
  const [request, setRequest] = useState<ActionRequest | null>(null);
  const mayAct = canAct(session.role);
  const found = job?.hosts.reduce((n, h) => n + (h.findings ?? 0), 0) ?? 0;

  useEffect(() => {
    setJob(null);
    setFindings([]);
    setError("");
    window.__vigilScan = { job: jobId, statuses: [] };
    const source = new EventSource(`/api/scans/${jobId}/stream`);
    source.onmessage = (m) => {
      const j: Job = JSON.parse(m.data);
      setJob(j);
      window.__vigilScan?.statuses.push(...j.hosts.map((h) => `${h.status} ${h.files_done ?? h.processes_done ?? 0}/${h.files_total ?? h.processes_total ?? 0}`));
    };
    source.addEventListener("end", () => source.close());
    source.addEventListener("error", (m) => {
      const data = (m as MessageEvent).data;
      if (data) setError(JSON.parse(data).error);
    });
    return () => source.close();
  }, [jobId]);

  // The findings, again whenever the hosts report more.
  useEffect(() => {
    const all: any[] = [];
    apiLines(`/api/scans/${jobId}/findings`, "GET", undefined, (rows) => all.push(...rows))
      .then(() => setFindings(all))
      .catch((e) => setError(e.message));
  }, [jobId, found]);

  if (!job) return <div className="details scan-details">{error ? <p className="error">{error}</p> : "Loading…"}</div>;
  const control = (op: "pause" | "resume" | "cancel") =>
    setRequest({
      type: op + " scan",
      hosts: job.hosts.map((h) => h["host.name"] || h["agent.id"]),
      params: { job: job.scan_id },
      what: `${op[0].toUpperCase() + op.slice(1)} scan ${job.scan_id} (${job.kind}, rules ${job.rules}) on ${job.hosts.length} hosts.`,
      send: (reason) => api(`/api/scans/${job.id}/${op}`, "POST", { reason }),
      describe: (r) => `${op} sent to the hosts (action ${r.action ?? "none: the job never ran"}).`,
    });
  const ended = jobEnded(job);
  return (
    <div className="details scan-details" data-testid="scan-details">
      <h3>
        Scan {job.scan_id ?? job.id} <span className="muted">{job.kind} · rules {job.rules} v{job.rules_version}</span>
      </h3>
      <p className="muted">
        {job.kind === "files" ? "paths " + (job.spec.paths ?? []).join(", ") : job.spec.pids?.length ? "pids " + job.spec.pids.join(", ") : "every process"} · cpu{" "}
        {job.spec.cpu}% · by {job.owner || "?"} · started {job.started ? formatTime(job.started) : "—"}
        {job.every_seconds ? ` · every ${job.every_seconds} s` : ""}
      </p>
      {mayAct && (
        <div className="actions-bar">
          <button className="btn" disabled={ended} onClick={() => control("pause")}>
            Pause…
          </button>
          <button className="btn" disabled={ended} onClick={() => control("resume")}>
            Resume…
          </button>
          <button className="btn danger" disabled={ended} onClick={() => control("cancel")}>
            Cancel scan…
          </button>
        </div>
      )}
      {error && <p className="error">{error}</p>}
      <div data-testid="scan-progress">
        {job.hosts.map((h) => (
          <HostBar key={h["agent.id"]} h={h} kind={job.kind} />
        ))}
      </div>
      <h3>Findings ({findings.length})</h3>
      <table className="grid" data-testid="scan-findings">
        <thead>
          <tr>
            <th>Time</th>
            <th>Host</th>
            <th>Rule</th>
            <th>Where</th>
            <th>sha256</th>
          </tr>
        </thead>
        <tbody>
          {findings.map((f, i) => (
            <tr key={i}>
              <td>{formatTime(f["@timestamp"])}</td>
              <td>{f["host.name"]}</td>
              <td title={(f["yara.tags"] ?? []).join(", ")}>
                {f["yara.namespace"] ? f["yara.namespace"] + ":" : ""}
                {f["yara.rule"]}
              </td>
              <td className="mono">
                {f["file.path"] ??
                  (f["process.entity_id"] ? (
                    <Link to={processPath(f["process.entity_id"])}>
                      pid {f["process.pid"]} {f["process.executable"]}
                    </Link>
                  ) : (
                    `pid ${f["process.pid"]}`
                  ))}
              </td>
              <td className="mono">{(f["file.hash.sha256"] ?? "").slice(0, 16)}</td>
            </tr>
          ))}
          {findings.length === 0 && (
            <tr>
              <td colSpan={5} className="muted">
                No findings{job.finished ? "" : " yet"}.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {request && (
        <ActionDialog
          request={request}
          onClose={() => {
            setRequest(null);
            onChanged();
          }}
        />
      )}
    </div>
  );
}

export function ScansPage({ session, job }: { session: Session; job: number | null }) {
  const [jobs, setJobs] = useState<Job[]>([]);
  const [sets, setSets] = useState<RuleSet[]>([]);
  const [selected, setSelected] = useState<number | null>(job);
  const [error, setError] = useState("");
  const [request, setRequest] = useState<ActionRequest | null>(null);
  const [kind, setKind] = useState<"files" | "memory">("files");
  const [rules, setRules] = useState("");
  const [hosts, setHosts] = useState("all");
  const [targets, setTargets] = useState("");
  const [cpu, setCpu] = useState("5");
  const [window_, setWindow] = useState("");
  const [splay, setSplay] = useState("");
  const mayAct = canAct(session.role);

  const load = () =>
    api<Job[]>("/api/scans")
      .then((list) => {
        setJobs(list.sort((a, b) => b.id - a.id));
        setError("");
      })
      .catch((e) => setError(e.message));
  useEffect(() => {
    load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, []);

  const start = (e: React.FormEvent) => {
    e.preventDefault();
    const list = targets.split(/[\s,]+/).filter(Boolean);
    const hostList = hosts.split(/[\s,]+/).filter(Boolean);
    const body: Record<string, unknown> = { kind, rules, hosts: hostList, cpu: Number(cpu) };
    if (kind === "files") body.paths = list;
    else body.pids = list.map(Number);
    if (window_.trim()) body.window = window_.trim();
    if (splay.trim()) body.splay = splay.trim();
    setRequest({
      type: "scan",
      hosts: hostList,
      params: body,
      what: `Scan ${kind === "files" ? list.join(", ") : list.length ? "processes " + list.join(", ") : "the memory of every process"} on ${hostList.join(", ")} with the YARA rules ${rules}, at most ${cpu}% of a core${window_.trim() ? `, only within ${window_.trim()} local time` : ""}${splay.trim() ? `, each host starting at a random time within ${splay.trim()}` : ""}.`,
      send: async (reason) => {
        const job = await api<Job>("/api/scans", "POST", { ...body, reason });
        setSelected(job.id); // follow its progress from the start
        return job;
      },
      describe: (j: Job) => `Scan job ${j.id} started (run ${j.scan_id}) on ${j.hosts.length} hosts.`,
    });
  };

  return (
    <section className="fill">
      <div className="toolbar">
        <h2>Scans</h2>
        <span className="muted">YARA scans of files and process memory, with each host's progress</span>
      </div>
      {error && <p className="error">{error}</p>}
      {mayAct && (
        <form className="toolbar" onSubmit={start} aria-label="new scan">
          <select aria-label="scan kind" value={kind} onChange={(e) => setKind(e.target.value as "files" | "memory")}>
            <option value="files">files</option>
            <option value="memory">memory</option>
          </select>
          <select aria-label="scan rules" value={rules} onChange={(e) => setRules(e.target.value)} required>
            <option value="">rule set…</option>
            {sets.map((s) => (
              <option key={s.name} value={s.name}>
                {s.name} (v{s.version}, {s.rules} rules)
              </option>
            ))}
          </select>
          <input aria-label="scan hosts" placeholder="hosts or all" value={hosts} onChange={(e) => setHosts(e.target.value)} size={14} required />
          <input
            aria-label={kind === "files" ? "scan paths" : "scan pids"}
            placeholder={kind === "files" ? "absolute paths, comma-separated" : "pids (empty: every process)"}
            value={targets}
            onChange={(e) => setTargets(e.target.value)}
            size={36}
            required={kind === "files"}
          />
          <label>
            cpu % <input aria-label="scan cpu" type="number" min={0} max={100} value={cpu} onChange={(e) => setCpu(e.target.value)} style={{ width: 56 }} />
          </label>
          <input aria-label="scan window" placeholder="window 01:00-05:00" value={window_} onChange={(e) => setWindow(e.target.value)} size={12} />
          <input aria-label="scan splay" placeholder="splay 30m" value={splay} onChange={(e) => setSplay(e.target.value)} size={7} />
          <button className="btn primary" type="submit">
            Start scan…
          </button>
        </form>
      )}
      <div className="process-body">
        <div className="tree">
          <table className="grid" data-testid="scan-jobs">
            <thead>
              <tr>
                <th>#</th>
                <th>Kind</th>
                <th>Rules</th>
                <th>Targets</th>
                <th>State</th>
                <th>Owner</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((j) => (
                <tr key={j.id} data-job={j.id} className={j.id === selected ? "selected" : ""}>
                  <td>
                    <button className="linkish" onClick={() => setSelected(j.id)}>
                      {j.scan_id ?? j.id}
                    </button>
                  </td>
                  <td>{j.kind}</td>
                  <td>
                    {j.rules} v{j.rules_version}
                  </td>
                  <td className="mono">{j.kind === "files" ? (j.spec.paths ?? []).join(", ") : j.spec.pids?.length ? j.spec.pids.join(", ") : "all processes"}</td>
                  <td>{jobState(j)}</td>
                  <td>{j.owner}</td>
                  <td>{formatTime(j.created)}</td>
                </tr>
              ))}
              {jobs.length === 0 && (
                <tr>
                  <td colSpan={7} className="muted">
                    No scans yet.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
        {selected !== null && <JobDetails jobId={selected} session={session} onChanged={load} />}
      </div>
      <h3>YARA rule sets</h3>
      <YaraSets session={session} onSets={setSets} />
      {request && (
        <ActionDialog
          request={request}
          onClose={(_, job?: Job) => {
            setRequest(null);
            if (job) setSelected(job.id);
            load();
          }}
        />
      )}
    </section>
  );
}
