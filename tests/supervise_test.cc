// pk_supervise with real processes. Backoff and storm-guard time run on a
// fake clock (so sequences are exact and tests fast); the stop-token tests
// use the real clock, since they time a real graceful stop.
//
// Every test leaves nothing behind: the fixture checks for children, cgroup
// leaves, fds and temp files, and puts the real clock back.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "processkit.h"
#include "support/fake_clock.h"
#include "support/file_util.h"
#include "support/pk_test.h"
#include "support/proc_util.h"

namespace {

using pktest::Cmd;
using pktest::Cancel;
using pktest::NewCancel;
using pktest::Sh;

using pktest::Clock;
using pktest::MsSince;

int LineCount(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    int n = 0;
    while (std::getline(in, line))
        n++;
    return n;
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// One event as the callback saw it; for EXITED, what its result said.
struct Ev {
    int32_t event;
    uint32_t restarts;
    uint32_t delay_ms;
    int32_t outcome = -1;    // EXITED only
    int32_t exit_code = -1;  // EXITED only
    bool has_result = false;
    bool operator==(const Ev& o) const {
        return event == o.event && restarts == o.restarts && delay_ms == o.delay_ms;
    }
};
std::ostream& operator<<(std::ostream& os, const Ev& e) {
    static const char* names[] = {"?", "STARTED", "EXITED", "RESTARTING", "STORM_PAUSE", "GAVE_UP", "STOPPED"};
    return os << "{" << (e.event >= 1 && e.event <= 6 ? names[e.event] : "?") << " r=" << e.restarts
              << " d=" << e.delay_ms << "}";
}
Ev E(int32_t event, uint32_t restarts, uint32_t delay = 0) { return Ev{event, restarts, delay}; }

// Records events; stop_when answers from a countdown.
struct Watcher {
    std::mutex mu;
    std::vector<Ev> events;
    int stop_after = -1;  // stop_when says stop on this call (1-based); -1 never
    int stop_calls = 0;
    std::vector<int32_t> stop_saw_codes;
    std::function<void(const Ev&)> on;

    std::vector<Ev> Events() {
        std::lock_guard<std::mutex> lock(mu);
        return events;
    }
    int Count(int32_t event) {
        int n = 0;
        for (const Ev& e : Events())
            n += e.event == event;
        return n;
    }
};

void OnEvent(void* user, int32_t event, uint32_t restarts, uint32_t delay_ms, pk_result* result) {
    Watcher* w = static_cast<Watcher*>(user);
    Ev e{event, restarts, delay_ms};
    if (result) {
        pk_run_info info = PK_RUN_INFO_INIT;
        e.has_result = pk_result_info(result, &info) == PK_OK;
        e.outcome = info.outcome;
        e.exit_code = info.exit_code;
    }
    std::function<void(const Ev&)> on;
    {
        std::lock_guard<std::mutex> lock(w->mu);
        w->events.push_back(e);
        on = w->on;
    }
    if (on)
        on(e);
}

int StopWhen(void* user, pk_result* result) {
    Watcher* w = static_cast<Watcher*>(user);
    pk_run_info info = PK_RUN_INFO_INIT;
    int32_t code = pk_result_info(result, &info) == PK_OK ? info.exit_code : -100;
    std::lock_guard<std::mutex> lock(w->mu);
    w->stop_saw_codes.push_back(code);
    return ++w->stop_calls == w->stop_after;
}

pk_supervise_options Opts(int32_t restart, uint32_t max_restarts) {
    pk_supervise_options o = PK_SUPERVISE_OPTIONS_INIT;
    o.restart = restart;
    o.max_restarts = max_restarts;
    o.jitter = 0;
    return o;
}

class Supervise : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        pk_containment c = PK_CONTAINMENT_INIT;
        (void)pk_host_probe(PK_BACKEND_AUTO, &c);
    }
    void SetUp() override {
        ASSERT_TRUE(pktest::NoChildren()) << "a child exists before the test";
        fds_before_ = pktest::OpenFdCount();
        tmp_.reset(new pktest::TempDir());
        count_ = tmp_->File("count");
    }
    void TearDown() override {
        clock_.reset();
        for (const pktest::ProcId& id : strays_)
            pktest::KillIfAlive(id);
        tmp_.reset();
        EXPECT_TRUE(pktest::NoChildren()) << "the test left a child process behind";
        EXPECT_TRUE(pktest::OurCgroupLeaves().empty()) << "the test left a cgroup behind";
        EXPECT_EQ(fds_before_, pktest::OpenFdCount()) << "the test leaked or closed fds";
    }
    pktest::FakeClock& Fake() {
        if (!clock_)
            clock_.reset(new pktest::FakeClock());
        return *clock_;
    }
    Cmd Counting(int code) { return Sh("echo x >> '" + count_ + "'; exit " + std::to_string(code)); }

