// Users (admins only; the API refuses everyone else): add, change role, reset password, remove.
import { useEffect, useState } from "react";
import { api, type Session } from "../api";

interface User {
  name: string;
  role: string;
  created: string;
  last_login: string;
}

export function UsersPage({ session }: { session: Session }) {
  const [users, setUsers] = useState<User[]>([]);
  const [error, setError] = useState("");
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState("viewer");
  const load = () => api<User[]>("/api/users").then(setUsers).catch((e) => setError(e.message));
  useEffect(() => {
    load();
  }, []);
  const act = async (f: () => Promise<unknown>) => {
    setError("");
    try {
      await f();
    } catch (e) {
      setError((e as Error).message);
    }
    load();
  };
  return (
    <section>
      <h2>Users</h2>
      {error && <p className="error" role="alert">{error}</p>}
      <table className="grid">
        <thead>
          <tr>
            <th>Name</th>
            <th>Role</th>
            <th>Created</th>
            <th>Last login</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          {users.map((u) => (
            <tr key={u.name}>
              <td>{u.name}</td>
              <td>
                <select
                  aria-label={"role of " + u.name}
                  value={u.role}
                  onChange={(e) => act(() => api("/api/users/" + encodeURIComponent(u.name), "PUT", { role: e.target.value }))}
                >
                  <option>viewer</option>
                  <option>analyst</option>
                  <option>admin</option>
                </select>
              </td>
              <td>{u.created}</td>
              <td>{u.last_login || "never"}</td>
              <td>
                <button
                  className="btn"
                  onClick={() => {
                    const p = prompt(`New password for ${u.name} (at least 8 characters):`);
                    if (p) act(() => api("/api/users/" + encodeURIComponent(u.name), "PUT", { password: p }));
                  }}
                >
                  Set password
                </button>{" "}
                <button
                  className="btn danger"
                  disabled={u.name === session.user}
                  onClick={() => confirm(`Remove ${u.name}? Their sessions end now.`) && act(() => api("/api/users/" + encodeURIComponent(u.name), "DELETE"))}
                >
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form
        className="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          act(async () => {
            await api("/api/users", "POST", { name, password, role });
            setName("");
            setPassword("");
          });
        }}
      >
        <h3>Add a user</h3>
        <input aria-label="new user name" placeholder="name" value={name} onChange={(e) => setName(e.target.value)} required />
        <input aria-label="new user password" placeholder="password (8+)" type="password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        <select aria-label="new user role" value={role} onChange={(e) => setRole(e.target.value)}>
          <option>viewer</option>
          <option>analyst</option>
          <option>admin</option>
        </select>
        <button className="btn primary" type="submit">
          Add
        </button>
      </form>
    </section>
  );
}
