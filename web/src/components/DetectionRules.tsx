// The server's detection rules, EQL and Sigma (/api/rules, the registry `vigil rules` uses): list
// with id, name, kind, severity, ATT&CK tags and state; a rule's source; enable/disable; upload of
// an .eql/.yml/.yaml file or pasted text, validated by the server, whose 400 (where and why) is
// shown with the line it names marked. Analysts and admins change rules; the API refuses viewers,
// who get no buttons.
import { useEffect, useState } from "react";
import { api, canAct, type Session } from "../api";
import { DetailsPanel } from "./DetailsPanel";
import { SourceView, errorPosition, shortTime } from "./SourceView";

export interface Rule {
  id: string;
  name: string;
  kind: string;
  enabled: boolean;
  severity: string;
  tags: string[];
  description: string;
  origin: string;
  version: number;
  updated: string;
  source?: string;
}

const attackTags = (tags: string[]) => tags.filter((t) => t.startsWith("attack."));

export function DetectionRules({ session }: { session: Session }) {
  const [rules, setRules] = useState<Rule[]>([]);
  const [filter, setFilter] = useState("");
  const [error, setError] = useState("");
  const [open, setOpen] = useState<Rule | null>(null);
  const [fileName, setFileName] = useState("pasted.eql");
  const [text, setText] = useState("");
  const [uploadError, setUploadError] = useState<{ message: string; text: string } | null>(null);
  const [notice, setNotice] = useState("");
  const mayAct = canAct(session.role);

  const load = () =>
    api<Rule[]>("/api/rules")
      .then(setRules)
      .catch((e) => setError(e.message));
  useEffect(() => {
    load();
  }, []);

  const setEnabled = async (r: Rule, enabled: boolean) => {
    setError("");
    try {
      await api(`/api/rules/${encodeURIComponent(r.id)}/${enabled ? "enable" : "disable"}`, "POST", {});
      setNotice(`${r.id} ${enabled ? "enabled" : "disabled"}`);
    } catch (e) {
      setError((e as Error).message);
    }
    load();
  };

  const upload = async (e: React.FormEvent) => {
    e.preventDefault();
    setUploadError(null);
    setNotice("");
    if (!text.trim()) return setUploadError({ message: "choose a .eql, .yml or .yaml file or paste a rule", text: "" });
    try {
      const r = await api("/api/rules", "POST", { source: text, file: fileName });
      setNotice(`rule ${r.id} ${r.outcome} (version ${r.version}, ${r.enabled ? "enabled" : "disabled"})`);
      setText("");
      load();
    } catch (err) {
      setUploadError({ message: (err as Error).message, text });
    }
  };

  const pos = uploadError ? errorPosition(uploadError.message) : null;
  const needle = filter.toLowerCase();
  const shown = rules.filter((r) => !needle || [r.id, r.name, r.kind, r.severity, ...r.tags].some((s) => s.toLowerCase().includes(needle)));
  return (
    <div className="detection-rules">
      <div className="toolbar">
        <input aria-label="filter rules" placeholder="filter: id, name, kind, severity, tag" value={filter} onChange={(e) => setFilter(e.target.value)} size={36} />
        <span className="muted">
          {shown.length} of {rules.length} rules, {rules.filter((r) => r.enabled).length} enabled
        </span>
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {notice && (
        <p className="muted" data-testid="rule-notice">
          {notice}
        </p>
      )}
      <table className="grid" data-testid="rules-table">
        <thead>
          <tr>
            <th>ID</th>
            <th>Name</th>
            <th>Kind</th>
            <th>Severity</th>
            <th>ATT&amp;CK</th>
            <th>State</th>
            <th className="num">Version</th>
            <th>Updated</th>
            {mayAct && <th></th>}
          </tr>
        </thead>
        <tbody>
          {shown.map((r) => (
            <tr key={r.id} data-rule={r.id} className={open?.id === r.id ? "selected" : ""}>
              <td>
                <button
                  className="linkish"
                  title="show the source"
                  onClick={() =>
                    api<Rule>(`/api/rules/${encodeURIComponent(r.id)}`)
                      .then(setOpen)
                      .catch((e) => setError(e.message))
                  }
                >
                  {r.id}
                </button>
              </td>
              <td className="wrap">{r.name}</td>
              <td>{r.kind}</td>
              <td className={"sev-" + r.severity}>{r.severity}</td>
              <td className="wrap">{attackTags(r.tags).join(", ")}</td>
              <td data-testid="rule-state">{r.enabled ? "enabled" : "disabled"}</td>
              <td className="num">{r.version}</td>
              <td title={r.updated}>{shortTime(r.updated)}</td>
              {mayAct && (
                <td>
                  <button className="btn tiny" onClick={() => setEnabled(r, !r.enabled)}>
                    {r.enabled ? "Disable" : "Enable"}
                  </button>
                </td>
              )}
            </tr>
          ))}
          {shown.length === 0 && (
            <tr>
              <td colSpan={mayAct ? 9 : 8} className="muted">
                {rules.length ? "No rule matches." : "No detection rules yet."}
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {open && (
        <DetailsPanel title={open.name} facts={`${open.id} · ${open.kind} · version ${open.version} · from ${open.origin}`} onClose={() => setOpen(null)} testId="rule-details">
          {open.description && <p>{open.description}</p>}
          {open.tags.length > 0 && <p className="muted">tags: {open.tags.join(", ")}</p>}
          <SourceView text={open.source ?? ""} testId="rule-source" />
        </DetailsPanel>
      )}
      {mayAct && (
        <form className="upload" onSubmit={upload}>
          <h3>Add or replace a rule</h3>
          <div className="toolbar">
            <input
              aria-label="rule file"
              type="file"
              accept=".eql,.yml,.yaml"
              onChange={async (e) => {
                const f = e.target.files?.[0];
                if (!f) return;
                setFileName(f.name);
                setText(await f.text());
              }}
            />
            <label>
              file name <input aria-label="rule file name" value={fileName} onChange={(e) => setFileName(e.target.value)} size={24} />
            </label>
            <span className="muted">.eql: EQL (id from "// id:" or the file name) · .yml/.yaml: Sigma</span>
          </div>
          <textarea aria-label="rule source" placeholder="or paste an EQL or Sigma rule" rows={8} value={text} onChange={(e) => setText(e.target.value)} />
          <div className="toolbar">
            <button className="btn primary" type="submit">
              Upload rule
            </button>
          </div>
          {uploadError && (
            <>
              <p className="error" role="alert" data-testid="rule-error">
                {uploadError.message}
              </p>
              {pos && uploadError.text && <SourceView text={uploadError.text} line={pos.line} column={pos.column} testId="rule-error-source" />}
            </>
          )}
        </form>
      )}
    </div>
  );
}
