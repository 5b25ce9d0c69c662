// `labrun run SPEC --nproc N [--nnodes M --node-rank R --master HOST:PORT]`:
// starts this machine's N workers (this executable again, with the same
// arguments and its place in LABRUN_* variables, see WorldInfo) and watches
// them, like torchrun's agent. Node 0's launcher hosts the rendezvous
// (c10d::TCPStore) at the master address.
//
// When a worker ends badly (non-zero exit, signal) the launcher notes which
// rank and how in the store, where every worker's failed collective finds
// it (see Group); the others then stop on their own, and any still running
// after a grace period are killed. If rank 0 died before marking its run,
// node 0's launcher marks it FAILED in the run store. SIGINT and SIGTERM
// are passed on to the workers (which stop together, see Trainer).
#pragma once

#include <chrono>
#include <ostream>
#include <string>

namespace labrun::dist {

struct LaunchOptions {
  int nproc = 1;       // workers on this machine
  int nnodes = 1;      // machines
  int node_rank = 0;   // this machine's index, 0..nnodes-1
  std::string master;  // HOST:PORT of node 0; "": 127.0.0.1, a free port
  std::chrono::seconds grace{30};  // after a loss, before killing the rest

  // Whether a launcher is asked for (else the command runs in-process).
  bool distributed() const { return nproc > 1 || nnodes > 1; }
};

class Launcher {
 public:
  // Throws spec::SpecError for options out of range or a malformed master.
  Launcher(LaunchOptions options, std::string db_path);
  // Runs the workers to their end; returns the exit code: 0 when all
  // succeeded, else that of the first worker to fail (1 for a signal).
  int run(std::ostream& log);

 private:
  LaunchOptions options_;
  std::string db_path_;
  std::string host_;
  int port_ = 0;
};

}  // namespace labrun::dist
