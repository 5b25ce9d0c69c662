// `labrun sweep`: one run per combination of the comma lists in the
// overrides, each a `labrun run` child process tagged with the sweep id.
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string_view>
#include <thread>

#include "cli/CompareCommand.h"
#include "cli/SweepGrid.h"
#include "cli/Training.h"
#include "spec/SpecError.h"
#include "store/HeadlineMetric.h"
#include "store/RunStore.h"
#include "train/Experiment.h"
#include "train/StopSignal.h"

extern char** environ;

namespace labrun::cli {
namespace fs = std::filesystem;
namespace {

struct SweepArgs {
  std::string spec;
  std::vector<std::string> overrides;  // a.b=1,2 sweeps; a.b=1 is fixed
  int parallel = 1;                    // runs at a time
  ProgressArgs progress;               // passed on to every run
};

using Clock = std::chrono::steady_clock;
constexpr const char* kSweepEnv = "LABRUN_SWEEP_ID";
// What varies in a run of the sweep, for its name (SweepPoint::label).
constexpr const char* kLabelEnv = "LABRUN_SWEEP_LABEL";
constexpr auto kPollInterval = std::chrono::milliseconds(100);

// Strings and the null-terminated pointer array execve wants; built before
// fork, since the child may only make async-signal-safe calls.
struct CStrings {
  std::vector<std::string> strings;
  std::vector<char*> pointers() {
    std::vector<char*> out;
    for (std::string& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
  }
};

struct Child {
  std::size_t index = 0;
  Clock::time_point start;
  std::string log;
};

std::string joined(const std::vector<std::string>& parts) {
  return fmt::format("{}", fmt::join(parts, " "));
}

std::string lastLine(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return last;
}

class Sweep {
 public:
  Sweep(const GlobalOptions& global, const SweepArgs& args,
        std::vector<SweepPoint> points, std::string id)
      : global_(global),
        args_(args),
        points_(std::move(points)),
        id_(std::move(id)),
        log_dir_(fs::path(global.db).parent_path() / "sweeps" / id_) {
    std::error_code error;
    fs::create_directories(log_dir_, error);
    if (error) {
      // e.g. a file named "sweeps" beside the store.
      throw spec::SpecError(
          fmt::format("sweep: cannot make the sweep's log folder {}: {}",
                      log_dir_.string(), error.message()));
    }
    env_.strings.push_back(std::string(kSweepEnv) + "=" + id_);
    for (char** entry = environ; *entry; ++entry) {
      const std::string_view variable(*entry);
      if (variable.rfind(std::string(kSweepEnv) + "=", 0) != 0 &&
          variable.rfind(std::string(kLabelEnv) + "=", 0) != 0) {
        env_.strings.emplace_back(*entry);
      }
    }
  }

  // Runs every point, `parallel` at a time; returns how many finished.
  std::size_t run(const store::RunStore& store) {
    const train::StopSignal stop;
    std::size_t next = 0;
    bool forwarded = false;
    while (true) {
      while (!train::StopSignal::requested() && next < points_.size() &&
             running_.size() < static_cast<std::size_t>(args_.parallel)) {
        launch(next++);
      }
      if (running_.empty()) break;
      if (train::StopSignal::requested() && !forwarded) {
        // Children have process groups of their own (so a terminal's Ctrl-C
        // reaches them once, from here): each stops with a checkpoint.
        for (const auto& [pid, child] : running_) {
          ::kill(pid, train::StopSignal::signal());
        }
        forwarded = true;
      }
      if (!reapOne(store)) std::this_thread::sleep_for(kPollInterval);
    }
    if (next < points_.size()) {
      std::cout << fmt::format("sweep {}: stopped; {} run(s) not started\n",
                               id_, points_.size() - next);
    }
    return finished_;
  }

  const fs::path& logDir() const { return log_dir_; }
  // The recorded runs (finished or not), in the order of the grid.
  std::vector<std::string> recorded() const {
    std::vector<std::string> uuids;
    for (const std::string& uuid : uuids_) {
      if (!uuid.empty()) uuids.push_back(uuid);
    }
    return uuids;
  }

 private:
  void launch(std::size_t index) {
    CStrings argv;
    argv.strings = {"labrun", "--db", global_.db};
    for (const std::string& dir : global_.plugin_path) {
      argv.strings.insert(argv.strings.end(), {"--plugin-path", dir});
    }
    argv.strings.insert(argv.strings.end(), {"run", args_.spec});
    const auto& overrides = points_[index].overrides;
    argv.strings.insert(argv.strings.end(), overrides.begin(), overrides.end());
    if (args_.progress.quiet) argv.strings.push_back("-q");
    if (args_.progress.log_every >= 0) {
      argv.strings.insert(
          argv.strings.end(),
          {"--log-every", std::to_string(args_.progress.log_every)});
    }
    const std::string log =
        (log_dir_ / fmt::format("{}.log", index + 1)).string();
    std::vector<char*> argv_ptrs = argv.pointers();
    CStrings env = env_;
    env.strings.push_back(std::string(kLabelEnv) + "=" + points_[index].label);
    std::vector<char*> env_ptrs = env.pointers();

    const pid_t pid = ::fork();
    if (pid < 0) {
      throw std::runtime_error(
          fmt::format("sweep {}: fork failed: {}", id_, std::strerror(errno)));
    }
    if (pid == 0) {
      ::setpgid(0, 0);
      const int in = ::open("/dev/null", O_RDONLY);
      const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0) ::_exit(127);
      ::dup2(in, STDIN_FILENO);
      ::dup2(out, STDOUT_FILENO);
      ::dup2(out, STDERR_FILENO);
      ::execve("/proc/self/exe", argv_ptrs.data(), env_ptrs.data());
      ::_exit(127);
    }
    running_[pid] = {index, Clock::now(), log};
    // A line a log can be read by: what runs now, and where its output goes.
    std::cout << fmt::format("[{}/{}] started {}  (log: {})\n", index + 1,
                             points_.size(), joined(points_[index].swept), log);
    std::cout.flush();
  }

