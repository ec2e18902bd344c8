// The Vigil console: login, then the fleet, live events, hunting, process trees, alerts, scans,
// response and rules.
import { StrictMode, useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { currentSession, logout, setUnauthorizedHandler, type Session } from "./api";
import { Link, navigate, useLocation } from "./router";
import { LoginPage } from "./pages/Login";
import { FleetPage } from "./pages/Fleet";
import { HostPage } from "./pages/Host";
import { LivePage } from "./pages/Live";
import { HuntPage } from "./pages/Hunt";
import { ProcessPage } from "./pages/Process";
import { UsersPage } from "./pages/Users";
import { RulesPage } from "./pages/Rules";
import { AlertsPage } from "./pages/Alerts";
import { ResponsePage } from "./pages/Response";
import { ScansPage } from "./pages/Scans";
import "./styles.css";

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const { path, search } = useLocation();

  useEffect(() => {
    setUnauthorizedHandler(() => setSession(null));
    currentSession().then(setSession);
  }, []);

  if (session === undefined) return <div className="loading">Loading…</div>;
  if (session === null)
    return (
      <LoginPage
        onLogin={(s) => {
          setSession(s);
          if (path === "/login") navigate("/");
        }}
      />
    );

  let page;
  let m: RegExpExecArray | null;
  if ((m = /^\/hosts\/([^/]+)$/.exec(path))) page = <HostPage hostId={decodeURIComponent(m[1])} session={session} />;
  else if (path === "/live") page = <LivePage />;
  else if (path === "/hunt") page = <HuntPage session={session} />;
  else if ((m = /^\/process\/([^/]+)$/.exec(path))) page = <ProcessPage entityId={decodeURIComponent(m[1])} session={session} />;
  else if (path === "/users") page = <UsersPage session={session} />;
  else if (path === "/rules") page = <RulesPage session={session} />;
  else if (path === "/alerts") page = <AlertsPage session={session} />;
  else if (path === "/response") page = <ResponsePage session={session} />;
  else if (path === "/scans") page = <ScansPage session={session} job={Number(search.get("job")) || null} />;
  else page = <FleetPage />;

  const nav = [
    ["/", "Fleet"],
    ["/live", "Live events"],
    ["/hunt", "Hunt"],
    ["/alerts", "Alerts"],
    ["/scans", "Scans"],
    ["/response", "Response"],
    ["/rules", "Rules"],
    ...(session.role === "admin" ? [["/users", "Users"]] : []),
  ];
  const active = (to: string) => (to === "/" ? path === "/" || path.startsWith("/hosts") : path.startsWith(to));
  return (
    <div className="app">
      <header className="topbar">
        <span className="brand">Vigil</span>
        <nav aria-label="main">
          {nav.map(([to, label]) => (
            <Link key={to} to={to} className={active(to) ? "nav active" : "nav"}>
              {label}
            </Link>
          ))}
        </nav>
        <span className="who" data-testid="who">
          {session.user} <span className={"role role-" + session.role}>{session.role}</span>
        </span>
        <button
          className="btn"
          onClick={async () => {
            await logout();
            setSession(null);
            navigate("/");
          }}
        >
          Log out
        </button>
      </header>
      <main className="page">{page}</main>
    </div>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
