// A fake for the library's clock seam (api/src/clock.h): time moves only
// when the library sleeps, every sleep is recorded and returns at once, and
// the random source replays queued values. Installed for its lifetime.
#ifndef PK_TESTS_FAKE_CLOCK_H
#define PK_TESTS_FAKE_CLOCK_H

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "clock.h"

namespace pktest {

class FakeClock {
  public:
    FakeClock() {
        ops_.now_ms = &FakeClock::Now;
        ops_.sleep_ms = &FakeClock::Sleep;
        ops_.random = &FakeClock::Random;
        ops_.ctx = this;
        pk__clock_set_for_test(&ops_);
    }
    ~FakeClock() { pk__clock_set_for_test(nullptr); }
    FakeClock(const FakeClock&) = delete;
    FakeClock& operator=(const FakeClock&) = delete;

    // Every sleep asked for, in order (ms).
    std::vector<uint64_t> Sleeps() {
        std::lock_guard<std::mutex> lock(mu_);
        return sleeps_;
    }
    uint64_t NowMs() {
        std::lock_guard<std::mutex> lock(mu_);
        return now_;
    }
    // Values the random source returns, in order; 0.5 once they run out.
    void QueueRandom(const std::vector<double>& values) {
        std::lock_guard<std::mutex> lock(mu_);
        randoms_.insert(randoms_.end(), values.begin(), values.end());
    }
    int RandomCalls() {
        std::lock_guard<std::mutex> lock(mu_);
        return random_calls_;
    }
    // Called (outside the lock) at each sleep, after time has moved.
    void OnSleep(std::function<void(uint64_t ms, int cancel_fd)> fn) {
        std::lock_guard<std::mutex> lock(mu_);
        on_sleep_ = std::move(fn);
    }

  private:
    static uint64_t Now(void* ctx) { return static_cast<FakeClock*>(ctx)->NowMs(); }
    static void Sleep(void* ctx, uint64_t ms, int cancel_fd) {
        FakeClock* self = static_cast<FakeClock*>(ctx);
        std::function<void(uint64_t, int)> fn;
        {
            std::lock_guard<std::mutex> lock(self->mu_);
            self->sleeps_.push_back(ms);
            self->now_ += ms;
            fn = self->on_sleep_;
        }
        if (fn)
            fn(ms, cancel_fd);
    }
    static double Random(void* ctx) {
        FakeClock* self = static_cast<FakeClock*>(ctx);
        std::lock_guard<std::mutex> lock(self->mu_);
        self->random_calls_++;
        if (self->randoms_.empty())
            return 0.5;
        double r = self->randoms_.front();
        self->randoms_.pop_front();
        return r;
    }

    pk_clock_ops ops_{};
    std::mutex mu_;
    uint64_t now_ = 1000000;  // arbitrary, far from 0
    std::vector<uint64_t> sleeps_;
    std::deque<double> randoms_;
    int random_calls_ = 0;
    std::function<void(uint64_t, int)> on_sleep_;
};

}  // namespace pktest

#endif