  // Reaps one exited child, if any, and prints its line.
  bool reapOne(const store::RunStore& store) {
    for (auto it = running_.begin(); it != running_.end(); ++it) {
      int status = 0;
      const pid_t pid = ::waitpid(it->first, &status, WNOHANG);
      if (pid == 0 || (pid < 0 && errno == EINTR)) continue;
      report(store, pid, status, it->second);
      running_.erase(it);
      return true;
    }
    return false;
  }

  void report(const store::RunStore& store, pid_t pid, int status,
              const Child& child) {
    const double seconds =
        std::chrono::duration<double>(Clock::now() - child.start).count();
    const auto member = store.sweepMember(id_, pid);
    const std::string where =
        fmt::format("[{}/{}]", child.index + 1, points_.size());
    const std::string what = joined(points_[child.index].swept);
    if (!member) {
      // The child failed before recording a run (a plugin that refused its
      // parameters, say): its last line says why.
      const std::string exit = WIFEXITED(status)
                                   ? fmt::format("exit {}", WEXITSTATUS(status))
                                   : fmt::format("signal {}", WTERMSIG(status));
      std::cout << fmt::format("{} ERROR ({}) {}: {}  (log: {})\n", where, exit,
                               what, lastLine(child.log), child.log);
      return;
    }
    uuids_[child.index] = member->uuid;
    const bool finished = member->status == "FINISHED";
    finished_ += finished ? 1 : 0;
    std::cout << fmt::format(
        "{} {} {}  {}  best {} {}  {:.1f} s{}\n", where, member->status,
        member->uuid.substr(0, 8), member->name, store::kHeadlineMetric,
        member->best_map ? fmt::format("{:.2f}", *member->best_map) : "-",
        seconds, finished ? "" : "  (log: " + child.log + ")");
    std::cout.flush();
  }

  const GlobalOptions& global_;
  const SweepArgs& args_;
  const std::vector<SweepPoint> points_;
  const std::string id_;
  const fs::path log_dir_;
  CStrings env_;
  std::map<pid_t, Child> running_;
  std::size_t finished_ = 0;
  std::vector<std::string> uuids_ = std::vector<std::string>(points_.size());
};

std::string newSweepId() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%y%m%d-%H%M%S", &utc);
  std::random_device random;
  return fmt::format("{}-{:04x}", stamp, random() & 0xffffu);
}

// Validates every combination first (a spec error: exit 2, nothing run),
// then runs them, prints a line per finished run and the comparison of the
// sweep. 0 when every run finished, else 1.
int runSweep(const GlobalOptions& global, const SweepArgs& args) {
  std::vector<SweepPoint> points = expandSweep(args.overrides);
  {
    // Dry validation of every combination before anything runs.
    const plugins::PluginHost host = loadPlugins(global);
    for (std::size_t i = 0; i < points.size(); ++i) {
      try {
        train::checkWatchedKeys(
            train::resolveSpec(args.spec, points[i].overrides,
                               host.schemaLookup()),
            host);
      } catch (const spec::SpecError& error) {
        const std::string swept = joined(points[i].swept);
        throw spec::SpecError(
            fmt::format("sweep run {} of {}{}: {}", i + 1, points.size(),
                        swept.empty() ? "" : " (" + swept + ")", error.what()));
      }
    }
  }
  const std::size_t total = points.size();
  const std::string id = newSweepId();
  // Created (and migrated) once here rather than by racing children.
  const auto store = store::RunStore::open(global.db);
  Sweep sweep(global, args, std::move(points), id);
  std::cout << fmt::format(
      "sweep {}: {} run(s) of {}, {} at a time; logs in {}\n", id, total,
      args.spec, args.parallel, sweep.logDir().string());
  std::cout.flush();
  const std::size_t finished = sweep.run(*store);
  if (const auto uuids = sweep.recorded(); !uuids.empty()) {
    std::cout << "\n";
    printComparison(compareRuns(*store, uuids), /*csv=*/false, std::cout);
  }
  std::cout << fmt::format(
      "\nsweep {}: {} of {} run(s) finished; compare again with: labrun "
      "compare --sweep {}\n",
      id, finished, total, id);
  return finished == total ? kOk : kRunFailed;
}

class SweepCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* sweep = app.add_subcommand(
        "sweep",
        "One run per combination of the comma lists in the overrides "
        "(a.b=1,2 c=x,y: four runs), then their comparison");
    sweep->add_option("spec", args_.spec, "Experiment spec (YAML)")
        ->required()
        ->check(CLI::ExistingFile);
    sweep->add_option("overrides", args_.overrides,
                      "Overrides as for run; a top-level comma list sweeps "
                      "(x=[1,2] is one list value)");
    sweep
        ->add_option("--parallel,-j", args_.parallel,
                     "Runs at a time (they share the run store)")
        ->check(atLeast(1))
        ->capture_default_str();
    addProgressFlags(sweep, args_.progress);
    return sweep;
  }

  int run(const GlobalOptions& global) override {
    return runSweep(global, args_);
  }

 private:
  SweepArgs args_;
};

}  // namespace

LABRUN_COMMAND(SweepCommand, "sweep", 70)

}  // namespace labrun::cli
