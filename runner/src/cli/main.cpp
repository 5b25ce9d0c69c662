// labrun-torch: every `labrun` command, LibTorch included. `labrun` (the
// front end, FrontEnd.cpp) runs the commands that only read the run store
// itself and hands every other one to this executable.
#include "cli/App.h"
#include "util/HostMemory.h"

int main(int argc, char** argv) {
  labrun::util::keepFreedHostMemory();
  return labrun::cli::runApp(argc, argv);
}
