// YARA rule sets kept by the server (GET/POST/DELETE /api/yara): list, versions and sources,
// upload of .yar files or pasted rules (compiled by the server first; its errors are shown as
// origin:line: reason), removal. Analysts and admins change them; the API refuses viewers, who get
// no buttons. Shown on the Rules and the Scans pages.
import { useEffect, useState } from "react";
import { api, canAct, type Session } from "../api";
import { DetailsPanel } from "./DetailsPanel";

export interface RuleSet {
  name: string;
  version: number;
  sha256: string;
  rules: number;
  files: number;
  bytes: number;
  owner: string;
  created: string;
}

// The rule sets with their versions and sources, upload and removal; onSets gets the list each
// time it is loaded (the Scans page offers them to a new scan).
export function YaraSets({ session, onSets }: { session: Session; onSets?: (sets: RuleSet[]) => void }) {
  const [sets, setSets] = useState<RuleSet[]>([]);
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const [name, setName] = useState("");
  const [files, setFiles] = useState<FileList | null>(null);
  const [text, setText] = useState("");
  const [open, setOpen] = useState<any | null>(null);
  const mayAct = canAct(session.role);

  const load = () =>
    api<RuleSet[]>("/api/yara")
      .then((list) => {
        setSets(list);
        onSets?.(list);
      })
      .catch((e) => setError(e.message));
  useEffect(() => {
    load();
  }, []);

  const upload = async (e: React.FormEvent) => {
    e.preventDefault();
    setError("");
    setNotice("");
    const sources: { namespace: string; origin: string; text: string }[] = [];
    for (const f of Array.from(files ?? [])) sources.push({ namespace: "default", origin: f.name, text: await f.text() });
    if (text.trim()) sources.push({ namespace: "default", origin: "pasted", text });
    if (!sources.length) return setError("choose .yar files or paste rules");
    try {
      const r = await api("/api/yara", "POST", { name, sources });
      setNotice(`${r.name} version ${r.version}: ${r.rules} rules${r.warnings?.length ? `; warnings: ${r.warnings.join("; ")}` : ""}`);
      setText("");
      load();
    } catch (err) {
      setError((err as Error).message);
    }
  };

  return (
    <div className="yara-sets">
      {error && (
        <p className="error" role="alert" data-testid="rules-error">
          {error}
        </p>
      )}
      {notice && <p className="muted">{notice}</p>}
      <table className="grid" data-testid="yara-table">
        <thead>
          <tr>
            <th>Name</th>
            <th className="num">Version</th>
            <th className="num">Rules</th>
            <th className="num">Files</th>
            <th>Owner</th>
            <th>Uploaded</th>
            {mayAct && <th></th>}
          </tr>
        </thead>
        <tbody>
          {sets.map((s) => (
            <tr key={s.name}>
              <td>
                <button className="linkish" onClick={() => api(`/api/yara/${encodeURIComponent(s.name)}?sources=1`).then(setOpen).catch((e) => setError(e.message))}>
                  {s.name}
                </button>
              </td>
              <td className="num">{s.version}</td>
              <td className="num">{s.rules}</td>
              <td className="num">{s.files}</td>
              <td>{s.owner}</td>
              <td>{s.created}</td>
              {mayAct && (
                <td>
                  <button
                    className="btn danger"
                    onClick={async () => {
                      if (!confirm(`Remove the YARA rule set ${s.name} (every version)?`)) return;
                      await api("/api/yara/" + encodeURIComponent(s.name), "DELETE").catch((e) => setError(e.message));
                      load();
                    }}
                  >
                    Remove
                  </button>
                </td>
              )}
            </tr>
          ))}
          {sets.length === 0 && (
            <tr>
              <td colSpan={mayAct ? 7 : 6} className="muted">
                No YARA rule sets yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {open && (
        <DetailsPanel title={open.name} facts={`version ${open.version}, sha256 ${open.sha256}`} onClose={() => setOpen(null)}>
          <p className="muted">versions: {open.versions.map((v: RuleSet) => `${v.version} (${v.rules} rules, ${v.owner}, ${v.created})`).join(" · ")}</p>
          {open.sources?.map((s: any, i: number) => (
            <details key={i}>
              <summary>
                {s.namespace}: {s.origin}
              </summary>
              <pre className="mono" style={{ maxHeight: 240, overflow: "auto" }}>
                {s.text}
              </pre>
            </details>
          ))}
        </DetailsPanel>
      )}
      {mayAct && (
        <form className="toolbar" onSubmit={upload} style={{ marginTop: 12, alignItems: "flex-start" }}>
          <h3>Upload a version</h3>
          <input aria-label="rule set name" placeholder="name" value={name} onChange={(e) => setName(e.target.value)} required />
          <input aria-label="rule files" type="file" multiple accept=".yar,.yara,.txt" onChange={(e) => setFiles(e.target.files)} />
          <textarea aria-label="rules text" placeholder="or paste rules" rows={4} cols={50} value={text} onChange={(e) => setText(e.target.value)} />
          <button className="btn primary" type="submit">
            Upload
          </button>
        </form>
      )}
    </div>
  );
}
