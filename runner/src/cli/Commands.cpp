#include "cli/Commands.h"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

#include <fmt/format.h>
#include <torch/cuda.h>

#include "data/LabelSource.h"
#include "dist/Group.h"
#include "dist/WorldInfo.h"
#include "plugins/PluginHost.h"
#include "spec/SpecError.h"
#include "store/RunStore.h"
#include "train/Experiment.h"

namespace labrun::cli {
namespace fs = std::filesystem;

plugins::PluginHost loadPlugins(const GlobalOptions& global) {
  plugins::PluginHost host;
  host.loadDirectories(plugins::PluginHost::searchPath(global.plugin_path));
  for (const auto& problem : host.problems()) {
    std::cerr << "labrun: warning: " << problem << "\n";
  }
  return host;
}

// Past runs are only read: a missing store is a usage error, never created.
std::unique_ptr<store::RunStore> openExistingStore(
    const GlobalOptions& global) {
  if (!fs::exists(global.db)) {
    throw store::StoreError(fmt::format(
        "no run store at {} (run an experiment first, or pass --db / set "
        "LABRUN_DB)",
        global.db));
  }
  return store::RunStore::open(global.db, /*read_only=*/true);
}

namespace {

train::RunControls runControls(const GlobalOptions& global,
                               const ProgressArgs& progress) {
  train::RunControls controls;
  controls.db_path = global.db;
  controls.command_line = global.command_line;
  controls.quiet = progress.quiet;
  controls.terminal = ::isatty(STDOUT_FILENO) != 0;
  controls.log_every = progress.log_every;
  // Set by `labrun sweep` for the runs it starts.
  const char* sweep = std::getenv("LABRUN_SWEEP_ID");
  controls.sweep = sweep ? sweep : "";
  const char* label = std::getenv("LABRUN_SWEEP_LABEL");
  controls.sweep_label = label ? label : "";
  return controls;
}

int reportOutcome(const train::RunOutcome& outcome, const std::string& db) {
  if (outcome.status != "FINISHED") {
    std::cerr << fmt::format("labrun: run {} {}: {}\n", outcome.uuid,
                             outcome.status, outcome.error);
    if (outcome.status == "KILLED") {
      std::cerr << fmt::format("labrun: continue it with: labrun resume {}\n",
                               outcome.uuid);
    }
    return kRunFailed;
  }
  std::cout << fmt::format("run {} finished; store: {}\n", outcome.uuid, db);
  return kOk;
}

// A run's stored spec, validated again with today's plugins.
train::ResolvedSpec storedSpec(const store::RunStore& store,
                               const std::string& uuid,
                               const plugins::PluginHost& host) {
  const auto row =
      store.query("SELECT spec_yaml, spec_path FROM runs WHERE uuid = ?1",
                  {uuid});
  return train::resolveStoredSpec(row.rows.at(0)[0].value_or(""),
                                  "run " + uuid + " spec",
                                  row.rows.at(0)[1].value_or(""), host);
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

// This process's place in a data-parallel run (set by the launcher).
std::optional<dist::WorldInfo> workerPlace() {
  try {
    return dist::WorldInfo::fromEnvironment();
  } catch (const std::invalid_argument& bad) {
    throw spec::SpecError(bad.what());
  }
}

// One rank of a data-parallel run: joins the group; rank 0 records the run
// (a new one, or `resume_uuid` resumed), the others follow it.
int runWorker(const GlobalOptions& global, train::Experiment& experiment,
              const dist::WorldInfo& world, const ProgressArgs& progress,
              const std::string& resume_uuid) {
  dist::GroupOptions options;
  options.backend = experiment.backend();
  options.timeout = std::chrono::seconds(
      experiment.tree().at("distributed.timeout_s").asInt());
  options.bucket_bytes = static_cast<std::int64_t>(
      experiment.tree().at("distributed.bucket_mb").asDouble() * (1 << 20));
  dist::Group group(world, options);
  experiment.joinGroup(group);
  train::RunControls controls = runControls(global, progress);
  if (world.rank != 0) {
    // Rank 0 reports for the group; the others print only their failure.
    controls.quiet = true;
    std::ostream discard(nullptr);
    const train::RunOutcome outcome = experiment.follow(controls, discard);
    if (outcome.status == "FINISHED") return kOk;
    if (outcome.status == "FAILED") {  // the error names the rank
      std::cerr << "labrun: " << outcome.error << "\n";
      // For the launcher's note, which rank 0 records with the run.
      group.publish("error/" + std::to_string(world.rank), outcome.error);
    }
    return kRunFailed;
  }
  auto store = store::RunStore::open(global.db);
  return reportOutcome(
      resume_uuid.empty()
          ? experiment.run(*store, controls, std::cout)
          : experiment.resume(*store, resume_uuid, controls, std::cout),
      global.db);
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
  const auto world = workerPlace();
  if (!world && args.launch.distributed()) {
    // The workers build the experiment; a bad backend fails here already.
    dist::chooseBackend(spec.tree.at("distributed.backend"),
                        spec.tree.at("device").asString() != "cpu" &&
                            torch::cuda::is_available());
    return dist::Launcher(args.launch, global.db).run(std::cerr);
  }
  // Everything that can be wrong with the spec fails here, before a run
  // record exists.
  train::Experiment experiment(std::move(spec), host);
  if (world) return runWorker(global, experiment, *world, args.progress, "");
  auto store = store::RunStore::open(global.db);
  return reportOutcome(
      experiment.run(*store, runControls(global, args.progress), std::cout),
      global.db);
}

int prepareFashionMosaicCommand(const data::FashionMosaicOptions& options) {
  try {
    const auto made = data::buildFashionMosaic(options);
    fmt::print(
        "fashion-mosaic: {} train images in {}, {} val images in {}\n  {}\n"
        "  {}\n",
        made.train_count, made.train_images, made.val_count, made.val_images,
        made.train_json, made.val_json);
    return kOk;
  } catch (const std::invalid_argument& error) {  // sizes out of range
    std::cerr << "labrun: error: " << error.what() << "\n";
    return kUsageError;
  }
}

int resumeCommand(const GlobalOptions& global, const std::string& run_ref,
                  const ProgressArgs& progress,
                  const dist::LaunchOptions& launch) {
  const plugins::PluginHost host = loadPlugins(global);
  auto store = store::RunStore::open(global.db);
  const std::string uuid = store->resolveRun(run_ref);
  const int world_size = std::stoi(
      store->query("SELECT world_size FROM runs WHERE uuid = ?1", {uuid})
          .rows.at(0)[0]
          .value_or("1"));
  const auto world = workerPlace();
  if (!world && world_size > 1) {
    if (world_size % launch.nnodes != 0) {
      throw spec::SpecError(fmt::format(
          "run {} had {} processes: --nnodes {} does not divide them", uuid,
          world_size, launch.nnodes));
    }
    dist::LaunchOptions options = launch;
    options.nproc = world_size / launch.nnodes;
    store.reset();  // rank 0 reopens it
    return dist::Launcher(options, global.db).run(std::cerr);
  }
  if (world && world->world_size != world_size) {
    throw spec::SpecError(
        fmt::format("run {} had {} processes; this group has {}", uuid,
                    world_size, world->world_size));
  }
  train::Experiment experiment(storedSpec(*store, uuid, host), host);
  if (world) {
    store.reset();
    return runWorker(global, experiment, *world, progress, uuid);
  }
  return reportOutcome(experiment.resume(*store, uuid,
                                         runControls(global, progress),
                                         std::cout),
                       global.db);
}

int evalCommand(const GlobalOptions& global, const EvalArgs& args) {
  const plugins::PluginHost host = loadPlugins(global);
  const bool spec_target = fs::is_regular_file(args.target);
  // A spec is scored as it builds its model, a run by its best checkpoint.
  const std::string checkpoint = !args.checkpoint.empty() ? args.checkpoint
                                 : spec_target            ? "init"
                                                          : "best";
  train::EvalRequest request;
  request.checkpoint = checkpoint;
  request.scores_path = args.scores;
  if (checkpoint == "init") {
    if (!spec_target) {
      throw spec::SpecError(fmt::format(
          "eval {}: --checkpoint init evaluates a spec's initial weights: "
          "expected a spec file, found a run reference (a run is evaluated "
          "from best, last or a checkpoint file)",
          args.target));
    }
    // Everything that can be wrong with the spec fails before a run record
    // exists, as for `labrun run`.
    train::Experiment experiment(
        train::resolveSpec(args.target, args.overrides, host), host);
    auto store = store::RunStore::open(global.db);
    const train::EvalOutcome outcome = experiment.evaluateInitial(
        *store, runControls(global, ProgressArgs{}), request, std::cout);
    if (outcome.run.status != "FINISHED") {
      return reportOutcome(outcome.run, global.db);
    }
    std::cout << fmt::format(
        "evaluation {} of run {} (evaluation only) recorded in {}\n",
        outcome.evaluation, outcome.run.uuid, global.db);
    return kOk;
  }
  auto store = store::RunStore::open(global.db);
  std::string uuid;
  std::optional<train::ResolvedSpec> spec;
  if (spec_target) {
    // A spec (e.g. other validation data) applied to a recorded checkpoint.
    spec = train::resolveSpec(args.target, args.overrides, host);
    const auto owner =
        store->query("SELECT run FROM checkpoints WHERE path = ?1",
                     {fs::absolute(checkpoint).string()});
    if (owner.rows.empty()) {
      throw spec::SpecError(fmt::format(
          "eval {}: --checkpoint must be init or a checkpoint file recorded "
          "in {} (evaluations are linked to the run that made it)",
          args.target, global.db));
    }
    uuid = *owner.rows[0][0];
  } else {
    uuid = store->resolveRun(args.target);
    spec = storedSpec(*store, uuid, host);
  }
  train::Experiment experiment(std::move(*spec), host);
  const std::int64_t id =
      experiment.evaluate(*store, uuid, request, std::cout);
  std::cout << fmt::format("evaluation {} of run {} recorded in {}\n", id,
                           uuid, global.db);
  return kOk;
}

int runsCommand(const GlobalOptions& global, const RunsArgs& args) {
  const auto store = openExistingStore(global);
  // A column name cannot be bound as a parameter, so --sort is checked
  // against the view's own columns before it becomes part of the SQL.
  const auto columns =
      store->query("SELECT * FROM run_summary LIMIT 0").columns;
  const bool descending = args.sort.rfind('-', 0) == 0;
  const std::string column = args.sort.substr(descending ? 1 : 0);
  if (std::find(columns.begin(), columns.end(), column) == columns.end()) {
    throw store::StoreError(fmt::format(
        "--sort '{}': not a column of run_summary; expected one of {} "
        "(a leading '-' sorts descending)",
        args.sort, fmt::join(columns, ", ")));
  }
  std::vector<std::string> conditions, params;
  if (!args.where.empty()) {
    // The user's own SQL on a read-only connection. A ';' that SQLite's
    // tokenizer takes for a statement end (not inside a string or comment)
    // is refused up front; on lines of its own, a trailing "--" comment
    // cannot swallow the rest of the query.
    for (auto at = args.where.find(';'); at != std::string::npos;
         at = args.where.find(';', at + 1)) {
      if (sqlite3_complete(args.where.substr(0, at + 1).c_str())) {
        throw store::StoreError(fmt::format(
            "--where '{}': expected one SQL condition, found ';' ending a "
            "statement (only one SQL statement is allowed)",
            args.where));
      }
    }
    conditions.push_back("(\n" + args.where + "\n)");
  }
  if (!args.status.empty()) {
    params.push_back(args.status);
    conditions.push_back(fmt::format("s.status = ?{}", params.size()));
  }
  if (!args.name.empty()) {
    params.push_back(args.name);
    conditions.push_back(fmt::format("s.name GLOB ?{}", params.size()));
  }
  params.push_back(std::to_string(args.limit));
  const std::string sql = fmt::format(
      "SELECT substr(s.uuid, 1, 8) AS run, s.name, s.kind, s.status, "
      "datetime(s.started_at, 'unixepoch') AS started, "
      "round(s.duration_s, 1) AS duration_s, s.backbone, s.head, "
      "s.optimizer, s.lr, round(s.best_map, 2) AS best_map, s.best_map_epoch, "
      "round(s.last_map, 2) AS last_map, round(s.eval_map, 2) AS eval_map, "
      "s.sweep "
      "FROM run_summary AS s {}{} ORDER BY s.\"{}\" {}, s.started_at DESC "
      "LIMIT ?{}",
      conditions.empty() ? "" : "WHERE ", fmt::join(conditions, " AND "),
      column, descending ? "DESC" : "ASC", params.size());
  store::RunStore::Table table;
  try {
    table = store->query(sql, params);
  } catch (const store::StoreError& error) {
    if (args.where.empty()) throw;
    throw store::StoreError(
        fmt::format("--where '{}': {}", args.where, error.what()));
  }
  printTable(toTextTable(table), args.format, std::cout);
  return kOk;
}

int showCommand(const GlobalOptions& global, const std::string& run_ref) {
  const auto store = openExistingStore(global);
  const std::string run = store->resolveRun(run_ref);
  const auto runs = store->query(
      "SELECT uuid, name, kind, status, datetime(started_at, 'unixepoch') AS "
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
  printSection("evaluations:", *store,
               "SELECT e.id, datetime(e.created_at, 'unixepoch') AS created, "
               "e.checkpoint, e.split, (SELECT round(value, 2) FROM "
               "evaluation_metrics WHERE evaluation = e.id AND key = 'mAP') "
               "AS mAP, e.scores_path FROM evaluations e WHERE e.run = ?1 "
               "ORDER BY e.id",
               run);
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

int prepareCommand(const GlobalOptions& global, const PrepareArgs& args) {
  const plugins::PluginHost host = loadPlugins(global);
  const train::ResolvedSpec spec =
      train::resolveSpec(args.spec, args.overrides, host);
  const std::string spec_dir = fs::path(spec.path).parent_path().string();
  for (const std::string split : {"train", "val"}) {
    if (!args.split.empty() && args.split != split) continue;
    data::LabelLoadReport report;
    const data::LabelSet labels =
        data::loadLabels(spec.tree, split, spec_dir, &report);
    const std::string took = fmt::format("{:.3f} s ({:.3f} s cpu)",
                                         report.seconds, report.cpu_seconds);
    const std::string how =
        report.cache_file.empty()
            ? fmt::format("parsed in {} (cache off)", took)
        : report.cache_hit
            ? fmt::format("read from the cache in {}: {}", took,
                          report.cache_file)
            : fmt::format("parsed in {}, cached: {}", took, report.cache_file);
    std::cout << fmt::format(
        "{}: {} images, {} classes, {} positive and {} ignored labels from "
        "{}; {}\n",
        split, labels.image_paths.size(), labels.class_names.size(),
        report.positives, report.ignored, report.annotations, how);
  }
  return kOk;
}

}  // namespace labrun::cli
