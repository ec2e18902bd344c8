// Hunt: EQL with highlighting, field completion from /api/schema and errors at their line:column;
// results streamed from POST /api/hunt into a virtualised table with column picking, sorting and
// CSV/JSON export; sequences show as grouped rows; saved hunts on the side.
import { useEffect, useMemo, useRef, useState } from "react";
import { api, apiLines, canAct, type Session } from "../api";
import { EqlEditor } from "../components/EqlEditor";
import { VirtualTable, cellText, type Column } from "../components/VirtualTable";
import { renderEventCell } from "../components/events";
import { errorPosition } from "../eql";
import { navigate, processPath } from "../router";

interface Saved {
  name: string;
  query: string;
  description: string;
  owner: string;
}

const DEFAULT_COLUMNS = ["@timestamp", "host.name", "event.category", "event.action", "process.pid", "process.name", "process.command_line", "process.entity_id"];
const WIDTH: Record<string, number> = { "@timestamp": 180, "process.command_line": 360, "process.entity_id": 200, "__seq": 60 };

function download(name: string, type: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function csvCell(v: unknown): string {
  const s = cellText(v);
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

declare global {
  interface Window {
    __vigilHunt?: { rows: number; done: boolean; ms: number };
  }
}

export function HuntPage({ session }: { session: Session }) {
  const [query, setQuery] = useState(() => localStorage.getItem("vigil.hunt.query") ?? 'process where event.action == "exec"');
  const [since, setSince] = useState("24h");
  const [limit, setLimit] = useState(1000);
  const [fields, setFields] = useState<{ name: string; type: string; doc: string }[]>([]);
  const [rows, setRows] = useState<any[]>([]);
  const [error, setError] = useState("");
  const [running, setRunning] = useState(false);
  const [info, setInfo] = useState("");
  const [columns, setColumns] = useState<string[]>(DEFAULT_COLUMNS);
  const [picking, setPicking] = useState(false);
  const [sort, setSort] = useState<{ key: string; desc: boolean } | undefined>();
  const [saved, setSaved] = useState<Saved[]>([]);
  const abort = useRef<AbortController | null>(null);

  useEffect(() => {
    api("/api/schema").then((s) => setFields(s.fields)).catch(() => {});
    loadSaved();
  }, []);
  useEffect(() => localStorage.setItem("vigil.hunt.query", query), [query]);

  const loadSaved = () => api<Saved[]>("/api/hunts").then(setSaved).catch(() => {});

  const run = async (text = query) => {
    abort.current?.abort();
    const controller = new AbortController();
    abort.current = controller;
    setRunning(true);
    setError("");
    setInfo("");
    setRows([]);
    setSort(undefined);
    const started = performance.now();
    window.__vigilHunt = { rows: 0, done: false, ms: 0 };
    const all: any[] = [];
    let truncated = false;
    let group = 0;
    try {
      await apiLines(
        "/api/hunt",
        "POST",
        { query: text, since, limit },
        (chunk) => {
          for (const r of chunk) {
            if (r.truncated) truncated = true;
            else if (r.error && Object.keys(r).length === 1) throw new Error(r.error);
            else if (Array.isArray(r.sequence) || Array.isArray(r.sample)) {
              ++group;
              const events = r.sequence ?? r.sample;
              all.push({ __group: group, __header: true, __size: events.length });
              events.forEach((e: any, i: number) => all.push({ ...e, __group: group, __seq: `${group}.${i + 1}` }));
            } else all.push(r);
          }
          setRows(all.slice());
          window.__vigilHunt!.rows = all.length;
        },
        controller.signal,
      );
      const ms = performance.now() - started;
      window.__vigilHunt = { rows: all.length, done: true, ms };
      const resultCount = group ? `${group} ${all.some((r) => r.__seq) ? "groups" : ""}` : `${all.length} rows`;
      setInfo(`${resultCount} in ${(ms / 1000).toFixed(2)} s${truncated ? ` (cut at the limit of ${limit})` : ""}`);
      // Columns: keep the chosen ones that exist; count rows get their own keys.
      if (all.length && !all.some((r) => "@timestamp" in r)) setColumns(Object.keys(all[0]).filter((k) => !k.startsWith("__")));
      else if (group) setColumns((c) => (c.includes("__seq") ? c : ["__seq", ...c]));
      else setColumns((c) => c.filter((k) => k !== "__seq"));
    } catch (e) {
      if ((e as Error).name !== "AbortError") setError((e as Error).message);
      window.__vigilHunt = { rows: all.length, done: true, ms: performance.now() - started };
    } finally {
      setRunning(false);
    }
  };

  const allKeys = useMemo(() => {
    const keys = new Set<string>(columns);
    for (const r of rows.slice(0, 2000)) for (const k of Object.keys(r)) if (!k.startsWith("__")) keys.add(k);
    return [...keys].sort();
  }, [rows, columns]);

  const sorted = useMemo(() => {
    if (!sort || rows.some((r) => r.__group)) return rows;
    const dir = sort.desc ? -1 : 1;
    return rows.slice().sort((a, b) => {
      const x = a[sort.key], y = b[sort.key];
      if (x === y) return 0;
      if (x === undefined || x === null) return 1;
      if (y === undefined || y === null) return -1;
      return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * dir;
    });
  }, [rows, sort]);

  const tableColumns: Column[] = columns.map((k) => ({ key: k, label: k === "__seq" ? "#" : k, width: WIDTH[k] ?? 130 }));
  const exportRows = () => rows.filter((r) => !r.__header);
  const position = error ? errorPosition(error) : null;
  const mayAct = canAct(session.role);

  return (
    <section className="hunt fill">
      <div className="hunt-top">
        <div className="hunt-editor">
          <EqlEditor value={query} onChange={setQuery} onRun={() => run()} fields={fields} error={position} />
          <div className="toolbar">
            <button className="btn primary" onClick={() => run()} disabled={running}>
              {running ? "Running…" : "Run (Ctrl+Enter)"}
            </button>
            <label>
              since <input aria-label="since" value={since} onChange={(e) => setSince(e.target.value)} size={6} />
            </label>
            <label>
              limit{" "}
              <input aria-label="limit" type="number" value={limit} min={1} onChange={(e) => setLimit(Number(e.target.value))} style={{ width: 90 }} />
            </label>
            <button className="btn" onClick={() => setPicking((p) => !p)} aria-expanded={picking}>
              Columns
            </button>
            <button className="btn" disabled={!rows.length} onClick={() => download("hunt.json", "application/json", exportRows().map((r) => JSON.stringify(r)).join("\n") + "\n")}>
              Export JSON
            </button>
            <button
              className="btn"
              disabled={!rows.length}
              onClick={() =>
                download(
                  "hunt.csv",
                  "text/csv",
                  [columns.join(","), ...exportRows().map((r) => columns.map((k) => csvCell(r[k])).join(","))].join("\n") + "\n",
                )
              }
            >
              Export CSV
            </button>
            <button
              className="btn"
              disabled={!mayAct}
              title={mayAct ? "save this query by name" : "viewers cannot save hunts"}
              onClick={async () => {
                const name = prompt("Save the hunt as (letters, digits, . _ -):");
                if (!name) return;
                try {
                  await api("/api/hunts", "POST", { name, query, description: "" });
                  loadSaved();
                } catch (e) {
                  setError((e as Error).message);
                }
              }}
            >
              Save
            </button>
            <span className="muted" data-testid="hunt-info">
              {info}
            </span>
          </div>
          {error && (
            <p className="error" role="alert" data-testid="hunt-error">
              {position ? `line ${position.line}, column ${position.column}: ${position.text}` : error}
            </p>
          )}
        </div>
        <aside className="saved" aria-label="saved hunts">
          <h3>Saved hunts</h3>
          {saved.length === 0 && <p className="muted">none yet</p>}
          <ul>
            {saved.map((h) => (
              <li key={h.name}>
                <button
                  className="linkish"
                  title={h.query}
                  onClick={() => {
                    setQuery(h.query);
                    run(h.query);
                  }}
                >
                  {h.name}
                </button>
                <span className="muted"> {h.owner}</span>
                {mayAct && (
                  <button
                    className="btn tiny"
                    aria-label={"delete " + h.name}
                    onClick={async () => {
                      if (!confirm(`Delete the saved hunt ${h.name}?`)) return;
                      await api("/api/hunts/" + encodeURIComponent(h.name), "DELETE").catch((e) => setError(e.message));
                      loadSaved();
                    }}
                  >
                    ×
                  </button>
                )}
              </li>
            ))}
          </ul>
        </aside>
      </div>
      {picking && (
        <fieldset className="picker">
          <legend>Columns</legend>
          {allKeys.map((k) => (
            <label key={k}>
              <input
                type="checkbox"
                checked={columns.includes(k)}
                onChange={(e) => setColumns((c) => (e.target.checked ? [...c, k] : c.filter((x) => x !== k)))}
              />
              {k}
            </label>
          ))}
        </fieldset>
      )}
      <VirtualTable
        label="hunt results"
        testId="hunt-table"
        columns={tableColumns}
        rows={sorted}
        sort={sort}
        onSort={(key) => setSort((s) => (s && s.key === key ? { key, desc: !s.desc } : { key, desc: false }))}
        rowClass={(r) => (r.__header ? "group-header" : r.__group ? "group-" + (r.__group % 2) : "")}
        renderCell={(r, c) => {
          if (r.__header) return c === tableColumns[0] ? <b>{`sequence ${r.__group} (${r.__size} events)`}</b> : null;
          if (c.key === "process.entity_id" && r[c.key])
            return (
              <a
                href={processPath(r[c.key])}
                onClick={(e) => {
                  e.preventDefault();
                  navigate(processPath(r[c.key]));
                }}
              >
                {r[c.key]}
              </a>
            );
          return renderEventCell(r, c);
        }}
        onOpen={(r) => r["process.entity_id"] && navigate(processPath(r["process.entity_id"]))}
      />
    </section>
  );
}
