#include "dist/Launcher.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <thread>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <vector>

#include "dist/Group.h"
#include "dist/WorldInfo.h"
#include "spec/SpecError.h"
#include "store/RunStore.h"
#include "util/SysInfo.h"

extern char** environ;

namespace labrun::dist {
namespace {

volatile sig_atomic_t g_signal = 0;
void onSignal(int signal) { g_signal = signal; }

// This process's own arguments, to start the workers with.
std::vector<std::string> ownArguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all{std::istreambuf_iterator<char>(in), {}};
  std::vector<std::string> args;
  for (std::size_t start = 0; start < all.size();) {
    const std::size_t end = all.find('\0', start);
    args.push_back(all.substr(start, end - start));
    start = end == std::string::npos ? all.size() : end + 1;
  }
  return args;
}

std::string describeEnd(int status) {
  if (WIFSIGNALED(status)) {
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status),
                       ::strsignal(WTERMSIG(status)));
  }
  return fmt::format("exited with code {}", WEXITSTATUS(status));
}

bool succeeded(int status) {
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct Worker {
  int rank = 0;
  pid_t pid = -1;
  bool running = true;
  int status = 0;
};

// Starts `args` with `world`'s variables added to the environment. The
// child gets its own process group (the launcher passes signals on once)
// and dies with the launcher.
pid_t startWorker(const std::vector<std::string>& args,
                  const WorldInfo& world) {
  // Everything is built before fork: the child only calls async-signal-safe
  // functions.
  // The worker's place replaces any variable of the same name (a stale
  // place in some other group); everything else is passed on as it is,
  // since the worker reads the spec again and its ${env:NAME} values must
  // be the launcher's.
  std::vector<std::string> env = world.environment();
  const std::size_t place_count = env.size();
  const auto isPlace = [&](const char* entry) {
    for (std::size_t i = 0; i < place_count; ++i) {
      const std::size_t name_end = env[i].find('=') + 1;
      if (std::strncmp(entry, env[i].c_str(), name_end) == 0) return true;
    }
    return false;
  };
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (!isPlace(*entry)) env.emplace_back(*entry);
  }
  std::vector<char*> argv, envp;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  for (const auto& entry : env)
    envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("cannot start a worker: fork failed");
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);  // the launcher is already gone
    ::execve("/proc/self/exe", argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

// Marks the run that rank 0 announced FAILED, when rank 0 died before it
// could (killed); a run rank 0 ended itself is left as it is.
void markRunFailed(c10d::Store& store, const std::string& db_path,
                   const std::string& why, std::ostream& log) {
  if (!store.check({Group::valueKey("run")})) return;  // none recorded yet
  const auto value = store.get(Group::valueKey("run"));
  const std::string uuid(value.begin(), value.end());
  auto runs = store::RunStore::open(db_path);
  if (store.check({Group::valueKey("claim")})) {
    const auto claim = store.get(Group::valueKey("claim"));
    runs->actFor(uuid, std::stoll(std::string(claim.begin(), claim.end())));
  }
  if (runs->storedStatus(uuid) != "RUNNING") return;
  try {
    runs->finishRun(uuid, "FAILED", why);
  } catch (const store::StoreClaimLost& lost) {
    // Resumed by another process meanwhile: its run now.
    log << fmt::format("labrun: run {} left as it is: {}\n", uuid, lost.what());
    return;
  }
  log << fmt::format("labrun: run {} FAILED: {}\n", uuid, why);
}

}  // namespace

Launcher::Launcher(LaunchOptions options, std::string db_path)
    : options_(std::move(options)), db_path_(std::move(db_path)) {
  if (options_.nproc < 1 || options_.nnodes < 1 || options_.node_rank < 0 ||
      options_.node_rank >= options_.nnodes) {
    throw spec::SpecError(fmt::format(
        "--nproc {} --nnodes {} --node-rank {}: expected nproc >= 1, nnodes "
        ">= 1 and 0 <= node-rank < nnodes",
        options_.nproc, options_.nnodes, options_.node_rank));
  }
  if (options_.master.empty()) {
    if (options_.nnodes > 1) {
      throw spec::SpecError(
          "--nnodes > 1 needs --master HOST:PORT (node 0's address and a "
          "free port)");
    }
    host_ = "127.0.0.1";  // port 0: the store picks a free one
    return;
  }
  const std::size_t colon = options_.master.rfind(':');
  int port = 0;
  try {
    port = colon == std::string::npos
               ? 0
               : std::stoi(options_.master.substr(colon + 1));
  } catch (const std::exception&) {
    port = 0;
  }
  if (colon == 0 || port < 1 || port > 65535) {
    throw spec::SpecError(
        fmt::format("--master '{}': expected HOST:PORT with a port in 1..65535",
                    options_.master));
  }
  host_ = options_.master.substr(0, colon);
  port_ = port;
}

