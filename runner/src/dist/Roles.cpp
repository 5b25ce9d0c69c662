#include "dist/Roles.h"

#include <fmt/format.h>

#include <stdexcept>

#include "dist/WorldInfo.h"
#include "spec/SpecError.h"

namespace labrun::dist {
namespace {

std::optional<WorldInfo> workerPlace() {
  try {
    return WorldInfo::fromEnvironment();
  } catch (const std::invalid_argument& bad) {
    throw spec::SpecError(bad.what());
  }
}

}  // namespace

int playRole(const RoleRequest& request, const std::function<void()>& check,
             const std::function<std::unique_ptr<Participant>()>& build,
             std::ostream& log) {
  const auto world = workerPlace();
  const auto& recorded = request.recorded_world_size;
  if (!world && (recorded ? *recorded > 1 : request.launch.distributed())) {
    LaunchOptions launch = request.launch;
    if (recorded) {
      if (*recorded % launch.nnodes != 0) {
        throw spec::SpecError(fmt::format(
            "run {} had {} processes: --nnodes {} does not divide them",
            request.run, *recorded, launch.nnodes));
      }
      launch.nproc = static_cast<int>(*recorded / launch.nnodes);
    }
    check();
    return Launcher(launch, request.db_path).run(log);
  }
  if (world && recorded && world->world_size != *recorded) {
    throw spec::SpecError(
        fmt::format("run {} had {} processes; this group has {}", request.run,
                    *recorded, world->world_size));
  }
  const std::unique_ptr<Participant> participant = build();
  if (!world) return participant->lead();
  Group group(*world, participant->groupOptions());
  participant->join(group);
  if (world->rank == 0) return participant->lead();
  const Followed followed = participant->follow();
  if (followed.finished) return 0;
  if (!followed.error.empty()) {
    log << "labrun: " << followed.error << "\n";  // it names the rank
    // For the launcher's note, which rank 0 records with the run.
    group.publish("error/" + std::to_string(world->rank), followed.error);
  }
  return 1;
}

}  // namespace labrun::dist
