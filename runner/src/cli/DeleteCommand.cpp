// `labrun delete`: runs taken out of the store with everything recorded for
// them, and their checkpoint files. It lists what it would delete unless
// --yes is given, so a filter is seen before it acts.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <set>
#include <system_error>

#include "cli/CommandFlags.h"
#include "cli/StoreAccess.h"
#include "spec/SpecError.h"

namespace labrun::cli {
namespace {

namespace fs = std::filesystem;

struct DeleteArgs {
  std::vector<std::string> runs;  // uuid, prefix or name each
  RunFilter filter;
  bool yes = false;
  bool keep_files = false;
};

// The runs that RUN arguments and filters pick together, oldest first:
// uuid, then the columns shown.
store::RunStore::Table selectRuns(const store::RunStore& store,
                                  const DeleteArgs& args) {
  std::vector<std::string> params;
  std::vector<std::string> conditions = args.filter.conditions(params);
  if (!args.runs.empty()) {
    std::vector<std::string> places;
    for (const std::string& ref : args.runs) {
      params.push_back(store.resolveRun(ref));
      places.push_back(fmt::format("?{}", params.size()));
    }
    conditions.push_back(
        fmt::format("s.uuid IN ({})", fmt::join(places, ", ")));
  }
  return args.filter.query(
      store,
      fmt::format(
          "SELECT s.uuid, substr(s.uuid, 1, 8) AS run, s.name, s.kind, "
          "s.status, datetime(s.started_at, 'unixepoch') AS started, "
          "(SELECT count(*) FROM checkpoints AS c WHERE c.run = s.uuid) "
          "AS checkpoints, "
          "(SELECT round(coalesce(sum(c.bytes), 0) / 1048576.0, 1) FROM "
          "checkpoints AS c WHERE c.run = s.uuid) AS checkpoint_mib "
          "FROM run_summary AS s WHERE {} ORDER BY s.started_at",
          fmt::join(conditions, " AND ")),
      params);
}

struct RemovedFiles {
  std::int64_t removed = 0;
  std::vector<std::string> kept;  // "path (why)" of the files that stayed
};

// Removes the checkpoint files no remaining run records, and each deleted
// run's checkpoint folder (output_dir/uuid) once empty.
RemovedFiles removeFiles(const store::RunStore& store,
                         const std::vector<std::string>& paths,
                         const std::set<std::string>& uuids) {
  RemovedFiles out;
  for (const std::string& path : paths) {
    if (store.checkpointOwner(path)) continue;  // another run's too
    std::error_code error;
    if (!fs::remove(path, error) && error) {
      out.kept.push_back(fmt::format("{} ({})", path, error.message()));
      continue;
    }
    ++out.removed;
    const fs::path folder = fs::path(path).parent_path();
    if (uuids.count(folder.filename().string()) > 0) {
      fs::remove(folder, error);  // stays while it holds anything
    }
  }
  return out;
}

int deleteRuns(const GlobalOptions& global, const DeleteArgs& args) {
  if (args.runs.empty() && args.filter.empty()) {
    throw spec::SpecError(
        "delete: name the runs to delete (RUN..., --status, --name or "
        "--where); none is picked by default");
  }
  // Writable first, which migrates an older schema; the user's --where
  // then runs on a read-only connection, as for `labrun runs`.
  const auto store = openExistingStore(global, /*read_only=*/false);
  store::RunStore::Table picked = selectRuns(*openExistingStore(global), args);
  if (picked.rows.empty()) {
    std::cout << "no run matches; nothing deleted\n";
    return kOk;
  }
  std::vector<std::string> uuids;
  double mib = 0;
  std::int64_t files = 0;
  for (auto& row : picked.rows) {
    if (*row.at(4) == "RUNNING") {
      throw spec::SpecError(fmt::format(
          "delete: run {} ({}) is still running: stop it first (a run "
          "whose process died shows as CRASHED after {:.0f} s); nothing "
          "deleted",
          *row.at(2), *row.front(), store::RunStore::kStaleHeartbeatS));
    }
    uuids.push_back(*row.front());
    files += std::stoll(*row.at(6));
    mib += std::stod(*row.at(7));
    row.erase(row.begin());
  }
  picked.columns.erase(picked.columns.begin());
  picked.types.erase(picked.types.begin());
  printTable(toTextTable(std::move(picked)), TableFormat::kText, std::cout);
  const std::string runs =
      fmt::format("{} run{}", uuids.size(), uuids.size() == 1 ? "" : "s");
  const std::string checkpoints = fmt::format(
      "{} checkpoint file{} ({:.1f} MiB)", files, files == 1 ? "" : "s", mib);
  if (!args.yes) {
    std::cout << fmt::format(
        "would delete {} and {}{}; nothing deleted: add --yes\n", runs,
        checkpoints, args.keep_files ? " (--keep-files: the files stay)" : "");
    return kOk;
  }
  const std::vector<std::string> paths = store->deleteRuns(uuids);
  if (args.keep_files) {
    std::cout << fmt::format("deleted {} from {}; their {} stay\n", runs,
                             global.db, checkpoints);
    return kOk;
  }
  const RemovedFiles removal = removeFiles(
      *store, paths, std::set<std::string>(uuids.begin(), uuids.end()));
  if (removal.kept.empty()) {
    std::cout << fmt::format("deleted {} and {} from {}\n", runs, checkpoints,
                             global.db);
    return kOk;
  }
  std::cout << fmt::format("deleted {} and {} of {} checkpoint files from {}\n",
                           runs, removal.removed, files, global.db);
  std::cerr << fmt::format(
      "labrun: error: the runs are deleted, but {} checkpoint file{} could "
      "not be removed:\n  {}\n",
      removal.kept.size(), removal.kept.size() == 1 ? "" : "s",
      fmt::join(removal.kept, "\n  "));
  return kRunFailed;
}

class DeleteCommand : public Command {
 public:
  CLI::App* add(CLI::App& app) override {
    auto* command = app.add_subcommand(
        "delete",
        "Delete runs with everything recorded for them and their checkpoint "
        "files (lists them first: add --yes to delete)");
    command->add_option("runs", args_.runs,
                        "Runs (uuid, unique uuid prefix or name); with "
                        "filters, the runs among them that match");
    args_.filter.add(command);
    command->add_flag("--yes,-y", args_.yes,
                      "Delete; without it the runs are only listed");
    command->add_flag("--keep-files", args_.keep_files,
                      "Delete the runs' records only; leave their "
                      "checkpoint files");
    return command;
  }

  int run(const GlobalOptions& global) override {
    return deleteRuns(global, args_);
  }

 private:
  DeleteArgs args_;
};

}  // namespace

LABRUN_COMMAND(DeleteCommand, "delete", 55)

}  // namespace labrun::cli