    std::unique_ptr<pktest::TempDir> tmp_;
    std::unique_ptr<pktest::FakeClock> clock_;
    std::vector<pktest::ProcId> strays_;
    std::string count_;
    int fds_before_ = -1;
};

// ===========================================================================
// Restart policies

TEST_F(Supervise, OnFailureGivesUpAfterMaxRestarts) {
    pktest::FakeClock& clock = Fake();
    Cmd cmd = Counting(3);
    pk_supervise_options o = Opts(PK_RESTART_ON_FAILURE, 3);
    Watcher w;
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    ASSERT_PK_OK(pk_supervise(cmd.get(), &o, OnEvent, nullptr, &w, nullptr, &rep));
    EXPECT_EQ(4u, rep.runs);
    EXPECT_EQ(3u, rep.restarts);
    EXPECT_EQ(0u, rep.storm_pauses);
    EXPECT_EQ(PK_SUPERVISE_GAVE_UP, rep.stop_reason);
    EXPECT_EQ(4, LineCount(count_));
    using S = pk_supervise_event;
    std::vector<Ev> want = {
        E(PK_SUPERVISE_STARTED, 0),         E(PK_SUPERVISE_EXITED, 0), E(PK_SUPERVISE_RESTARTING, 1, 200),
        E(PK_SUPERVISE_STARTED, 1),         E(PK_SUPERVISE_EXITED, 1), E(PK_SUPERVISE_RESTARTING, 2, 400),
        E(PK_SUPERVISE_STARTED, 2),         E(PK_SUPERVISE_EXITED, 2), E(PK_SUPERVISE_RESTARTING, 3, 800),
        E(PK_SUPERVISE_STARTED, 3),         E(PK_SUPERVISE_EXITED, 3), E(S::PK_SUPERVISE_GAVE_UP, 3),
    };
    std::vector<Ev> got = w.Events();
    EXPECT_EQ(want, got);
    for (const Ev& e : got) {
        if (e.event == PK_SUPERVISE_EXITED) {
            EXPECT_TRUE(e.has_result) << "EXITED carries a usable result handle";
            EXPECT_EQ(PK_OUTCOME_EXITED, e.outcome);
            EXPECT_EQ(3, e.exit_code);
        } else {
            EXPECT_FALSE(e.has_result) << e;
        }
    }
    EXPECT_EQ((std::vector<uint64_t>{200, 400, 800}), clock.Sleeps());
}

TEST_F(Supervise, OnFailureStopsOnceARunSucceeds) {
    pktest::FakeClock& clock = Fake();
    ASSERT_TRUE(std::ofstream(count_).good());
    Cmd cmd = Sh("n=$(wc -l < '" + count_ + "'); echo x >> '" + count_ + "'; [ \"$n\" -ge 2 ]");
    pk_supervise_options o = Opts(PK_RESTART_ON_FAILURE, 0);
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    ASSERT_PK_OK(pk_supervise(cmd.get(), &o, nullptr, nullptr, nullptr, nullptr, &rep));
    EXPECT_EQ(3u, rep.runs);
    EXPECT_EQ(2u, rep.restarts);
    EXPECT_EQ(PK_SUPERVISE_EXITED, rep.stop_reason) << "the policy is satisfied";
    EXPECT_EQ((std::vector<uint64_t>{200, 400}), clock.Sleeps());
}

