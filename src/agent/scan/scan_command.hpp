// The local one-shot scan for responders and tests, no server needed:
//   vigil-agent scan files  --rules FILE|DIR... --paths PATH... [--exclude GLOB...]
//                           [--max-size MB] [--one-fs] [--cpu PCT] [--io MBPS] [--threads N]
//                           [--timeout S] [--window HH:MM-HH:MM] [--splay DUR]
//                           [--state-dir DIR | --no-cache] [--progress] [--format table|json]
//   vigil-agent scan memory --rules FILE|DIR... [--pids PID...] [--cpu PCT] [--threads N]
//                           [--timeout S] [--max-region MB] [--progress] [--format table|json]
// Exit status: 0 no finding, 1 findings, 2 usage, rule or scan error. Ctrl-C cancels cleanly.
#pragma once

namespace vigil::agent::scan {

// argv[0] is the program name; a leading "scan" word after it is accepted and skipped, so both
// RunScanCommand(argc, argv) of the whole command line and of the words after "scan" work.
int RunScanCommand(int argc, char** argv);

}  // namespace vigil::agent::scan
