// Console login and users: POST /api/login, POST /api/logout, GET /api/session, and the admin-only
// /api/users routes. Sessions travel in an HttpOnly, Secure, SameSite=Strict cookie; the page gets
// the session's CSRF token in the login answer (and from /api/session) and sends it back in
// X-CSRF-Token on every request that changes something (checked in ApiServer::Routes). Failed
// logins are throttled per source address and user name (429 with Retry-After; login_limiter.hpp).
#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "server/api/api_context.hpp"
#include "server/api/login_limiter.hpp"
#include "server/api/routes.hpp"

namespace vigil::server {
using nlohmann::json;
namespace {

std::string SessionCookie(const std::string& token, std::int64_t max_age_s) {
  return std::string(kSessionCookie) + "=" + token +
         "; Path=/; Max-Age=" + std::to_string(max_age_s) + "; HttpOnly; Secure; SameSite=Strict";
}

json UserJson(const store::UserRecord& u) {
  return {{"name", u.name},
          {"role", store::RoleName(u.role)},
          {"created", u.created_ns ? FormatRfc3339(u.created_ns) : ""},
          {"updated", u.updated_ns ? FormatRfc3339(u.updated_ns) : ""},
          {"last_login", u.last_login_ns ? FormatRfc3339(u.last_login_ns) : ""}};
}

// A string member of the body, or nullopt.
std::optional<std::string> StringField(const json& body, const char* key) {
  if (!body.contains(key) || !body[key].is_string()) return std::nullopt;
  return body[key].get<std::string>();
}

// Whether removing or demoting `name` would leave no admin.
Result<bool> IsLastAdmin(store::UserStore& users, const std::string& name) {
  auto all = users.ListUsers();
  if (!all) return std::unexpected(all.error());
  std::size_t admins = 0;
  bool is_admin = false;
  for (const auto& u : *all) {
    if (u.role != store::Role::Admin) continue;
    ++admins;
    if (u.name == name) is_admin = true;
  }
  return is_admin && admins == 1;
}

}  // namespace

void RegisterAuthRoutes(httplib::Server& http, ApiContext& ctx) {
  // Body {"user", "password"}. JSON only: a cross-site form cannot send it without CORS.
  auto limiter = std::make_shared<LoginLimiter>();
  http.Post("/api/login", [&ctx, limiter](const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Content-Type").rfind("application/json", 0) != 0)
      return SendError(res, 415, "login takes a JSON body (Content-Type: application/json)");
    auto body = ParseJsonObject(req, res);
    if (!body) return;
    auto user = StringField(*body, "user");
    auto password = StringField(*body, "password");
    if (!user || !password) return SendError(res, 400, "body must be {\"user\", \"password\"}");
    if (auto wait = limiter->RetryAfterSeconds(req.remote_addr, *user); wait > 0) {
      res.set_header("Retry-After", std::to_string(wait));
      return SendError(res, 429,
                       "too many failed logins: try again in " + std::to_string(wait) + " s");
    }
    auto session = ctx.users->Login(*user, *password, ctx.options.session_ttl_ns);
    if (!session) {
      limiter->Failed(req.remote_addr, *user);
      return SendError(res, 401, session.error().message);
    }
    limiter->Succeeded(*user);
    res.set_header("Set-Cookie",
                   SessionCookie(session->token, ctx.options.session_ttl_ns / 1'000'000'000));
    SendJson(res, {{"user", session->user},
                   {"role", store::RoleName(session->role)},
                   {"csrf", session->csrf},
                   {"expires", FormatRfc3339(session->expires_ns)}});
  });

  http.Post("/api/logout", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto cookie = CookieValue(req, kSessionCookie);
    if (!cookie.empty())
      if (auto r = ctx.users->Logout(cookie); !r) return SendError(res, 500, r.error().message);
    res.set_header("Set-Cookie", SessionCookie("", 0));
    SendJson(res, {{"logged_out", true}});
  });

  // Who is logged in; the page reads its CSRF token from here after a reload.
  http.Get("/api/session", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto who = Authenticate(ctx, req);
    if (!who || !*who) return SendError(res, 401, "not logged in");
    json out{{"user", (*who)->who.name},
             {"role", store::RoleName((*who)->who.role)},
             {"auth", (*who)->session ? "session" : "token"}};
    if ((*who)->session) out["csrf"] = (*who)->csrf;
    SendJson(res, out);
  });

  // ---- users (admin only, enforced in ApiServer::Routes)
  http.Get("/api/users", [&ctx](const httplib::Request&, httplib::Response& res) {
    auto users = ctx.users->ListUsers();
    if (!users) return SendError(res, 500, users.error().message);
    json out = json::array();
    for (const auto& u : *users) out.push_back(UserJson(u));
    SendJson(res, out);
  });

  // Body {"name", "password", "role"}.
  http.Post("/api/users", [&ctx](const httplib::Request& req, httplib::Response& res) {
    auto body = ParseJsonObject(req, res);
    if (!body) return;
    auto name = StringField(*body, "name");
    auto password = StringField(*body, "password");
    auto role_name = StringField(*body, "role").value_or("viewer");
    if (!name || !password)
      return SendError(res, 400, "body must be {\"name\", \"password\", \"role\"}");
    auto role = store::ParseRole(role_name);
    if (!role) return SendError(res, 400, "role must be viewer, analyst or admin");
    if (auto r = ctx.users->AddUser(*name, *password, *role); !r)
      return SendError(res, r.error().message.find("exists") != std::string::npos ? 409 : 400,
                       r.error().message);
    SendJson(res, {{"added", *name}, {"role", role_name}});
  });

  // Body {"password"} and/or {"role"}.
  http.Put(R"(/api/users/([A-Za-z0-9._@-]+))",
           [&ctx](const httplib::Request& req, httplib::Response& res) {
             const std::string name = req.matches[1];
             auto body = ParseJsonObject(req, res);
             if (!body) return;
             auto password = StringField(*body, "password");
             auto role_name = StringField(*body, "role");
             if (!password && !role_name)
               return SendError(res, 400, "body must carry \"password\" and/or \"role\"");
             std::optional<store::Role> role;
             if (role_name) {
               role = store::ParseRole(*role_name);
               if (!role) return SendError(res, 400, "role must be viewer, analyst or admin");
               if (*role != store::Role::Admin) {
                 auto last = IsLastAdmin(*ctx.users, name);
                 if (!last) return SendError(res, 500, last.error().message);
                 if (*last)
                   return SendError(res, 409, "'" + name + "' is the last admin; keep one");
               }
             }
             if (password)
               if (auto r = ctx.users->SetPassword(name, *password); !r)
                 return SendError(res, r.error().message.starts_with("no user") ? 404 : 400,
                                  r.error().message);
             if (role)
               if (auto r = ctx.users->SetRole(name, *role); !r)
                 return SendError(res, r.error().message.starts_with("no user") ? 404 : 400,
                                  r.error().message);
             json out{{"updated", name}};
             if (role) out["role"] = *role_name;
             if (password) out["password"] = "changed";
             SendJson(res, out);
           });

  http.Delete(R"(/api/users/([A-Za-z0-9._@-]+))",
              [&ctx](const httplib::Request& req, httplib::Response& res) {
                const std::string name = req.matches[1];
                auto last = IsLastAdmin(*ctx.users, name);
                if (!last) return SendError(res, 500, last.error().message);
                if (*last) return SendError(res, 409, "'" + name + "' is the last admin; keep one");
                if (auto r = ctx.users->RemoveUser(name); !r)
                  return SendError(res, r.error().message.starts_with("no user") ? 404 : 500,
                                   r.error().message);
                SendJson(res, {{"removed", name}});
              });
}

}  // namespace vigil::server
