// Process tree: the ancestry and descendants of one process (GET /api/process/tree), expanded on
// demand (depth=1 from any node), with the selected node's details and its network, DNS, file and
// alert events (GET /api/process/activity). Keyboard: arrows move, Right/Left expand/collapse.
import { useEffect, useMemo, useRef, useState } from "react";
import { api, canAct, type Session } from "../api";
import { ActionDialog, type ActionRequest } from "../components/ActionDialog";
import { formatTime, summary } from "../components/events";
import { Link, processPath } from "../router";

interface Node {
  entity_id: string;
  parent_entity_id?: string | null;
  known: boolean;
  pid?: number;
  name?: string;
  executable?: string;
  command_line?: string;
  user?: string;
  user_id?: string;
  sha256?: string;
  start?: string;
  end?: string;
  exit_code?: number;
  host?: string;
  working_directory?: string;
  child_count: number | null;
  expanded?: boolean;
  counts: Record<string, number>;
}

declare global {
  interface Window {
    __vigilTree?: { nodes: number; ms: number };
  }
}

const ACTIVITY = ["network", "dns", "file", "alert", "process"];

export function ProcessPage({ entityId, session }: { entityId: string; session: Session }) {
  const [request, setRequest] = useState<ActionRequest | null>(null);
  const mayAct = canAct(session.role);
  const [nodes, setNodes] = useState<Map<string, Node>>(new Map());
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const [rootId, setRootId] = useState("");
  const [selected, setSelected] = useState(entityId);
  const [error, setError] = useState("");
  const [truncated, setTruncated] = useState(false);
  const [tab, setTab] = useState("network");
  const [activity, setActivity] = useState<any[] | null>(null);
  const treeRef = useRef<HTMLDivElement>(null);

  const merge = (list: Node[], open: string[]) => {
    setNodes((old) => {
      const next = new Map(old);
      for (const n of list) next.set(n.entity_id, { ...next.get(n.entity_id), ...n });
      return next;
    });
    setExpanded((old) => new Set([...old, ...open]));
  };

  useEffect(() => {
    const started = performance.now();
    setNodes(new Map());
    setExpanded(new Set());
    setError("");
    setSelected(entityId);
    api(`/api/process/tree?entity_id=${encodeURIComponent(entityId)}&ancestors=1&depth=64&max=5000`)
      .then((t) => {
        const list: Node[] = t.nodes;
        setRootId(list[0]?.entity_id ?? entityId);
        setTruncated(t.truncated);
        // The ancestors are open along the path; the focus's subtree as deep as it came.
        const open = list.filter((n) => n.child_count === null || n.expanded).map((n) => n.entity_id);
        merge(list, open);
        requestAnimationFrame(() => {
          window.__vigilTree = { nodes: list.length, ms: performance.now() - started };
        });
      })
      .catch((e) => setError(e.message));
  }, [entityId]);

  const children = useMemo(() => {
    const map = new Map<string, string[]>();
    for (const n of nodes.values()) {
      if (!n.parent_entity_id || !nodes.has(n.parent_entity_id)) continue;
      const list = map.get(n.parent_entity_id) ?? [];
      list.push(n.entity_id);
      map.set(n.parent_entity_id, list);
    }
    return map;
  }, [nodes]);

  // The rows in display order: depth-first from the root through expanded nodes.
  const rows = useMemo(() => {
    const out: { id: string; depth: number }[] = [];
    const seen = new Set<string>();
    const walk = (id: string, depth: number) => {
      if (seen.has(id) || !nodes.has(id)) return;
      seen.add(id);
      out.push({ id, depth });
      if (expanded.has(id)) for (const c of children.get(id) ?? []) walk(c, depth + 1);
    };
    walk(rootId, 0);
    return out;
  }, [nodes, children, expanded, rootId]);

  const toggle = async (id: string, open?: boolean) => {
    const n = nodes.get(id);
    if (!n) return;
    const isOpen = expanded.has(id);
    const want = open ?? !isOpen;
    if (!want) {
      setExpanded((old) => {
        const s = new Set(old);
        s.delete(id);
        return s;
      });
      return;
    }
    const loaded = (children.get(id)?.length ?? 0) >= (n.child_count ?? Infinity);
    if (!loaded) {
      try {
        const t = await api(`/api/process/tree?entity_id=${encodeURIComponent(id)}&ancestors=0&depth=1`);
        merge(t.nodes, [id]);
        return;
      } catch (e) {
        setError((e as Error).message);
      }
    }
    setExpanded((old) => new Set([...old, id]));
  };

  useEffect(() => {
    setActivity(null);
    if (!selected) return;
    api(`/api/process/activity?entity_id=${encodeURIComponent(selected)}&category=${tab}&limit=200`)
      .then((r) => setActivity(r.events))
      .catch((e) => setError(e.message));
  }, [selected, tab]);

  const onKey = (e: React.KeyboardEvent) => {
    const i = rows.findIndex((r) => r.id === selected);
    if (e.key === "ArrowDown" && i + 1 < rows.length) setSelected(rows[i + 1].id);
    else if (e.key === "ArrowUp" && i > 0) setSelected(rows[i - 1].id);
    else if (e.key === "ArrowRight") toggle(selected, true);
    else if (e.key === "ArrowLeft") toggle(selected, false);
    else return;
    e.preventDefault();
  };

  const node = nodes.get(selected);
  return (
    <section className="process fill">
      <div className="toolbar">
        <h2>Process tree</h2>
        <span className="muted" data-testid="tree-summary">
          {nodes.size} processes{truncated ? " (cut at 5,000: expand nodes to see more)" : ""}
        </span>
      </div>
      {error && <p className="error">{error}</p>}
      <div className="process-body">
        <div className="tree" role="tree" aria-label="process tree" tabIndex={0} onKeyDown={onKey} ref={treeRef} data-testid="process-tree">
          {rows.map(({ id, depth }) => {
            const n = nodes.get(id)!;
            const canOpen = n.child_count === null || n.child_count > 0;
            return (
              <div
                key={id}
                role="treeitem"
                aria-level={depth + 1}
                aria-expanded={canOpen ? expanded.has(id) : undefined}
                aria-selected={id === selected}
                className={"tnode" + (id === selected ? " selected" : "") + (id === entityId ? " focus" : "") + (n.known ? "" : " unknown")}
                style={{ paddingLeft: 8 + depth * 16 }}
                onClick={() => setSelected(id)}
                data-entity={id}
              >
                <button className="twisty" tabIndex={-1} aria-label={expanded.has(id) ? "collapse" : "expand"} onClick={() => toggle(id)} disabled={!canOpen}>
                  {canOpen ? (expanded.has(id) ? "▾" : "▸") : "·"}
                </button>
                <span className="pname">{n.name ?? "(not recorded)"}</span>
                <span className="ppid">{n.pid ?? ""}</span>
                <span className="pcmd" title={n.command_line ?? ""}>
                  {n.command_line ?? ""}
                </span>
                {n.child_count ? <span className="pill">{n.child_count}</span> : null}
                {(n.counts?.alert ?? 0) > 0 && <span className="pill alert">{n.counts.alert} alerts</span>}
              </div>
            );
          })}
        </div>
        {node && (
          <aside className="details" aria-label="process details" data-testid="process-details">
            <h3>
              {node.name ?? "unknown process"} <span className="muted">pid {node.pid ?? "?"}</span>
            </h3>
            <dl>
              <dt>command line</dt>
              <dd className="mono">{node.command_line ?? "—"}</dd>
              <dt>executable</dt>
              <dd className="mono">{node.executable ?? "—"}</dd>
              <dt>user</dt>
              <dd>
                {node.user ?? "—"} {node.user_id ? `(${node.user_id})` : ""}
              </dd>
              <dt>sha256</dt>
              <dd className="mono">{node.sha256 ?? "—"}</dd>
              <dt>host</dt>
              <dd>{node.host ?? "—"}</dd>
              <dt>started</dt>
              <dd>{formatTime(node.start)}</dd>
              <dt>ended</dt>
              <dd>{node.end ? `${formatTime(node.end)} (exit ${node.exit_code ?? "?"})` : "running or unknown"}</dd>
              <dt>entity id</dt>
              <dd className="mono">
                <Link to={processPath(node.entity_id)}>{node.entity_id}</Link>
              </dd>
            </dl>
            {mayAct && node.known && node.host && (
              <div className="actions-bar" aria-label="response actions">
                <button
                  className="btn danger"
                  onClick={() =>
                    setRequest({
                      type: "kill",
                      hosts: [node.host!],
                      params: { entity_id: node.entity_id, tree: false },
                      what: `Kill ${node.name} (pid ${node.pid}) on ${node.host}.`,
                    })
                  }
                >
                  Kill process
                </button>
                <button
                  className="btn danger"
                  onClick={() =>
                    setRequest({
                      type: "kill",
                      hosts: [node.host!],
                      params: { entity_id: node.entity_id, tree: true },
                      what: `Kill ${node.name} (pid ${node.pid}) and all its descendants on ${node.host}.`,
                    })
                  }
                >
                  Kill tree
                </button>
                {node.sha256 && (
                  <button
                    className="btn danger"
                    onClick={() =>
                      setRequest({
                        type: "block-hash",
                        hosts: [node.host!],
                        params: { sha256: [node.sha256] },
                        what: `Block execution of ${node.executable ?? node.name} (sha256 ${node.sha256}) on ${node.host}.`,
                      })
                    }
                  >
                    Block hash
                  </button>
                )}
              </div>
            )}
            <div className="tabs" role="tablist">
              {ACTIVITY.map((t) => (
                <button key={t} role="tab" aria-selected={tab === t} className={tab === t ? "tab active" : "tab"} onClick={() => setTab(t)}>
                  {t} {t !== "process" && node.counts ? `(${node.counts[t] ?? 0})` : ""}
                </button>
              ))}
            </div>
            <ul className="activity">
              {activity === null && <li className="muted">loading…</li>}
              {activity?.length === 0 && <li className="muted">none</li>}
              {activity?.map((e, i) => (
                <li key={i}>
                  <span className="muted">{formatTime(e["@timestamp"])}</span> {e["event.action"]} <span className="mono">{summary(e)}</span>
                  {mayAct && tab === "file" && e["file.path"] && e["host.name"] && (
                    <button
                      className="btn tiny"
                      onClick={() =>
                        setRequest({
                          type: "quarantine",
                          hosts: [e["host.name"]],
                          params: { path: e["file.path"] },
                          what: `Move ${e["file.path"]} on ${e["host.name"]} into quarantine.`,
                        })
                      }
                    >
                      quarantine
                    </button>
                  )}
                </li>
              ))}
            </ul>
          </aside>
        )}
      </div>
      {request && <ActionDialog request={request} onClose={() => setRequest(null)} />}
    </section>
  );
}