TEST_F(Supervise, AlwaysRestartsSuccessUntilStopWhenSaysStop) {
    pktest::FakeClock& clock = Fake();
    Cmd cmd = Counting(0);
    pk_supervise_options o = Opts(PK_RESTART_ALWAYS, 0);
    Watcher w;
    w.stop_after = 3;
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    ASSERT_PK_OK(pk_supervise(cmd.get(), &o, OnEvent, StopWhen, &w, nullptr, &rep));
    EXPECT_EQ(3u, rep.runs);
    EXPECT_EQ(2u, rep.restarts);
    EXPECT_EQ(PK_SUPERVISE_STOPPED, rep.stop_reason);
    EXPECT_EQ(3, w.stop_calls);
    EXPECT_EQ((std::vector<int32_t>{0, 0, 0}), w.stop_saw_codes) << "stop_when gets each run's result";
    // Successes do not grow the backoff: every restart waits the initial delay.
    EXPECT_EQ((std::vector<uint64_t>{200, 200}), clock.Sleeps());
    std::vector<Ev> got = w.Events();
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(E(PK_SUPERVISE_STOPPED, 2), got.back());
    EXPECT_EQ(1, w.Count(PK_SUPERVISE_STOPPED));
}

TEST_F(Supervise, AlwaysBackoffGrowsOnlyOverConsecutiveFailures) {
    pktest::FakeClock& clock = Fake();
    ASSERT_TRUE(std::ofstream(count_).good());
    // Runs 1, 2 fail, run 3 succeeds, runs 4, 5 fail ...
    Cmd cmd = Sh("n=$(wc -l < '" + count_ + "'); echo x >> '" + count_ + "'; [ \"$n\" -eq 2 ]");
    pk_supervise_options o = Opts(PK_RESTART_ALWAYS, 4);
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    ASSERT_PK_OK(pk_supervise(cmd.get(), &o, nullptr, nullptr, nullptr, nullptr, &rep));
    EXPECT_EQ(5u, rep.runs);
    EXPECT_EQ(PK_SUPERVISE_GAVE_UP, rep.stop_reason);
    EXPECT_EQ((std::vector<uint64_t>{200, 400, 200, 200}), clock.Sleeps());
}

TEST_F(Supervise, NeverRunsOnce) {
    pktest::FakeClock& clock = Fake();
    Cmd cmd = Counting(1);
    pk_supervise_options o = Opts(PK_RESTART_NEVER, 0);
    Watcher w;
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    ASSERT_PK_OK(pk_supervise(cmd.get(), &o, OnEvent, nullptr, &w, nullptr, &rep));
    EXPECT_EQ(1u, rep.runs);
    EXPECT_EQ(0u, rep.restarts);
    EXPECT_EQ(PK_SUPERVISE_EXITED, rep.stop_reason);
    EXPECT_EQ((std::vector<Ev>{E(PK_SUPERVISE_STARTED, 0), E(PK_SUPERVISE_EXITED, 0)}), w.Events());
    EXPECT_TRUE(clock.Sleeps().empty());
    EXPECT_EQ(1, LineCount(count_));
}

TEST_F(Supervise, StopWhenEndsEvenAFailingLoop) {
    Fake();
    Cmd cmd = Counting(1);
    pk_supervise_options o = Opts(PK_RESTART_ON_FAILURE, 0);
    Watcher w;
    w.stop_after = 2;
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    ASSERT_PK_OK(pk_supervise(cmd.get(), &o, nullptr, StopWhen, &w, nullptr, &rep));
    EXPECT_EQ(2u, rep.runs);
    EXPECT_EQ(PK_SUPERVISE_STOPPED, rep.stop_reason);
    EXPECT_EQ((std::vector<int32_t>{1, 1}), w.stop_saw_codes);
}

