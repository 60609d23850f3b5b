// Deadline-bounded polling for tests, so that none waits on a fixed sleep:
// a condition another thread or process brings about is polled until it
// holds or a generous limit passes (the limit only matters when a test fails).
#pragma once

#include <chrono>
#include <thread>

namespace frugal::testing {

using PollClock = std::chrono::steady_clock;

// Polls `pred` until it holds or `limit` passes, sleeping `pause` between
// polls; true if it held (it is checked once more at the deadline).
template <class Pred>
bool eventually(Pred pred, PollClock::duration limit = std::chrono::seconds(30),
                PollClock::duration pause = std::chrono::milliseconds(5)) {
  const auto deadline = PollClock::now() + limit;
  while (PollClock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(pause);
  }
  return pred();
}

// The same, yielding instead of sleeping: for tests on a FakeClock, whose
// other threads act as soon as they run, with no real time to wait out.
template <class Pred>
bool spin_until(Pred pred, PollClock::duration limit = std::chrono::seconds(30)) {
  const auto deadline = PollClock::now() + limit;
  while (PollClock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::yield();
  }
  return pred();
}

}  // namespace frugal::testing
