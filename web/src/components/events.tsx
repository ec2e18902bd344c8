// How the console shows an event in a table row: the usual columns, a one-line summary of what
// happened, and a link to the process tree from any event that names a process.
import type { ReactNode } from "react";
import { Link, processPath } from "../router";
import { cellText, type Column } from "./VirtualTable";

export const EVENT_COLUMNS: Column[] = [
  { key: "@timestamp", label: "Time", width: 180 },
  { key: "host.name", label: "Host", width: 120 },
  { key: "event.category", label: "Category", width: 90 },
  { key: "event.action", label: "Action", width: 90 },
  { key: "process.pid", label: "PID", width: 70 },
  { key: "process.name", label: "Process", width: 120 },
  { key: "summary", label: "Details", width: 420 },
  { key: "tree", label: "Tree", width: 50 },
];

export function summary(e: any): string {
  switch (e["event.category"]) {
    case "process":
      return e["process.command_line"] ?? e["process.executable"] ?? "";
    case "network":
      return `${e["source.ip"] ?? ""}:${e["source.port"] ?? ""} → ${e["destination.ip"] ?? ""}:${e["destination.port"] ?? ""} ${e["network.transport"] ?? ""}`;
    case "dns":
      return `${e["dns.question.name"] ?? ""} ${e["dns.question.type"] ?? ""} ${(e["dns.resolved_ip"] ?? []).join?.(", ") ?? ""}`;
    case "file":
      return `${e["file.path"] ?? ""}${e["file.target_path"] ? " → " + e["file.target_path"] : ""}`;
    case "alert":
      return `${e["rule.name"] ?? ""} ${e["message"] ?? ""}`;
    default:
      return e["message"] ?? e["process.command_line"] ?? "";
  }
}

export function formatTime(v: unknown): string {
  if (typeof v === "string") return v.replace("T", " ").replace("Z", "");
  return cellText(v);
}

export function renderEventCell(e: any, c: Column): ReactNode {
  if (c.key === "summary") return <span title={summary(e)}>{summary(e)}</span>;
  if (c.key === "@timestamp") return formatTime(e["@timestamp"]);
  if (c.key === "tree")
    return e["process.entity_id"] ? (
      <Link to={processPath(e["process.entity_id"])} title="open the process tree" className="treelink">
        tree
      </Link>
    ) : null;
  const v = e[c.key];
  const text = cellText(v);
  return <span title={text}>{text}</span>;
}
