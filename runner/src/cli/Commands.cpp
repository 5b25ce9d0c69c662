#include "cli/Commands.h"

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "plugins/PluginHost.h"
#include "spec/SpecError.h"
#include "store/RunStore.h"
#include "train/Experiment.h"

namespace labrun::cli {
namespace fs = std::filesystem;
namespace {

plugins::PluginHost loadPlugins(const GlobalOptions& global) {
  plugins::PluginHost host;
  host.loadDirectories(plugins::PluginHost::searchPath(global.plugin_path));
  for (const auto& problem : host.problems()) {
    std::cerr << "labrun: warning: " << problem << "\n";
  }
  return host;
}

// Past runs are only read: a missing store is a usage error, never created.
std::unique_ptr<store::RunStore> openExistingStore(const GlobalOptions& global) {
  if (!fs::exists(global.db)) {
    throw store::StoreError(fmt::format(
        "no run store at {} (run an experiment first, or pass --db / set "
        "LABRUN_DB)",
        global.db));
  }
  return store::RunStore::open(global.db, /*read_only=*/true);
}

TextTable toTextTable(store::RunStore::Table table) {
  return {std::move(table.columns), std::move(table.rows),
          std::move(table.types)};
}

void printSection(const std::string& title, const store::RunStore& store,
                  const std::string& sql, const std::string& run) {
  const store::RunStore::Table table = store.query(sql, {run});
  std::cout << "\n" << title << "\n";
  if (table.rows.empty()) {
    std::cout << "(none)\n";
    return;
  }
  printTable(toTextTable(table), TableFormat::kText, std::cout);
}

}  // namespace

int runCommand(const GlobalOptions& global, const RunArgs& args) {
  const plugins::PluginHost host = loadPlugins(global);
  train::ResolvedSpec spec =
      train::resolveSpec(args.spec, args.overrides, host);
  if (args.dry_run) {
    std::cout << spec.yaml;
    return kOk;
  }
  // Everything that can be wrong with the spec fails here, before a run
  // record exists.
  train::Experiment experiment(std::move(spec), host);
  auto store = store::RunStore::open(global.db);
  const train::RunOutcome outcome =
      experiment.run(*store, global.command_line, std::cout);
  if (outcome.status != "FINISHED") {
    std::cerr << fmt::format("labrun: run {} {}: {}\n", outcome.uuid,
                             outcome.status, outcome.error);
    return kRunFailed;
  }
  std::cout << fmt::format("run {} finished; store: {}\n", outcome.uuid,
                           global.db);
  return kOk;
}

int runsCommand(const GlobalOptions& global, int limit, TableFormat format) {
  const auto store = openExistingStore(global);
  const auto table = store->query(
      "SELECT substr(uuid, 1, 8) AS run, name, status, "
      "datetime(started_at, 'unixepoch') AS started, "
      "round(duration_s, 1) AS duration_s, backbone, head, optimizer, lr, "
      "round(best_map, 2) AS best_map, best_map_epoch, "
      "round(last_map, 2) AS last_map "
      "FROM run_summary ORDER BY started_at DESC LIMIT ?1",
      {std::to_string(limit)});
  printTable(toTextTable(table), format, std::cout);
  return kOk;
}

int showCommand(const GlobalOptions& global, const std::string& run_ref) {
  const auto store = openExistingStore(global);
  const std::string run = store->resolveRun(run_ref);
  const auto runs = store->query(
      "SELECT uuid, name, status, datetime(started_at, 'unixepoch') AS "
      "started, datetime(ended_at, 'unixepoch') AS ended, error, spec_path, "
      "spec_hash, seed, host, device, git_commit, git_dirty, labrun_version, "
      "torch_version, opencv_version, command_line, spec_yaml "
      "FROM runs WHERE uuid = ?1",
      {run});
  const auto& row = runs.rows.at(0);
  for (std::size_t c = 0; c + 1 < runs.columns.size(); ++c) {
    std::cout << fmt::format("{:<15} {}\n", runs.columns[c] + ":",
                             row[c] ? *row[c] : "");
  }
  std::cout << "\nresolved spec:\n" << row.back().value_or("");
  printSection("parameters:", *store,
               "SELECT key, type, value FROM params WHERE run = ?1 "
               "ORDER BY key", run);
  printSection("metrics (last and best of each key):", *store,
               "SELECT key, count(*) AS points, "
               "(SELECT value FROM metrics m2 WHERE m2.run = m.run AND "
               "m2.key = m.key ORDER BY step DESC, rowid DESC LIMIT 1) AS last, "
               "min(value) AS min, max(value) AS max, max(epoch) AS epochs "
               "FROM metrics m WHERE run = ?1 GROUP BY key ORDER BY key", run);
  printSection("per-class values (last epoch):", *store,
               "SELECT metric, class_index, class_name, round(value, 2) AS "
               "value, positives FROM class_metrics WHERE run = ?1 AND "
               "epoch = (SELECT max(epoch) FROM class_metrics WHERE run = ?1) "
               "ORDER BY metric, class_index", run);
  printSection("checkpoints:", *store,
               "SELECT epoch, step, path, bytes, substr(sha256, 1, 12) AS "
               "sha256, round(metric, 2) AS metric, best FROM checkpoints "
               "WHERE run = ?1 ORDER BY step", run);
  printSection("plugins:", *store,
               "SELECT kind, name, version, file, substr(sha256, 1, 12) AS "
               "sha256 FROM run_plugins WHERE run = ?1 ORDER BY kind", run);
  return kOk;
}

int sqlCommand(const GlobalOptions& global, const std::string& sql,
               TableFormat format) {
  const auto store = openExistingStore(global);
  printTable(toTextTable(store->query(sql)), format, std::cout);
  return kOk;
}

int pluginsCommand(const GlobalOptions& global, const std::string& name) {
  const plugins::PluginHost host = loadPlugins(global);
  bool found = false;
  std::vector<std::string> known;
  for (const plugins::LoadedPlugin* plugin : host.all()) {
    const PluginDescriptor& d = *plugin->descriptor;
    known.push_back(d.name);
    if (!name.empty() && name != d.name) continue;
    found = true;
    std::cout << fmt::format("{} {} {}  {}\n  file: {}\n",
                             pluginKindName(d.kind), d.name, d.version,
                             d.summary, plugin->file);
    for (const ParamSpec& param : plugin->params()) {
      std::cout << fmt::format(
          "  {:<12} {:<18} default {:<16} {}{}\n", param.name,
          paramTypeName(param.type),
          param.default_yaml ? param.default_yaml : "(required)", param.doc,
          param.choices ? fmt::format(" (one of {})", param.choices) : "");
    }
  }
  if (!name.empty() && !found) {
    throw plugins::PluginError(fmt::format(
        "unknown plugin '{}'; known: {}", name, fmt::join(known, ", ")));
  }
  return kOk;
}

}  // namespace labrun::cli
