// The command line: subcommands (train, sample, bench, demo, render) and the GUI's flags.
#pragma once

namespace fmp {

// Parses argv and runs what it asks for; returns the process exit code (2 for bad input).
int run_cli(int argc, char** argv);

}  // namespace fmp
