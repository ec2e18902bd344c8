// `vigil-agent guard`: run a command under a process-protection policy that the kernel enforces on
// it and on everything it starts (Landlock): `guard exec [--preset P] [--deny-exec PATH]
// [--deny-write PATH] -- COMMAND ARGS...`, `guard presets`, `guard check`.
#pragma once

namespace vigil::agent::guard {

// argv[1] is "guard".
int RunGuardCommand(int argc, char** argv);

}  // namespace vigil::agent::guard
