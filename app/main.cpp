// fmplay's entry point: hands the arguments to the CLI, which runs a subcommand or the GUI.
#include "app/cli.h"

int main(int argc, char** argv) { return fmp::run_cli(argc, argv); }