TEST_F(Supervise, JitterScalesEachDelayByHalfToOneAndAHalf) {
    pktest::FakeClock& clock = Fake();
    clock.QueueRandom({0.0, 0.9999999, 0.5});
    Cmd cmd = Counting(1);
    pk_supervise_options o = Opts(PK_RESTART_ON_FAILURE, 3);
    o.jitter = 1;
    Watcher w;
    ASSERT_PK_OK(pk_supervise(cmd.get(), &o, OnEvent, nullptr, &w, nullptr, nullptr));
    const std::vector<uint64_t> base = {200, 400, 800};
    std::vector<uint64_t> sleeps = clock.Sleeps();
    ASSERT_EQ(3u, sleeps.size());
    for (size_t i = 0; i < 3; i++) {
        EXPECT_GE(sleeps[i], base[i] / 2) << i;
        EXPECT_LT(sleeps[i], base[i] * 3 / 2) << i;
    }
    EXPECT_EQ((std::vector<uint64_t>{100, 599, 800}), sleeps);
    // RESTARTING announces the jittered delay that is then slept.
    std::vector<uint64_t> announced;
    for (const Ev& e : w.Events())
        if (e.event == PK_SUPERVISE_RESTARTING)
            announced.push_back(e.delay_ms);
    EXPECT_EQ(sleeps, announced);
}

TEST_F(Supervise, BackoffIsCapped) {
    pktest::FakeClock& clock = Fake();
    Cmd cmd = Counting(1);
    pk_supervise_options o = Opts(PK_RESTART_ON_FAILURE, 5);
    o.backoff_initial_ms = 1000;
    o.backoff_multiplier = 3.0;
    o.backoff_max_ms = 5000;
    ASSERT_PK_OK(pk_supervise(cmd.get(), &o, nullptr, nullptr, nullptr, nullptr, nullptr));
    EXPECT_EQ((std::vector<uint64_t>{1000, 3000, 5000, 5000, 5000}), clock.Sleeps());
}

// ===========================================================================
// Storm guard

TEST_F(Supervise, StormGuardGivesUp) {
    pktest::FakeClock& clock = Fake();
    Cmd cmd = Counting(1);
    pk_supervise_options o = Opts(PK_RESTART_ON_FAILURE, 0);  // unlimited: only the guard stops it
    o.storm_restarts = 3;
    o.storm_window_ms = 10000;
    o.storm_action = PK_STORM_GIVE_UP;
    Watcher w;
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    ASSERT_PK_OK(pk_supervise(cmd.get(), &o, OnEvent, nullptr, &w, nullptr, &rep));
    EXPECT_EQ(4u, rep.runs) << "three restarts happen; the fourth would complete the storm";
    EXPECT_EQ(3u, rep.restarts);
    EXPECT_EQ(PK_SUPERVISE_GAVE_UP, rep.stop_reason);
    EXPECT_EQ(0u, rep.storm_pauses);
    std::vector<Ev> got = w.Events();
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(E(PK_SUPERVISE_GAVE_UP, 3), got.back());
    EXPECT_EQ((std::vector<uint64_t>{200, 400, 800}), clock.Sleeps());
}

TEST_F(Supervise, StormGuardPausesAndGoesOn) {
    pktest::FakeClock& clock = Fake();
    Cmd cmd = Counting(1);
    pk_supervise_options o = Opts(PK_RESTART_ON_FAILURE, 5);
    o.storm_restarts = 3;
    o.storm_window_ms = 10000;
    o.storm_action = PK_STORM_PAUSE;
    o.storm_pause_ms = 5000;
    Watcher w;
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    ASSERT_PK_OK(pk_supervise(cmd.get(), &o, OnEvent, nullptr, &w, nullptr, &rep));
    EXPECT_EQ(6u, rep.runs);
    EXPECT_EQ(5u, rep.restarts);
    EXPECT_EQ(1u, rep.storm_pauses);
    EXPECT_EQ(PK_SUPERVISE_GAVE_UP, rep.stop_reason) << "max_restarts ends it after the pause";
    // The pause, then the usual backoff (the failure streak goes on).
    EXPECT_EQ((std::vector<uint64_t>{200, 400, 800, 5000, 1600, 3200}), clock.Sleeps());
    std::vector<Ev> got = w.Events();
    std::vector<Ev> tail(got.begin() + 10, got.begin() + 14);
    EXPECT_EQ((std::vector<Ev>{E(PK_SUPERVISE_EXITED, 3), E(PK_SUPERVISE_STORM_PAUSE, 3, 5000),
                               E(PK_SUPERVISE_RESTARTING, 4, 1600), E(PK_SUPERVISE_STARTED, 4)}),
              tail);
    EXPECT_EQ(1, w.Count(PK_SUPERVISE_STORM_PAUSE));
}

