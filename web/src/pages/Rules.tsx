// Rules: the server's detection rules (EQL and Sigma), IOC sets and YARA rule sets, one tab each:
// lists, enable/disable, uploads with the server's validation errors shown where they point.
import { useState } from "react";
import { type Session } from "../api";
import { DetectionRules } from "../components/DetectionRules";
import { IocSets } from "../components/IocSets";
import { YaraSets } from "../components/YaraSets";

const TABS: [string, string, string][] = [
  ["detection", "EQL & Sigma", "detection rules the server evaluates live on every event; each match is an alert"],
  ["ioc", "IOC sets", "hashes, IPs/CIDRs and domains matched live; a set raises alerts as rule ioc-NAME"],
  ["yara", "YARA sets", "YARA rule sets for file and memory scans on the hosts"],
];

export function RulesPage({ session }: { session: Session }) {
  const [tab, setTab] = useState(() => new URLSearchParams(location.search).get("tab") ?? "detection");
  const current = TABS.find(([k]) => k === tab) ?? TABS[0];
  return (
    <section>
      <div className="toolbar">
        <h2>Rules</h2>
        <div className="tabs" role="tablist" aria-label="rule kinds">
          {TABS.map(([k, label]) => (
            <button key={k} role="tab" aria-selected={current[0] === k} className={current[0] === k ? "tab active" : "tab"} onClick={() => setTab(k)}>
              {label}
            </button>
          ))}
        </div>
        <span className="muted">{current[2]}</span>
      </div>
      <div role="tabpanel" aria-label={current[1]}>
        {current[0] === "detection" && <DetectionRules session={session} />}
        {current[0] === "ioc" && <IocSets session={session} />}
        {current[0] === "yara" && <YaraSets session={session} />}
      </div>
    </section>
  );
}
