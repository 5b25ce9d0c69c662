// Where one worker process stands in a data-parallel run: its rank, the
// world size and the rendezvous (the TCPStore of node 0's launcher). The
// launcher passes it to each worker in LABRUN_* environment variables, as
// torchrun does with RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace labrun::dist {

struct WorldInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;        // rank among the workers of this machine
  int local_world_size = 1;  // workers on this machine
  std::string master_addr = "127.0.0.1";
  int master_port = 0;

  // The worker's place from LABRUN_RANK, LABRUN_WORLD_SIZE,
  // LABRUN_LOCAL_RANK, LABRUN_LOCAL_WORLD_SIZE, LABRUN_MASTER_ADDR and
  // LABRUN_MASTER_PORT; nullopt when LABRUN_RANK is not set (not a worker).
  // Throws std::invalid_argument naming a missing or malformed variable.
  static std::optional<WorldInfo> fromEnvironment();
  // Those variables as NAME=value entries (for a launcher's child).
  std::vector<std::string> environment() const;
};

// The cores `auto` gives this process (threads, data.workers): those it
// may use (util::usableCores), shared among the workers of its machine
// when it is one (LABRUN_LOCAL_WORLD_SIZE); at least 1.
int localShareOfCores();

}  // namespace labrun::dist
