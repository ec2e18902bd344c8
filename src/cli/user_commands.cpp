// vigil user add|passwd|role|list|remove: the console's users, through the admin-only /api/users
// routes. Passwords are read from the terminal (twice, not echoed) or as one line from stdin.
#include <termios.h>
#include <unistd.h>

#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"

namespace vigil::cli {
namespace {
using nlohmann::json;

Result<std::string> ReadLine(const char* prompt, bool tty) {
  termios saved{};
  if (tty) {
    std::cerr << prompt << std::flush;
    ::tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string line;
  const bool ok = static_cast<bool>(std::getline(std::cin, line));
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::cerr << "\n";
  }
  if (!ok) return Fail("no password given (type it, or pipe it as one line on stdin)");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

Result<std::string> ReadPassword() {
  const bool tty = ::isatty(STDIN_FILENO) == 1;
  auto first = ReadLine("Password: ", tty);
  if (!first || !tty) return first;
  auto again = ReadLine("Again: ", tty);
  if (!again) return again;
  if (*first != *again) return Fail("the two passwords differ");
  return first;
}

int Call(const Connection& c, const std::string& method, const std::string& path, const json& body,
         const std::function<void(const json&)>& print) {
  auto reply = Request(c, method, path, body.is_null() ? "" : body.dump(), "application/json");
  if (!reply) return std::cerr << "vigil: " << reply.error().message << "\n", 1;
  if (reply->status != 200) return std::cerr << "vigil: " << ErrorText(*reply) << "\n", 1;
  print(json::parse(reply->body));
  return 0;
}

}  // namespace

void RegisterUserCommands(CLI::App& app, CliContext& ctx) {
  struct Options {
    std::string name, role = "viewer", format = "table";
  };
  auto o = std::make_shared<Options>();
  auto* user =
      app.add_subcommand("user", "Console users (admin only): add, passwd, role, list, remove");
  user->require_subcommand(1);
  const auto roles = CLI::IsMember({"viewer", "analyst", "admin"});

  auto* add = user->add_subcommand("add",
                                   "Add a user; the password is read from the terminal "
                                   "or as one line from stdin");
  add->add_option("name", o->name, "User name")->required();
  add->add_option("--role", o->role, "viewer (reads), analyst (also acts), admin (also users)")
      ->check(roles)
      ->capture_default_str();
  add->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      auto password = ReadPassword();
      if (!password) return std::cerr << "vigil: " << password.error().message << "\n", 1;
      return ctx.WithConnection([&](const Connection& c) {
        return Call(
            c, "POST", "/api/users",
            json{{"name", o->name}, {"password", *password}, {"role", o->role}},
            [&](const json&) { std::cout << "added " << o->name << " (" << o->role << ")\n"; });
      });
    };
  });

  auto* passwd = user->add_subcommand("passwd", "Set a user's password (ends their sessions)");
  passwd->add_option("name", o->name, "User name")->required();
  passwd->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      auto password = ReadPassword();
      if (!password) return std::cerr << "vigil: " << password.error().message << "\n", 1;
      return ctx.WithConnection([&](const Connection& c) {
        return Call(c, "PUT", "/api/users/" + o->name, json{{"password", *password}},
                    [&](const json&) { std::cout << "password changed for " << o->name << "\n"; });
      });
    };
  });

  auto* role = user->add_subcommand("role", "Change a user's role");
  role->add_option("name", o->name, "User name")->required();
  role->add_option("role", o->role, "viewer, analyst or admin")->required()->check(roles);
  role->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      return ctx.WithConnection([&](const Connection& c) {
        return Call(c, "PUT", "/api/users/" + o->name, json{{"role", o->role}},
                    [&](const json&) { std::cout << o->name << " is now " << o->role << "\n"; });
      });
    };
  });

  auto* list = user->add_subcommand("list", "List users with their roles and last login");
  AddFormatOption(list, &o->format);
  list->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      return ctx.WithConnection([&](const Connection& c) {
        return Call(c, "GET", "/api/users", nullptr, [&](const json& users) {
          if (ParseFormat(o->format) == Format::Json) {
            for (const auto& u : users) std::cout << u.dump() << "\n";
            return;
          }
          std::vector<std::vector<std::string>> rows;
          for (const auto& u : users)
            rows.push_back(
                {Cell(u, "name"), Cell(u, "role"), Cell(u, "created"), Cell(u, "last_login")});
          PrintTable(std::cout, {"NAME", "ROLE", "CREATED", "LAST LOGIN"}, rows, 40);
        });
      });
    };
  });

  auto* remove = user->add_subcommand("remove", "Remove a user (ends their sessions)");
  remove->add_option("name", o->name, "User name")->required();
  remove->callback([&ctx, o] {
    ctx.run = [&ctx, o] {
      return ctx.WithConnection([&](const Connection& c) {
        return Call(c, "DELETE", "/api/users/" + o->name, nullptr,
                    [&](const json&) { std::cout << "removed " << o->name << "\n"; });
      });
    };
  });
}

}  // namespace vigil::cli