TEST_F(Supervise, SlowRestartsDoNotTripTheStormGuard) {
    pktest::FakeClock& clock = Fake();
    Cmd cmd = Counting(1);
    pk_supervise_options o = Opts(PK_RESTART_ON_FAILURE, 5);
    o.backoff_initial_ms = 6000;
    o.backoff_multiplier = 1.0;
    o.storm_restarts = 3;
    o.storm_window_ms = 10000;
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    ASSERT_PK_OK(pk_supervise(cmd.get(), &o, nullptr, nullptr, nullptr, nullptr, &rep));
    EXPECT_EQ(6u, rep.runs) << "3 restarts span 12 s > 10 s: the guard never trips";
    EXPECT_EQ(PK_SUPERVISE_GAVE_UP, rep.stop_reason);
    EXPECT_EQ(5u, clock.Sleeps().size());
}

// ===========================================================================
// Stopping

TEST_F(Supervise, StopTokenFromAnotherThreadEndsALongRunGracefully) {
    Cancel stop = NewCancel();
    std::string pids = tmp_->File("pids");
    // The shell traps TERM and exits; its child sleeps.
    Cmd cmd = Sh("trap 'exit 0' TERM; sleep 30 & echo $$ $! > '" + pids + ".tmp'; mv '" + pids + ".tmp' '" + pids +
                 "'; wait");
    pk_supervise_options o = Opts(PK_RESTART_ALWAYS, 0);
    Watcher w;
    pktest::ProcId sh_id, sleep_id;
    std::thread stopper([&] {
        for (int i = 0; i < 1000 && !Exists(pids); i++)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        std::ifstream in(pids);
        pid_t a = 0, b = 0;
        in >> a >> b;
        sh_id = pktest::Identify(a);
        sleep_id = pktest::Identify(b);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        EXPECT_EQ(PK_OK, pk_cancel_trigger(stop.get()));
    });
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    auto t0 = Clock::now();
    int rc = pk_supervise(cmd.get(), &o, OnEvent, nullptr, &w, stop.get(), &rep);
    int64_t took = MsSince(t0);
    stopper.join();
    strays_ = {sh_id, sleep_id};
    ASSERT_EQ(PK_OK, rc) << pk_last_error();
    EXPECT_LT(took, 5000) << "TERM is handled at once; no SIGKILL grace needed";
    EXPECT_EQ(1u, rep.runs);
    EXPECT_EQ(0u, rep.restarts);
    EXPECT_EQ(PK_SUPERVISE_STOPPED, rep.stop_reason);
    std::vector<Ev> got = w.Events();
    EXPECT_EQ((std::vector<Ev>{E(PK_SUPERVISE_STARTED, 0), E(PK_SUPERVISE_EXITED, 0), E(PK_SUPERVISE_STOPPED, 0)}),
              got);
    ASSERT_NE(0u, sh_id.start_time);
    ASSERT_NE(0u, sleep_id.start_time);
    EXPECT_TRUE(pktest::WaitDead(sh_id, 1000)) << "the shell survived";
    EXPECT_TRUE(pktest::WaitDead(sleep_id, 1000)) << "its child survived";
}

