// Rules: the server's YARA rule sets (components/YaraSets.tsx). EQL and Sigma detection rules
// appear here once their page exists.
import { type Session } from "../api";
import { YaraSets } from "../components/YaraSets";

export function RulesPage({ session }: { session: Session }) {
  return (
    <section>
      <div className="toolbar">
        <h2>Rules</h2>
        <span className="muted">YARA rule sets kept by the server (EQL and Sigma detection rules appear here once their API exists)</span>
      </div>
      <YaraSets session={session} />
    </section>
  );
}
