// A small client-side router over the History API (the server answers index.html for any path).
import { useEffect, useState, type ReactNode, type MouseEvent } from "react";

const listeners = new Set<() => void>();

export function navigate(to: string) {
  if (to === location.pathname + location.search) return;
  history.pushState(null, "", to);
  listeners.forEach((l) => l());
}

export function useLocation(): { path: string; search: URLSearchParams } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const l = () => setTick((t) => t + 1);
    listeners.add(l);
    window.addEventListener("popstate", l);
    return () => {
      listeners.delete(l);
      window.removeEventListener("popstate", l);
    };
  }, []);
  return { path: location.pathname, search: new URLSearchParams(location.search) };
}

export function Link(props: { to: string; children: ReactNode; className?: string; title?: string }) {
  const click = (e: MouseEvent) => {
    if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    navigate(props.to);
  };
  return (
    <a href={props.to} onClick={click} className={props.className} title={props.title}>
      {props.children}
    </a>
  );
}

export const processPath = (entityId: string) => `/process/${encodeURIComponent(entityId)}`;
export const hostPath = (hostId: string) => `/hosts/${encodeURIComponent(hostId)}`;
