// List options read the same way by every Vigil command line (vigil and vigil-agent): values
// separated by commas, by spaces, or given by repeating the option (--paths /a,/b --paths /c).
// Header-only: each program links CLI11 itself.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace vigil {

template <class T>
CLI::Option* AddListOption(CLI::App* cmd, const std::string& name, std::vector<T>& values,
                           const std::string& help) {
  return cmd->add_option(name, values, help + " (comma or space separated)")->delimiter(',');
}

}  // namespace vigil
