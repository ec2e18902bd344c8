// Store helpers shared by every implementation: role names.
#include "server/store/store.hpp"

namespace vigil::store {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::Viewer:
      return "viewer";
    case Role::Analyst:
      return "analyst";
    case Role::Admin:
      return "admin";
  }
  return "viewer";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::Viewer, Role::Analyst, Role::Admin})
    if (RoleName(r) == name) return r;
  return std::nullopt;
}

}  // namespace vigil::store