TEST_F(Supervise, StopEscalatesToKillAfterTheGrace) {
    Cancel stop = NewCancel();
    std::string pids = tmp_->File("pids");
    // Everything ignores TERM (an ignored signal stays ignored across exec).
    Cmd cmd = Sh("trap '' TERM; sleep 30 & echo $$ $! > '" + pids + ".tmp'; mv '" + pids + ".tmp' '" + pids +
                 "'; wait");
    pk_supervise_options o = Opts(PK_RESTART_ALWAYS, 0);
    Watcher w;
    pktest::ProcId sh_id, sleep_id;
    std::thread stopper([&] {
        for (int i = 0; i < 1000 && !Exists(pids); i++)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        std::ifstream in(pids);
        pid_t a = 0, b = 0;
        in >> a >> b;
        sh_id = pktest::Identify(a);
        sleep_id = pktest::Identify(b);
        EXPECT_EQ(PK_OK, pk_cancel_trigger(stop.get()));
    });
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    auto t0 = Clock::now();
    int rc = pk_supervise(cmd.get(), &o, OnEvent, nullptr, &w, stop.get(), &rep);
    int64_t took = MsSince(t0);
    stopper.join();
    strays_ = {sh_id, sleep_id};
    ASSERT_EQ(PK_OK, rc) << pk_last_error();
    EXPECT_GE(took, 1900) << "the tree gets its 2 s grace";
    EXPECT_LT(took, 8000);
    EXPECT_EQ(PK_SUPERVISE_STOPPED, rep.stop_reason);
    std::vector<Ev> got = w.Events();
    ASSERT_EQ(3u, got.size());
    EXPECT_EQ(PK_SUPERVISE_EXITED, got[1].event);
    EXPECT_EQ(PK_OUTCOME_CANCELLED, got[1].outcome) << "the SIGKILL ends the run as cancelled";
    EXPECT_TRUE(pktest::WaitDead(sh_id, 1000));
    EXPECT_TRUE(pktest::WaitDead(sleep_id, 1000));
}

TEST_F(Supervise, StopTokenDuringBackoffEndsTheWait) {
    Cancel stop = NewCancel();
    Cmd cmd = Counting(1);
    pk_supervise_options o = Opts(PK_RESTART_ON_FAILURE, 0);
    o.backoff_initial_ms = 60000;  // real clock: a minute
    o.backoff_max_ms = 60000;
    Watcher w;
    pk_cancel* raw = stop.get();
    std::thread stopper;
    w.on = [&](const Ev& e) {
        if (e.event == PK_SUPERVISE_RESTARTING)
            stopper = std::thread([raw] {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                EXPECT_EQ(PK_OK, pk_cancel_trigger(raw));
            });
    };
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    auto t0 = Clock::now();
    ASSERT_PK_OK(pk_supervise(cmd.get(), &o, OnEvent, nullptr, &w, stop.get(), &rep));
    if (stopper.joinable())
        stopper.join();
    EXPECT_LT(MsSince(t0), 10000);
    EXPECT_EQ(1u, rep.runs);
    EXPECT_EQ(PK_SUPERVISE_STOPPED, rep.stop_reason);
    EXPECT_EQ((std::vector<Ev>{E(PK_SUPERVISE_STARTED, 0), E(PK_SUPERVISE_EXITED, 0),
                               E(PK_SUPERVISE_RESTARTING, 1, 60000), E(PK_SUPERVISE_STOPPED, 0)}),
              w.Events());
}

TEST_F(Supervise, CommandTokenDuringBackoffEndsTheWaitToo) {
    Cancel stop = NewCancel();   // watched, never triggered
    Cancel token = NewCancel();  // the command's own
    Cmd cmd = Counting(1);
    ASSERT_PK_OK(pk_command_cancel_on(cmd.get(), token.get()));
    pk_supervise_options o = Opts(PK_RESTART_ON_FAILURE, 0);
    o.backoff_initial_ms = 60000;  // real clock: a minute
    o.backoff_max_ms = 60000;
    Watcher w;
    pk_cancel* raw = token.get();
    std::thread canceller;
    w.on = [&](const Ev& e) {
        if (e.event == PK_SUPERVISE_RESTARTING)
            canceller = std::thread([raw] {
                std::this_thread::sleep_for(std::chrono::milliseconds(100));
                EXPECT_EQ(PK_OK, pk_cancel_trigger(raw));
            });
    };
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    auto t0 = Clock::now();
    ASSERT_PK_OK(pk_supervise(cmd.get(), &o, OnEvent, nullptr, &w, stop.get(), &rep));
    if (canceller.joinable())
        canceller.join();
    EXPECT_LT(MsSince(t0), 10000);
    EXPECT_EQ(1u, rep.runs) << "a cancelled command is never started again";
    EXPECT_EQ(PK_SUPERVISE_STOPPED, rep.stop_reason);
    EXPECT_EQ(1, LineCount(count_));
}