int Launcher::run(std::ostream& log) {
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<std::uint16_t>(port_);
  store_options.isServer = options_.node_rank == 0;
  store_options.waitWorkers = false;
  store_options.timeout = std::chrono::seconds(300);
  auto store = c10::make_intrusive<c10d::TCPStore>(host_, store_options);

  const std::vector<std::string> args = ownArguments();
  std::vector<Worker> workers;
  struct sigaction action {
  }, previous_int{}, previous_term{};
  action.sa_handler = onSignal;
  ::sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &previous_int);
  ::sigaction(SIGTERM, &action, &previous_term);
  g_signal = 0;
  for (int local = 0; local < options_.nproc; ++local) {
    WorldInfo world;
    world.rank = options_.node_rank * options_.nproc + local;
    world.world_size = options_.nproc * options_.nnodes;
    world.local_rank = local;
    world.local_world_size = options_.nproc;
    world.master_addr = host_;
    world.master_port = store->getPort();
    Worker worker;
    worker.rank = world.rank;
    worker.pid = startWorker(args, world);
    log << fmt::format("labrun: rank {} of {} started as pid {}\n", world.rank,
                       world.world_size, worker.pid);
    workers.push_back(worker);
  }
  log.flush();

  std::string first_loss;
  int exit_code = 0;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  bool stopping = false;  // a signal was passed on: workers end on purpose
  auto running = [&] {
    return std::any_of(workers.begin(), workers.end(),
                       [](const Worker& w) { return w.running; });
  };
  while (running()) {
    if (const int signal = g_signal; signal != 0) {
      g_signal = 0;
      stopping = true;
      for (const Worker& w : workers) {
        if (w.running) ::kill(w.pid, signal);
      }
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      if (deadline && std::chrono::steady_clock::now() > *deadline) {
        for (const Worker& w : workers) {
          if (!w.running) continue;
          log << fmt::format(
              "labrun: rank {} (pid {}) did not stop within {} s; killing "
              "it\n",
              w.rank, w.pid, options_.grace.count());
          ::kill(w.pid, SIGKILL);
        }
        deadline.reset();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    for (Worker& w : workers) {
      if (w.pid != pid) continue;
      w.running = false;
      w.status = status;
      if (succeeded(status) || !first_loss.empty()) break;
      first_loss = fmt::format("rank {} (pid {} on {}) {}", w.rank, w.pid,
                               util::hostName(), describeEnd(status));
      exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
      try {
        // A worker that failed on its own said why (see runWorker).
        const std::string said =
            Group::valueKey("error/" + std::to_string(w.rank));
        if (store->check({said})) {
          const auto why = store->get(said);
          first_loss += ": " + std::string(why.begin(), why.end());
        }
        // The note the other workers' failed collectives quote.
        if (!store->check({Group::failedKey()})) {
          const std::string& note = first_loss;
          store->set(Group::failedKey(), {note.begin(), note.end()});
        }
      } catch (const std::exception& error) {
        log << "labrun: warning: cannot reach the rendezvous: " << error.what()
            << "\n";
      }
      if (running() && !stopping) {
        log << fmt::format("labrun: {}; stopping the other workers\n",
                           first_loss);
        deadline = std::chrono::steady_clock::now() + options_.grace;
      }
      break;
    }
  }
  ::sigaction(SIGINT, &previous_int, nullptr);
  ::sigaction(SIGTERM, &previous_term, nullptr);
  if (options_.node_rank == 0 && !succeeded(workers.front().status)) {
    markRunFailed(*store, db_path_,
                  first_loss.empty()
                      ? "rank 0 " + describeEnd(workers.front().status)
                      : "lost " + first_loss,
                  log);
  }
  return exit_code;
}

}  // namespace labrun::dist
