// Who plays which part of a run, decided in one place for `labrun run` and
// `labrun resume`:
// - the launcher: a command asked for several processes (--nproc,
//   --nnodes, or a resumed run's recorded world size) that is not itself a
//   worker starts the workers (dist::Launcher) and builds nothing;
// - rank 0 of a group: joins it, then records and trains (leads);
// - any other rank: joins it and trains along, recording nothing
//   (follows); its failure is printed and left in the group's store for
//   the launcher's note;
// - a single process: leads alone.
// The roles' work is the caller's (train::Experiment, through the
// command's Participant); dist decides and connects.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "dist/Collective.h"
#include "dist/Group.h"
#include "dist/Launcher.h"

namespace labrun::dist {

// How a follower's training ended.
struct Followed {
  bool finished = false;
  std::string error;  // a failure's message; "" when finished or stopped
};

// What a process does in its role, built once the launcher is ruled out.
class Participant {
 public:
  virtual ~Participant() = default;
  // The group's backend, timeout and bucket size (from the spec).
  virtual GroupOptions groupOptions() const = 0;
  // A collective call of every rank: shards, threads, rank 0's weights.
  virtual void join(Collective& group) = 0;
  // Records and trains; returns the exit code.
  virtual int lead() = 0;
  // Trains alongside rank 0.
  virtual Followed follow() = 0;
};

struct RoleRequest {
  LaunchOptions launch;  // --nproc, --nnodes, --node-rank, --master
  // A resumed run's recorded processes (the launcher derives --nproc from
  // them and --nnodes); nullopt for a new run.
  std::optional<std::int64_t> recorded_world_size;
  std::string run;      // the resumed run, for messages
  std::string db_path;  // for the launcher's note of a lost rank
};

// Plays this process's role; returns the exit code. `check` runs before
// the launcher starts workers (e.g. binding the spec, so that a bad spec
// fails once, in the launcher); `build` makes the participant of any other
// role. Throws spec::SpecError for a malformed LABRUN_* place, an --nnodes
// that does not divide the recorded processes, or a group of another size
// than the run's.
int playRole(const RoleRequest& request, const std::function<void()>& check,
             const std::function<std::unique_ptr<Participant>()>& build,
             std::ostream& log);

}  // namespace labrun::dist
