// Data-parallel runs of the real `labrun` binary on loopback: 2 processes
// against 1 with the same global batch, and a worker killed mid-run.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <thread>

#include "store/RunStore.h"
#include "util/UsableCores.h"

namespace {
namespace fs = std::filesystem;

// A small model without BatchNorm (its statistics are per rank), on the
// synthetic set; per-process batch and world size vary by test.
const std::string kSpec = std::string(LABRUN_SOURCE_DIR) +
                          "/experiments/smoke.yaml model.backbone.batch_norm="
                          "false threads=1 eval.sanity_batches=0 "
                          "train.log_every=0 -q";

std::string slurp(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

class DistributedRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / "labrun_dist" / info->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }

  // The shell line of `labrun ARGS` in the test's folder, with
  // `environment` ("NAME=VALUE ..." or empty) set for it.
  std::string command(const std::string& args, const std::string& log,
                      const std::string& environment = "") const {
    return "cd '" + dir_.string() + "' && " + environment + "exec '" +
           LABRUN_BINARY + "' --db runs.db " + args + " >'" + log +
           ".out' 2>'" + log + ".err'";
  }

  // Runs `labrun ARGS` to its end; returns its exit code. Output goes to
  // LOG.out and LOG.err in the test's folder.
  int labrun(const std::string& args, const std::string& log) const {
    const int status = std::system(command(args, log).c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Starts `labrun ARGS` in the background (command()); returns its pid.
  pid_t start(const std::string& args, const std::string& log,
              const std::string& environment = "") const {
    const std::string line = command(args, log, environment);
    const pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/sh", "sh", "-c", line.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    return pid;
  }

  // Starts `labrun ARGS` with the kill shim (KillAtIo.cpp) freezing rank 0
  // (SIGSTOP) once its checkpoint of `step` is in place, and returns the
  // launcher's pid when rank 0 is frozen there. The other rank then waits
  // in its next collective, so the test acts on the group at the same point
  // on any machine, however fast or loaded; it resumes rank 0 with SIGCONT.
  pid_t startFrozenAt(int step, const std::string& args,
                      const std::string& log) const {
    char checkpoint[32];
    std::snprintf(checkpoint, sizeof(checkpoint), "step-%08d.pt", step);
    const pid_t launcher =
        start(args, log,
              std::string("LD_PRELOAD='") + LABRUN_KILL_SHIM +
                  "' LABRUN_SIGNAL_AFTER_RENAME='STOP:" + checkpoint + "' ");
    // Waits on states that last until the test acts, not on a race.
    for (;;) {
      int status = 0;
      if (waitpid(launcher, &status, WNOHANG) == launcher) {
        ADD_FAILURE() << "the run ended before rank 0 froze at step " << step
                      << ":\n"
                      << err(log);
        return -1;
      }
      const pid_t rank0 = workerPid(log, 0);
      if (rank0 > 0 && isFrozen(rank0)) return launcher;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  // Whether `pid` is stopped by a signal (state 'T' in /proc/PID/stat).
  static bool isFrozen(pid_t pid) {
    const std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    const std::size_t paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() &&
           stat[paren + 2] == 'T';
  }

  // Waits for the launcher to end; returns its wait status.
  static int waitFor(pid_t launcher) {
    int status = 0;
    waitpid(launcher, &status, 0);
    return status;
  }

  std::string err(const std::string& log) const {
    return slurp(dir_ / (log + ".err"));
  }

  std::vector<std::vector<std::string>> query(const std::string& sql) const {
    auto store = labrun::store::RunStore::open((dir_ / "runs.db").string(),
                                               /*read_only=*/true);
    std::vector<std::vector<std::string>> rows;
    for (const auto& row : store->query(sql).rows) {
      rows.emplace_back();
      for (const auto& value : row) rows.back().push_back(value.value_or(""));
    }
    return rows;
  }

  std::string one(const std::string& sql) const {
    const auto rows = query(sql);
    return rows.empty() ? "" : rows[0][0];
  }

  // Starts a 2-process run "cut" far longer than any test needs, frozen as
  // startFrozenAt() says at its first checkpoint (step 20).
  pid_t startLongGroupRunFrozen() const {
    return startFrozenAt(/*step=*/20,
                         "run " + kSpec +
                             " data.synthetic.train_size=2048 train.epochs=20 "
                             "data.batch_size=4 checkpoint.every_steps=20 "
                             "name=cut --nproc 2",
                         "cut");
  }

  // The pid the launcher reported for `rank`.
  pid_t workerPid(const std::string& log, int rank) const {
    const std::regex line("rank " + std::to_string(rank) +
                          " of \\d+ started as pid (\\d+)");
    std::smatch match;
    const std::string text = err(log);
    return std::regex_search(text, match, line) ? std::stoi(match[1]) : -1;
  }

  // The tensors of a module's archive (nested per submodule), by name.
  static void collect(torch::serialize::InputArchive& archive,
                      const std::string& prefix,
                      std::map<std::string, torch::Tensor>& named) {
    for (const auto& key : archive.keys()) {
      torch::Tensor value;
      torch::serialize::InputArchive child;
      if (archive.try_read(key, value)) {
        named[prefix + key] = value;
      } else if (archive.try_read(key, child)) {
        collect(child, prefix + key + ".", named);
      }
    }
  }

  // The model parameters of a labrun checkpoint, by name.
  static std::map<std::string, torch::Tensor> weights(const std::string& path) {
    torch::serialize::InputArchive archive, model;
    archive.load_from(path);
    archive.read("model", model);
    std::map<std::string, torch::Tensor> named;
    collect(model, "", named);
    return named;
  }

  std::string lastCheckpoint(const std::string& name) const {
    return one(
        "SELECT c.path FROM checkpoints c JOIN runs r ON r.uuid = c.run WHERE "
        "r.name = '" +
        name + "' ORDER BY c.step DESC LIMIT 1");
  }

  std::vector<std::string> series(const std::string& name,
                                  const std::string& key) const {
    std::vector<std::string> lines;
    for (const auto& row : query(
             "SELECT m.step || '=' || printf('%.17g', m.value) FROM metrics m "
             "JOIN runs r ON r.uuid = m.run WHERE r.name = '" +
             name + "' AND m.key = '" + key + "' ORDER BY m.step")) {
      lines.push_back(row[0]);
    }
    return lines;
  }

  fs::path dir_;
};

TEST_F(DistributedRunTest, TwoProcessesMatchOneWithTheSameGlobalBatch) {
  // 64 images in global batches of 8: 8 steps, Adam. 51 validation images
  // do not split evenly, so rank 1 reads one padded sample.
  const std::string data =
      " data.synthetic.train_size=64 data.synthetic.val_size=51 "
      "train.epochs=1";
  ASSERT_EQ(
      labrun("run " + kSpec + data + " data.batch_size=8 name=one", "one"), 0)
      << err("one");
  ASSERT_EQ(
      labrun("run " + kSpec + data + " data.batch_size=4 name=two --nproc 2",
             "two"),
      0)
      << err("two");
  EXPECT_EQ(one("SELECT world_size FROM runs WHERE name = 'two'"), "2");
  EXPECT_EQ(one("SELECT world_size FROM runs WHERE name = 'one'"), "1");
  EXPECT_EQ(series("two", "train/loss").size(), 8u);

  // A control: one process with the per-rank batch trains differently.
  ASSERT_EQ(
      labrun("run " + kSpec + data + " data.batch_size=4 name=small", "small"),
      0)
      << err("small");

  const auto single = weights(lastCheckpoint("one"));
  const auto parallel = weights(lastCheckpoint("two"));
  const auto small = weights(lastCheckpoint("small"));
  ASSERT_EQ(single.size(), parallel.size());
  ASSERT_FALSE(single.empty());
  double worst = 0, control = 0;
  for (const auto& [name, value] : single) {
    worst =
        std::max(worst, (value - parallel.at(name)).abs().max().item<double>());
    control =
        std::max(control, (value - small.at(name)).abs().max().item<double>());
  }
  // Summed in another order, the gradients differ in their last bits, and
  // Adam's normalisation can amplify that where a gradient is near zero;
  // the bound is relative to how far the batch size alone moves them.
  EXPECT_GT(control, 1e-3);
  EXPECT_LE(worst, 1e-3 * control);
  std::cout << "max |w1 - w2| = " << worst << " (control " << control << ")\n";

  // The validation mAP over the whole set (gathered from both ranks) equals
  // a single process's mAP for the same weights.
  ASSERT_EQ(labrun("eval two --checkpoint last", "eval"), 0) << err("eval");
  const double gathered = std::stod(
      one("SELECT m.value FROM metrics m JOIN runs r ON r.uuid = m.run WHERE "
          "r.name = 'two' AND m.key = 'val/mAP'"));
  const double alone =
      std::stod(one("SELECT value FROM evaluation_metrics WHERE key = 'mAP'"));
  EXPECT_NEAR(gathered, alone, 1e-9);
  std::cout << "val/mAP gathered " << gathered << ", one process " << alone
            << "\n";
  EXPECT_EQ(one("SELECT count(*) FROM class_metrics c JOIN runs r ON "
                "r.uuid = c.run WHERE r.name = 'two'"),
            "8");
}

TEST_F(DistributedRunTest, WorkersReadTheSpecWithTheLaunchersEnvironment) {
  // Each worker loads the spec again: a ${env:NAME} must read what the
  // launcher was given, whatever the name (LABRUN_* included). With
  // threads: auto each of the 2 workers takes half the usable cores.
  std::ofstream(dir_ / "env.yaml")
      << "extends: " LABRUN_SOURCE_DIR
         "/experiments/smoke.yaml\n"
         "optim:\n  lr: ${env:LABRUN_TEST_LR,0.003}\n";
  ::setenv("LABRUN_TEST_LR", "0.02", 1);
  const int code = labrun(
      "run env.yaml model.backbone.batch_norm=false threads=auto "
      "data.synthetic.train_size=16 data.synthetic.val_size=8 "
      "train.epochs=1 -q --nproc 2",
      "env");
  ::unsetenv("LABRUN_TEST_LR");
  ASSERT_EQ(code, 0) << err("env");
  EXPECT_EQ(one("SELECT value FROM params WHERE key = 'optim.lr'"), "0.02");
  const std::string threads =
      std::to_string(std::max(1, labrun::util::usableCores() / 2));
  EXPECT_NE(slurp(dir_ / "env.out").find(threads + " threads x 2 processes"),
            std::string::npos)
      << slurp(dir_ / "env.out");
}

TEST_F(DistributedRunTest, LostWorkerStopsTheOtherAndResumeCompletes) {
  // With BatchNorm, whose running statistics each rank updates from its own
  // batches and only rank 0's checkpoint keeps: every rank evaluates with
  // rank 0's, so the resumed group's validation is the uninterrupted one's.
  const std::string args =
      "run " + kSpec +
      " model.backbone.batch_norm=true "
      "data.synthetic.train_size=768 data.synthetic.val_size=64 "
      "data.batch_size=4 train.epochs=3 checkpoint.every_steps=20 "
      "--nproc 2";
  ASSERT_EQ(labrun(args + " name=whole", "whole"), 0) << err("whole");

  // Rank 0 froze once its checkpoint of step 20 was in place; rank 1 is
  // killed while it waits for rank 0 in the next collective.
  const pid_t launcher = startFrozenAt(/*step=*/20, args + " name=cut", "cut");
  ASSERT_GT(launcher, 0);
  const pid_t victim = workerPid("cut", 1);
  ASSERT_GT(victim, 0) << err("cut");
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(workerPid("cut", 0), SIGCONT), 0);
  const int status = waitFor(launcher);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed)
          .count();
  // Not a timed assertion (the same verdict on any machine): a group that
  // hung would meet the test's ctest TIMEOUT instead.
  std::cout << "the group ended " << seconds << " s after the kill\n";
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  // Rank 0's own message names the rank it lost.
  EXPECT_NE(err("cut").find("rank 0: lost rank 1"), std::string::npos)
      << err("cut");
  EXPECT_EQ(one("SELECT status FROM runs WHERE name = 'cut'"), "FAILED");
  EXPECT_NE(one("SELECT error FROM runs WHERE name = 'cut'")
                .find("lost rank 1 (pid " + std::to_string(victim)),
            std::string::npos);
  EXPECT_EQ(kill(workerPid("cut", 0), 0), -1);  // no worker left behind

  ASSERT_EQ(labrun("resume cut -q", "resume"), 0) << err("resume");
  EXPECT_NE(err("resume").find("rank 1 of 2 started"), std::string::npos);
  // Rank 0 recorded the checkpoint it froze at before it met the loss.
  EXPECT_NE(slurp(dir_ / "resume.out").find("(step 20)"), std::string::npos)
      << slurp(dir_ / "resume.out");
  EXPECT_EQ(one("SELECT status || ' ' || resumes FROM runs WHERE name = "
                "'cut'"),
            "FINISHED 1");
  // From the last checkpoint on, the group repeats the uninterrupted run.
  EXPECT_EQ(series("cut", "train/loss"), series("whole", "train/loss"));
  EXPECT_EQ(series("cut", "val/mAP"), series("whole", "val/mAP"));
  EXPECT_EQ(series("cut", "val/loss"), series("whole", "val/loss"));
}

TEST_F(DistributedRunTest, LostRankZeroIsNamedAndMarkedByTheLauncher) {
  const pid_t launcher = startLongGroupRunFrozen();
  ASSERT_GT(launcher, 0);
  ASSERT_EQ(kill(workerPid("cut", 0), SIGKILL), 0);
  EXPECT_NE(waitFor(launcher), 0);
  EXPECT_NE(err("cut").find("rank 1: lost rank 0"), std::string::npos)
      << err("cut");
  EXPECT_EQ(one("SELECT status FROM runs WHERE name = 'cut'"), "FAILED");
  EXPECT_NE(
      one("SELECT error FROM runs WHERE name = 'cut'").find("rank 0 (pid"),
      std::string::npos);
}

TEST_F(DistributedRunTest, SigintStopsEveryRankAtTheSameStep) {
  // Ctrl-C reaches the launcher while rank 0 is frozen at step 20 and
  // rank 1 waits for it: the launcher passes it on, and rank 0 sees it
  // when it wakes.
  const pid_t launcher = startLongGroupRunFrozen();
  ASSERT_GT(launcher, 0);
  ASSERT_EQ(kill(launcher, SIGINT), 0);
  ASSERT_EQ(kill(workerPid("cut", 0), SIGCONT), 0);
  const int status = waitFor(launcher);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1);
  // Both ranks agreed on the step: rank 0 checkpointed it and stopped
  // cleanly, and rank 1 did not fail on a half-done collective.
  EXPECT_EQ(one("SELECT status FROM runs WHERE name = 'cut'"), "KILLED");
  EXPECT_EQ(one("SELECT max(c.step) = max(m.step) FROM checkpoints c, "
                "metrics m WHERE m.key = 'train/loss'"),
            "1");
  EXPECT_EQ(err("cut").find("lost rank"), std::string::npos) << err("cut");
}

// Whether `port` on loopback can be bound now.
bool portIsFree(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool free =
      bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return free;
}

// A free TCP port below the kernel's ephemeral range. Every other test (and
// single-node launcher) binds port 0, which the kernel serves from that
// range only, so none of them can take this port between the check and
// node 0's bind, as they could take one that port 0 handed out.
int freePort() {
  int ephemeral_low = 32768;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> ephemeral_low;
  const int low = 10000, high = std::max(low + 1, ephemeral_low);
  for (int i = 0; i < high - low; ++i) {
    const int port = low + (static_cast<int>(getpid()) + i) % (high - low);
    if (portIsFree(port)) return port;
  }
  ADD_FAILURE() << "no free port in [" << low << ", " << high << ")";
  return 0;
}

TEST_F(DistributedRunTest, TwoNodesMeetAtTheMaster) {
  // Two launchers as on two machines: node 1 connects to node 0's store.
  const std::string args =
      "run " + kSpec +
      " data.synthetic.train_size=128 train.epochs=1 --nproc 1 --nnodes 2 "
      "--master 127.0.0.1:" +
      std::to_string(freePort()) + " --node-rank ";
  const pid_t node1 = start(args + "1", "node1");
  ASSERT_EQ(labrun(args + "0", "node0"), 0) << err("node0");
  EXPECT_EQ(waitFor(node1), 0) << err("node1");
  EXPECT_NE(err("node1").find("rank 1 of 2 started"), std::string::npos);
  EXPECT_EQ(one("SELECT status || ' ' || world_size FROM runs"), "FINISHED 2");
}

TEST_F(DistributedRunTest, BadLaunchesAreSpecErrors) {
  EXPECT_EQ(
      labrun("run " + kSpec + " distributed.backend=nccl --nproc 2", "nccl"),
      2);
  EXPECT_NE(err("nccl").find("built without NCCL"), std::string::npos)
      << err("nccl");
  // One GPU for every worker: refused before any starts, GPU or not here.
  EXPECT_EQ(labrun("run " + kSpec + " device=cuda:1 --nproc 2", "gpu"), 2);
  EXPECT_NE(err("gpu").find("device: 'cuda:1': each worker of a data-parallel "
                            "run takes the GPU of its local rank"),
            std::string::npos)
      << err("gpu");
  EXPECT_EQ(err("gpu").find("started as pid"), std::string::npos) << err("gpu");
  EXPECT_EQ(labrun("run " + kSpec + " --nnodes 2", "master"), 2);
  EXPECT_NE(err("master").find("needs --master HOST:PORT"), std::string::npos)
      << err("master");
  EXPECT_EQ(labrun("run " + kSpec + " --nproc 2 --master nowhere", "port"), 2);
  EXPECT_NE(err("port").find("expected HOST:PORT"), std::string::npos);
  // A watched key no metric records: said once, by the launcher, before
  // any worker starts.
  EXPECT_EQ(
      labrun("run " + kSpec + " checkpoint.best_by=val/mAp --nproc 2", "typo"),
      2);
  const std::string typo = err("typo");
  const std::string message =
      "checkpoint.best_by: unknown validation key 'val/mAp'";
  ASSERT_NE(typo.find(message), std::string::npos) << typo;
  EXPECT_EQ(typo.find(message, typo.find(message) + 1), std::string::npos)
      << typo;
  EXPECT_EQ(typo.find("rank"), std::string::npos) << typo;
  EXPECT_FALSE(fs::exists(dir_ / "runs.db"));
}

}  // namespace
