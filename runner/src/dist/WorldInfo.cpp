#include "dist/WorldInfo.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>

#include "util/UsableCores.h"

namespace labrun::dist {
namespace {

int intVariable(const char* name, int minimum) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') {
    throw std::invalid_argument(std::string(name) +
                                ": not set (labrun's launcher sets it)");
  }
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < minimum || value > 1 << 30) {
    throw std::invalid_argument(
        std::string(name) + ": expected an integer >= " +
        std::to_string(minimum) + ", found '" + text + "'");
  }
  return static_cast<int>(value);
}

}  // namespace

std::optional<WorldInfo> WorldInfo::fromEnvironment() {
  if (std::getenv("LABRUN_RANK") == nullptr) return std::nullopt;
  WorldInfo world;
  world.rank = intVariable("LABRUN_RANK", 0);
  world.world_size = intVariable("LABRUN_WORLD_SIZE", 1);
  world.local_rank = intVariable("LABRUN_LOCAL_RANK", 0);
  world.local_world_size = intVariable("LABRUN_LOCAL_WORLD_SIZE", 1);
  const char* addr = std::getenv("LABRUN_MASTER_ADDR");
  if (addr == nullptr || *addr == '\0') {
    throw std::invalid_argument("LABRUN_MASTER_ADDR: not set");
  }
  world.master_addr = addr;
  world.master_port = intVariable("LABRUN_MASTER_PORT", 1);
  if (world.rank >= world.world_size) {
    throw std::invalid_argument("LABRUN_RANK: " + std::to_string(world.rank) +
                                " is not below LABRUN_WORLD_SIZE " +
                                std::to_string(world.world_size));
  }
  return world;
}

std::vector<std::string> WorldInfo::environment() const {
  return {"LABRUN_RANK=" + std::to_string(rank),
          "LABRUN_WORLD_SIZE=" + std::to_string(world_size),
          "LABRUN_LOCAL_RANK=" + std::to_string(local_rank),
          "LABRUN_LOCAL_WORLD_SIZE=" + std::to_string(local_world_size),
          "LABRUN_MASTER_ADDR=" + master_addr,
          "LABRUN_MASTER_PORT=" + std::to_string(master_port)};
}

int localShareOfCores() {
  const auto world = WorldInfo::fromEnvironment();
  return std::max(1,
                  util::usableCores() / (world ? world->local_world_size : 1));
}

}  // namespace labrun::dist
