// The console's client of the Vigil API: same origin, session cookie, and the session's CSRF token
// in X-CSRF-Token on every request that changes something.

export type Role = "viewer" | "analyst" | "admin";
export interface Session {
  user: string;
  role: Role;
  csrf?: string;
}

let csrf = "";
let onUnauthorized: () => void = () => {};

export function setCsrf(token: string) {
  csrf = token;
}
export function setUnauthorizedHandler(f: () => void) {
  onUnauthorized = f;
}

export class ApiError extends Error {
  status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

async function send(path: string, method: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (!res.ok) {
    let message = `HTTP ${res.status}`;
    try {
      const j = await res.json();
      if (j && typeof j.error === "string") message = j.error;
    } catch {
      /* not JSON */
    }
    if (res.status === 401 && path !== "/api/login") onUnauthorized();
    throw new ApiError(message, res.status);
  }
  return res;
}

export async function api<T = any>(path: string, method = "GET", body?: unknown): Promise<T> {
  const res = await send(path, method, body);
  return (await res.json()) as T;
}

// JSON Lines answers (events, hunts), parsed as they arrive; onRows gets each chunk of rows.
export async function apiLines(
  path: string,
  method: string,
  body: unknown,
  onRows: (rows: any[]) => void,
  signal?: AbortSignal,
): Promise<void> {
  const headers: Record<string, string> = { "X-CSRF-Token": csrf };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    signal,
  });
  if (!res.ok) {
    let message = `HTTP ${res.status}`;
    try {
      const j = await res.json();
      if (j && typeof j.error === "string") message = j.error;
    } catch {
      /* not JSON */
    }
    if (res.status === 401) onUnauthorized();
    throw new ApiError(message, res.status);
  }
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let rest = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    rest += decoder.decode(value, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop() ?? "";
    const rows: any[] = [];
    for (const line of lines) if (line.trim()) rows.push(JSON.parse(line));
    if (rows.length) onRows(rows);
  }
  if (rest.trim()) onRows([JSON.parse(rest)]);
}

export async function login(user: string, password: string): Promise<Session> {
  const s = await api<Session>("/api/login", "POST", { user, password });
  setCsrf(s.csrf ?? "");
  return s;
}

export async function currentSession(): Promise<Session | null> {
  try {
    const s = await api<Session>("/api/session");
    setCsrf(s.csrf ?? "");
    return s;
  } catch {
    return null;
  }
}

export async function logout(): Promise<void> {
  try {
    await api("/api/logout", "POST", {});
  } finally {
    setCsrf("");
  }
}

export const canAct = (role: Role | undefined) => role === "analyst" || role === "admin";
