// IOC sets the server matches live (/api/ioc/sets): list with source, kinds, count and expiry;
// a set's indicators; add or replace from pasted text or a file (one indicator a line, # comments,
// like `vigil ioc add-set`), validated by the server, whose 400 names the line; removal. Analysts
// and admins change them; the API refuses viewers, who get no buttons.
import { useEffect, useState } from "react";
import { api, canAct, type Session } from "../api";
import { DetailsPanel } from "./DetailsPanel";
import { SourceView, errorPosition, shortTime } from "./SourceView";

export interface IocSet {
  name: string;
  source: string;
  rule_id: string;
  expires: string;
  expired: boolean;
  created: string;
  sha256: string[];
  ips: string[];
  domains: string[];
}

const count = (s: IocSet) => s.sha256.length + s.ips.length + s.domains.length;
const kinds = (s: IocSet) =>
  [
    [s.sha256.length, "sha256"],
    [s.ips.length, "ip/cidr"],
    [s.domains.length, "domain"],
  ]
    .filter(([n]) => n)
    .map(([n, k]) => `${k} ${n}`)
    .join(", ");

// One indicator a line with # comments cut; empty lines stay so the server's indicators[N] is line N.
const indicatorLines = (text: string) => text.split("\n").map((l) => l.replace(/#.*/, "").trim());

export function IocSets({ session }: { session: Session }) {
  const [sets, setSets] = useState<IocSet[]>([]);
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");
  const [open, setOpen] = useState<IocSet | null>(null);
  const [name, setName] = useState("");
  const [source, setSource] = useState("");
  const [expires, setExpires] = useState("");
  const [text, setText] = useState("");
  const [uploadError, setUploadError] = useState<{ message: string; text: string } | null>(null);
  const mayAct = canAct(session.role);

  const load = () =>
    api<IocSet[]>("/api/ioc/sets")
      .then(setSets)
      .catch((e) => setError(e.message));
  useEffect(() => {
    load();
  }, []);

  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setUploadError(null);
    setNotice("");
    try {
      const r = await api("/api/ioc/sets", "POST", { name, source, expires, indicators: indicatorLines(text) });
      setNotice(`IOC set ${r.name}: ${r.sha256} sha256, ${r.ips} IPs/CIDRs, ${r.domains} domains; alerts as rule ${r.rule_id}`);
      setText("");
      load();
    } catch (err) {
      setUploadError({ message: (err as Error).message, text });
    }
  };

  const remove = async (s: IocSet) => {
    if (!confirm(`Remove the IOC set ${s.name}? Its indicators stop raising alerts.`)) return;
    setError("");
    await api("/api/ioc/sets/" + encodeURIComponent(s.name), "DELETE")
      .then(() => setNotice(`IOC set ${s.name} removed`))
      .catch((e) => setError(e.message));
    if (open?.name === s.name) setOpen(null);
    load();
  };

  const pos = uploadError ? errorPosition(uploadError.message) : null;
  const indicators = (s: IocSet) => [...s.sha256, ...s.ips, ...s.domains].join("\n");
  return (
    <div className="ioc-sets">
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {notice && (
        <p className="muted" data-testid="ioc-notice">
          {notice}
        </p>
      )}
      <table className="grid" data-testid="ioc-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Source</th>
            <th>Kinds</th>
            <th className="num">Indicators</th>
            <th>Expires</th>
            <th>Rule</th>
            <th>Added</th>
            {mayAct && <th></th>}
          </tr>
        </thead>
        <tbody>
          {sets.map((s) => (
            <tr key={s.name} data-set={s.name} className={open?.name === s.name ? "selected" : ""}>
              <td>
                <button className="linkish" title="show the indicators" onClick={() => setOpen(s)}>
                  {s.name}
                </button>
              </td>
              <td className="wrap">{s.source}</td>
              <td>{kinds(s)}</td>
              <td className="num">{count(s)}</td>
              <td className={s.expired ? "warn" : ""} title={s.expires}>
                {s.expires ? (s.expired ? "expired " : "") + shortTime(s.expires) : "never"}
              </td>
              <td>{s.rule_id}</td>
              <td title={s.created}>{shortTime(s.created)}</td>
              {mayAct && (
                <td>
                  <button
                    className="btn tiny"
                    onClick={() => {
                      setName(s.name);
                      setSource(s.source);
                      setText(indicators(s) + "\n");
                    }}
                  >
                    Replace…
                  </button>{" "}
                  <button className="btn tiny danger" onClick={() => remove(s)}>
                    Remove
                  </button>
                </td>
              )}
            </tr>
          ))}
          {sets.length === 0 && (
            <tr>
              <td colSpan={mayAct ? 8 : 7} className="muted">
                No IOC sets yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      {open && (
        <DetailsPanel title={open.name} facts={`${open.source} · ${kinds(open)}`} onClose={() => setOpen(null)} testId="ioc-details">
          <SourceView text={indicators(open)} />
        </DetailsPanel>
      )}
      {mayAct && (
        <form className="upload" onSubmit={submit}>
          <h3>Add or replace a set</h3>
          <div className="toolbar">
            <input aria-label="IOC set name" placeholder="name" value={name} onChange={(e) => setName(e.target.value)} required />
            <input aria-label="IOC set source" placeholder="source (feed, report)" value={source} onChange={(e) => setSource(e.target.value)} />
            <input aria-label="IOC set expires" placeholder="expires: 30d or RFC 3339 (optional)" value={expires} onChange={(e) => setExpires(e.target.value)} size={28} />
            <input
              aria-label="IOC file"
              type="file"
              accept=".txt,.csv,.ioc,text/plain"
              onChange={async (e) => {
                const f = e.target.files?.[0];
                if (f) setText(await f.text());
              }}
            />
          </div>
          <textarea
            aria-label="indicators"
            placeholder="one SHA-256, IP, CIDR or domain (also matches its subdomains) a line; # comments. A set of an existing name is replaced."
            rows={6}
            value={text}
            onChange={(e) => setText(e.target.value)}
          />
          <div className="toolbar">
            <button className="btn primary" type="submit">
              Save IOC set
            </button>
          </div>
          {uploadError && (
            <>
              <p className="error" role="alert" data-testid="ioc-error">
                {uploadError.message}
              </p>
              {pos && uploadError.text && <SourceView text={uploadError.text} line={pos.line} testId="ioc-error-source" />}
            </>
          )}
        </form>
      )}
    </div>
  );
}
