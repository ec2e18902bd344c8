// Confirmation for a response action (POST /api/actions, or the request's own `send`, e.g. a
// scan): says exactly what will happen to which host, requires a reason (it goes to the audit
// log), and shows the server's answer or refusal.
import { useEffect, useRef, useState } from "react";
import { api } from "../api";

export interface ActionRequest {
  type: string;
  hosts: string[];
  params: Record<string, unknown>;
  what: string; // one sentence for the person confirming
  send?: (reason: string) => Promise<any>; // instead of POST /api/actions
  describe?: (result: any) => string; // the answer, for the person who confirmed
}

export function ActionDialog({ request, onClose }: { request: ActionRequest; onClose: (done: boolean, result?: any) => void }) {
  const [reason, setReason] = useState("");
  const [error, setError] = useState("");
  const [result, setResult] = useState<any>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLTextAreaElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <div className="modal-backdrop" onKeyDown={(e) => e.key === "Escape" && onClose(!!result, result)}>
      <form
        className="modal"
        role="dialog"
        aria-modal="true"
        aria-label={"confirm " + request.type}
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError("");
          try {
            setResult(
              request.send
                ? await request.send(reason)
                : await api("/api/actions", "POST", { type: request.type, hosts: request.hosts, params: request.params, reason }),
            );
          } catch (err) {
            setError((err as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h3>Confirm: {request.type}</h3>
        <p>{request.what}</p>
        <p className="muted">
          hosts: {request.hosts.join(", ")} · parameters: <span className="mono">{JSON.stringify(request.params)}</span>
        </p>
        {!result && (
          <label>
            Reason (recorded in the audit log)
            <textarea ref={input} aria-label="reason" value={reason} onChange={(e) => setReason(e.target.value)} rows={3} required />
          </label>
        )}
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        {result && (
          <p data-testid="action-result">
            {request.describe
              ? request.describe(result)
              : `Action ${result.id} recorded (${result.status})${result.offline?.length ? `; offline, queued for: ${result.offline.join(", ")}` : ""}.`}
          </p>
        )}
        <div className="toolbar">
          {!result && (
            <button className="btn danger" type="submit" disabled={busy || !reason.trim()}>
              {busy ? "Sending…" : "Confirm " + request.type}
            </button>
          )}
          <button className="btn" type="button" onClick={() => onClose(!!result, result)}>
            {result ? "Close" : "Cancel"}
          </button>
        </div>
      </form>
    </div>
  );
}
