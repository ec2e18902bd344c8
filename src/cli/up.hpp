// `vigil up`: server + a local agent enrolled automatically, on one machine, in the foreground.
#pragma once

#include <string>

namespace vigil::cli {

struct UpOptions {
  std::string data_dir;
  int api_port = 8443;
  int agent_port = 8444;
  std::string sensor = "auto";
  std::string store_layout = "blocks";  // a new data dir's store: blocks or rows
};

int Up(const UpOptions& options);

}  // namespace vigil::cli
