#include "train/StopSignal.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>

namespace labrun::train {
namespace {

std::atomic<int> g_signal{0};

void onSignal(int number) {
  if (g_signal.exchange(number) != 0) {
    // Second signal: the user wants out now. Only async-signal-safe calls.
    constexpr char kMessage[] = "\nlabrun: second signal, aborting now\n";
    (void)!::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
    std::_Exit(128 + number);
  }
  constexpr char kMessage[] =
      "\nlabrun: stopping after this step (checkpoint, then exit); "
      "signal again to abort now\n";
  (void)!::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
}

}  // namespace

StopSignal::StopSignal() {
  g_signal = 0;
  struct sigaction action {};
  action.sa_handler = onSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &previous_int_);
  sigaction(SIGTERM, &action, &previous_term_);
}

StopSignal::~StopSignal() {
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
}

bool StopSignal::requested() { return g_signal.load() != 0; }

int StopSignal::signal() { return g_signal.load(); }

}  // namespace labrun::train
