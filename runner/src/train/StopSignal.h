// Graceful stop on SIGINT/SIGTERM: the first signal asks the training loop
// to finish its step, checkpoint and stop; a second one aborts at once.
#pragma once

#include <csignal>

namespace labrun::train {

class StopSignal {
 public:
  // Installs the handlers; the previous ones come back on destruction.
  StopSignal();
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  static bool requested();
  // The signal number that asked to stop (0 when none).
  static int signal();

 private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

}  // namespace labrun::train