TEST_F(Supervise, StopAlreadyTriggeredRunsNothing) {
    Fake();
    Cancel stop = NewCancel();
    ASSERT_PK_OK(pk_cancel_trigger(stop.get()));
    Cmd cmd = Counting(1);
    Watcher w;
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    ASSERT_PK_OK(pk_supervise(cmd.get(), nullptr, OnEvent, nullptr, &w, stop.get(), &rep));
    EXPECT_EQ(0u, rep.runs);
    EXPECT_EQ(0u, rep.restarts);
    EXPECT_EQ(PK_SUPERVISE_STOPPED, rep.stop_reason);
    EXPECT_EQ((std::vector<Ev>{E(PK_SUPERVISE_STOPPED, 0)}), w.Events());
    EXPECT_FALSE(Exists(count_));
}

TEST_F(Supervise, StopFromTheCallbackIsHonoured) {
    pktest::FakeClock& clock = Fake();
    Cancel stop = NewCancel();
    Cmd cmd = Counting(1);
    Watcher w;
    pk_cancel* raw = stop.get();
    w.on = [raw](const Ev& e) {
        if (e.event == PK_SUPERVISE_EXITED && e.restarts == 1) {
            EXPECT_EQ(PK_OK, pk_cancel_trigger(raw));
        }
    };
    pk_supervise_options o = Opts(PK_RESTART_ON_FAILURE, 0);
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    ASSERT_PK_OK(pk_supervise(cmd.get(), &o, OnEvent, nullptr, &w, stop.get(), &rep));
    EXPECT_EQ(2u, rep.runs);
    EXPECT_EQ(PK_SUPERVISE_STOPPED, rep.stop_reason);
    EXPECT_EQ((std::vector<uint64_t>{200}), clock.Sleeps());
}

TEST_F(Supervise, ACancelledRunIsNeverRestarted) {
    Fake();
    Cancel token = NewCancel();
    Cmd cmd = Sh("echo x >> '" + count_ + "'; exec sleep 30");
    ASSERT_PK_OK(pk_command_cancel_on(cmd.get(), token.get()));
    std::thread canceller([&] {
        for (int i = 0; i < 1000 && LineCount(count_) < 1; i++)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        EXPECT_EQ(PK_OK, pk_cancel_trigger(token.get()));
    });
    pk_supervise_options o = Opts(PK_RESTART_ALWAYS, 0);
    Watcher w;
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    int rc = pk_supervise(cmd.get(), &o, OnEvent, nullptr, &w, nullptr, &rep);
    canceller.join();
    ASSERT_EQ(PK_OK, rc) << pk_last_error();
    EXPECT_EQ(1u, rep.runs);
    EXPECT_EQ(PK_SUPERVISE_STOPPED, rep.stop_reason);
    std::vector<Ev> got = w.Events();
    ASSERT_EQ(3u, got.size());
    EXPECT_EQ(PK_OUTCOME_CANCELLED, got[1].outcome);
    EXPECT_EQ(1, LineCount(count_));
}

// ===========================================================================
// Options and errors

TEST_F(Supervise, BadArgumentsAreRefusedBeforeAnyRun) {
    Fake();
    Cmd cmd = Counting(0);
    auto refused = [&](pk_supervise_options o, const char* what) {
        EXPECT_EQ(PK_ERR_INVALID, pk_supervise(cmd.get(), &o, nullptr, nullptr, nullptr, nullptr, nullptr)) << what;
        EXPECT_STRNE("", pk_last_error()) << what;
    };
    pk_supervise_options o = PK_SUPERVISE_OPTIONS_INIT;
    o.restart = 7;
    refused(o, "restart");
    o = PK_SUPERVISE_OPTIONS_INIT;
    o.backoff_multiplier = 0.5;
    refused(o, "multiplier");
    o.backoff_multiplier = std::nan("");
    refused(o, "NaN multiplier");
    o = PK_SUPERVISE_OPTIONS_INIT;
    o.storm_action = 9;
    refused(o, "storm_action");
    o = PK_SUPERVISE_OPTIONS_INIT;
    o.storm_restarts = 3;
    refused(o, "storm window 0");
    o = PK_SUPERVISE_OPTIONS_INIT;
    o.size = 3;
    refused(o, "size");

    pk_supervise_report bad = PK_SUPERVISE_REPORT_INIT;
    bad.size = 6;
    EXPECT_EQ(PK_ERR_INVALID, pk_supervise(cmd.get(), nullptr, nullptr, nullptr, nullptr, nullptr, &bad));
    EXPECT_EQ(PK_ERR_HANDLE, pk_supervise(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr));
    EXPECT_EQ(PK_ERR_HANDLE,
              pk_supervise(cmd.get(), nullptr, nullptr, nullptr, nullptr, reinterpret_cast<pk_cancel*>(cmd.get()),
                           nullptr));

    Cmd piped = Counting(0);
    ASSERT_PK_OK(pk_command_stdin_pipe(piped.get()));
    o = Opts(PK_RESTART_NEVER, 0);
    EXPECT_EQ(PK_ERR_INVALID, pk_supervise(piped.get(), &o, nullptr, nullptr, nullptr, nullptr, nullptr));
    EXPECT_NE(std::string::npos, std::string(pk_last_error()).find("cannot be replayed")) << pk_last_error();
    EXPECT_FALSE(Exists(count_)) << "nothing may run";
}

TEST_F(Supervise, CallerFdStdinOnlyWithoutRestarts) {
    Fake();
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    Cmd cmd = Counting(0);
    ASSERT_PK_OK(pk_command_stdin_fd(cmd.get(), fd));
    pk_supervise_options o = Opts(PK_RESTART_ON_FAILURE, 0);
    EXPECT_EQ(PK_ERR_INVALID, pk_supervise(cmd.get(), &o, nullptr, nullptr, nullptr, nullptr, nullptr));
    EXPECT_FALSE(Exists(count_));
    o.restart = PK_RESTART_NEVER;
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    EXPECT_EQ(PK_OK, pk_supervise(cmd.get(), &o, nullptr, nullptr, nullptr, nullptr, &rep)) << pk_last_error();
    EXPECT_EQ(1u, rep.runs);
    close(fd);
}

TEST_F(Supervise, SpawnFailureIsAnError) {
    Fake();
    pk_command* c = nullptr;
    ASSERT_PK_OK(pk_command_new("/nonexistent/pk-supervise-test", &c));
    Cmd cmd(c);
    Watcher w;
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    EXPECT_EQ(PK_ERR_NOT_FOUND, pk_supervise(cmd.get(), nullptr, OnEvent, nullptr, &w, nullptr, &rep));
    EXPECT_TRUE(w.Events().empty());
    EXPECT_EQ(0u, rep.runs) << "the report is written only on success";
}

TEST_F(Supervise, OlderReportStructGetsItsPrefix) {
    Fake();
    Cmd cmd = Counting(1);
    pk_supervise_options o = Opts(PK_RESTART_ON_FAILURE, 2);
    pk_supervise_report rep = PK_SUPERVISE_REPORT_INIT;
    rep.size = offsetof(pk_supervise_report, restarts) + sizeof rep.restarts;
    rep.stop_reason = 77;
    ASSERT_PK_OK(pk_supervise(cmd.get(), &o, nullptr, nullptr, nullptr, nullptr, &rep));
    EXPECT_EQ(3u, rep.runs);
    EXPECT_EQ(2u, rep.restarts);
    EXPECT_EQ(77, rep.stop_reason) << "beyond the caller's size: untouched";
}

}  // namespace
