// pk_command_run_retry with real processes and a fake clock (so backoff
// sequences are exact and instant), plus the real clock behind the seam.
//
// Every test leaves nothing behind: the fixture checks for children, cgroup
// leaves, fds and temp files, and puts the real clock back.
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <limits>
#include <memory>
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
using pktest::Result;
using pktest::Cancel;
using pktest::NewCancel;
using pktest::Sh;

using pktest::Clock;
using pktest::MsSince;

// Lines in a file (0 if it does not exist).
int LineCount(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    int n = 0;
    while (std::getline(in, line))
        n++;
    return n;
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

pk_run_info Info(pk_result* r) {
    pk_run_info info = PK_RUN_INFO_INIT;
    EXPECT_EQ(PK_OK, pk_result_info(r, &info)) << pk_last_error();
    return info;
}

std::string Stdout(pk_result* r) {
    const uint8_t* data = nullptr;
    size_t len = 0;
    EXPECT_EQ(PK_OK, pk_result_output(r, PK_STREAM_STDOUT, &data, &len)) << pk_last_error();
    return std::string(reinterpret_cast<const char*>(data), len);
}

pk_retry_options Opts(uint32_t attempts, uint32_t initial, double mult, uint32_t cap, int jitter) {
    pk_retry_options o = PK_RETRY_OPTIONS_INIT;
    o.max_attempts = attempts;
    o.initial_delay_ms = initial;
    o.multiplier = mult;
    o.max_delay_ms = cap;
    o.jitter = jitter;
    return o;
}

// What a classifier saw.
struct Seen {
    std::vector<uint32_t> attempts;
    std::vector<int32_t> exit_codes;
    int answer = 1;
};
int Classify(void* user, pk_result* r, uint32_t attempt) {
    Seen* s = static_cast<Seen*>(user);
    s->attempts.push_back(attempt);
    pk_run_info info = PK_RUN_INFO_INIT;
    s->exit_codes.push_back(pk_result_info(r, &info) == PK_OK ? info.exit_code : -100);
    return s->answer;
}

class Retry : public ::testing::Test {
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
        tmp_.reset();  // removes every file a test made
        EXPECT_TRUE(pktest::NoChildren()) << "the test left a child process behind";
        EXPECT_TRUE(pktest::OurCgroupLeaves().empty()) << "the test left a cgroup behind";
        EXPECT_EQ(fds_before_, pktest::OpenFdCount()) << "the test leaked or closed fds";
    }
    pktest::FakeClock& Fake() {
        if (!clock_)
            clock_.reset(new pktest::FakeClock());
        return *clock_;
    }
    // Appends a line to the count file, then exits with `code`.
    Cmd Counting(int code) { return Sh("echo x >> '" + count_ + "'; exit " + std::to_string(code)); }

    std::unique_ptr<pktest::TempDir> tmp_;
    std::unique_ptr<pktest::FakeClock> clock_;
    std::string count_;
    int fds_before_ = -1;
};

// ===========================================================================

TEST_F(Retry, ExactBackoffSequenceOnFakeClock) {
    pktest::FakeClock& clock = Fake();
    Cmd cmd = Counting(1);
    pk_retry_options o = Opts(5, 100, 2.0, 350, 0);
    pk_result* r = nullptr;
    ASSERT_PK_OK(pk_command_run_retry(cmd.get(), &o, nullptr, nullptr, &r));
    Result owner(r);
    pk_run_info info = Info(r);
    EXPECT_EQ(PK_OUTCOME_EXITED, info.outcome);
    EXPECT_EQ(1, info.exit_code);
    EXPECT_EQ(0, info.success);
    EXPECT_EQ(5, LineCount(count_));
    EXPECT_EQ((std::vector<uint64_t>{100, 200, 350, 350}), clock.Sleeps());
    EXPECT_EQ(0, clock.RandomCalls()) << "jitter off must not draw";
}

TEST_F(Retry, NonIntegralMultiplierRounds) {
    pktest::FakeClock& clock = Fake();
    Cmd cmd = Counting(1);
    pk_retry_options o = Opts(5, 100, 1.5, 30000, 0);
    pk_result* r = nullptr;
    ASSERT_PK_OK(pk_command_run_retry(cmd.get(), &o, nullptr, nullptr, &r));
    Result owner(r);
    EXPECT_EQ((std::vector<uint64_t>{100, 150, 225, 338}), clock.Sleeps());  // 337.5 rounds up
}

TEST_F(Retry, SucceedsOnThirdAttemptAndReturnsItsResult) {
    pktest::FakeClock& clock = Fake();
    ASSERT_TRUE(std::ofstream(count_).good());
    // Fails until the file already holds 2 lines: attempts 1 and 2 fail.
    Cmd cmd = Sh("n=$(wc -l < '" + count_ + "'); echo x >> '" + count_ + "'; echo attempt $n; [ \"$n\" -ge 2 ]");
    pk_retry_options o = Opts(5, 100, 2.0, 30000, 0);
    Seen seen;
    pk_result* r = nullptr;
    ASSERT_PK_OK(pk_command_run_retry(cmd.get(), &o, Classify, &seen, &r));
    Result owner(r);
    pk_run_info info = Info(r);
    EXPECT_EQ(1, info.success);
    EXPECT_EQ(0, info.exit_code);
    EXPECT_EQ("attempt 2\n", Stdout(r)) << "the result must be the last attempt's";
    EXPECT_EQ(3, LineCount(count_));
    EXPECT_EQ((std::vector<uint64_t>{100, 200}), clock.Sleeps());
    EXPECT_EQ((std::vector<uint32_t>{1, 2}), seen.attempts) << "the classifier sees each failure, counted from 1";
    EXPECT_EQ((std::vector<int32_t>{1, 1}), seen.exit_codes) << "its result handle is usable during the call";
}

TEST_F(Retry, FirstSuccessIsNotRetried) {
    pktest::FakeClock& clock = Fake();
    Cmd cmd = Counting(0);
    Seen seen;
    pk_result* r = nullptr;
    ASSERT_PK_OK(pk_command_run_retry(cmd.get(), nullptr, Classify, &seen, &r));
    Result owner(r);
    EXPECT_EQ(1, Info(r).success);
    EXPECT_EQ(1, LineCount(count_));
    EXPECT_TRUE(clock.Sleeps().empty());
    EXPECT_TRUE(seen.attempts.empty()) << "a success is never classified";
}

TEST_F(Retry, ClassifierThatRefusesStopsAtOnce) {
    pktest::FakeClock& clock = Fake();
    Cmd cmd = Counting(3);
    pk_retry_options o = Opts(5, 100, 2.0, 30000, 0);
    Seen seen;
    seen.answer = 0;
    pk_result* r = nullptr;
    ASSERT_PK_OK(pk_command_run_retry(cmd.get(), &o, Classify, &seen, &r));
    Result owner(r);
    EXPECT_EQ(3, Info(r).exit_code);
    EXPECT_EQ(1, LineCount(count_));
    EXPECT_EQ((std::vector<uint32_t>{1}), seen.attempts);
    EXPECT_TRUE(clock.Sleeps().empty());
}

TEST_F(Retry, LastAttemptIsNotClassified) {
    pktest::FakeClock& clock = Fake();
    Cmd cmd = Counting(1);
    pk_retry_options o = Opts(3, 10, 2.0, 30000, 0);
    Seen seen;
    pk_result* r = nullptr;
    ASSERT_PK_OK(pk_command_run_retry(cmd.get(), &o, Classify, &seen, &r));
    Result owner(r);
    EXPECT_EQ(3, LineCount(count_));
    EXPECT_EQ((std::vector<uint32_t>{1, 2}), seen.attempts);
    EXPECT_EQ((std::vector<uint64_t>{10, 20}), clock.Sleeps());
}

TEST_F(Retry, ClassifierMayFreeItsHandle) {
    Fake();
    Cmd cmd = Counting(1);
    pk_retry_options o = Opts(2, 10, 2.0, 30000, 0);
    auto free_it = [](void*, pk_result* r, uint32_t) -> int { return pk_result_free(r) == PK_OK; };
    pk_result* r = nullptr;
    ASSERT_PK_OK(pk_command_run_retry(cmd.get(), &o, free_it, nullptr, &r));
    Result owner(r);
    EXPECT_EQ(2, LineCount(count_));
    EXPECT_EQ(1, Info(r).exit_code);
}

TEST_F(Retry, SingleAttemptMeansNoRetry) {
    pktest::FakeClock& clock = Fake();
    Cmd cmd = Counting(1);
    pk_retry_options o = Opts(1, 100, 2.0, 30000, 1);
    pk_result* r = nullptr;
    ASSERT_PK_OK(pk_command_run_retry(cmd.get(), &o, nullptr, nullptr, &r));
    Result owner(r);
    EXPECT_EQ(1, LineCount(count_));
    EXPECT_TRUE(clock.Sleeps().empty());
}

TEST_F(Retry, TimedOutAndSignalledRunsAreRetriedByDefault) {
    pktest::FakeClock& clock = Fake();
    Cmd cmd = Sh("echo x >> '" + count_ + "'; kill -9 $$");
    pk_retry_options o = Opts(2, 10, 2.0, 30000, 0);
    pk_result* r = nullptr;
    ASSERT_PK_OK(pk_command_run_retry(cmd.get(), &o, nullptr, nullptr, &r));
    Result owner(r);
    EXPECT_EQ(PK_OUTCOME_SIGNALLED, Info(r).outcome);
    EXPECT_EQ(2, LineCount(count_));

    Cmd slow = Sh("echo x >> '" + count_ + "'; exec sleep 30");
    ASSERT_PK_OK(pk_command_timeout(slow.get(), 100, SIGKILL, 0));
    pk_result* r2 = nullptr;
    ASSERT_PK_OK(pk_command_run_retry(slow.get(), &o, nullptr, nullptr, &r2));
    Result owner2(r2);
    EXPECT_EQ(PK_OUTCOME_TIMED_OUT, Info(r2).outcome);
    EXPECT_EQ(4, LineCount(count_));
    EXPECT_EQ((std::vector<uint64_t>{10, 10}), clock.Sleeps());
}

// ---- cancellation ---------------------------------------------------------

TEST_F(Retry, CancelDuringARunIsTerminal) {
    pktest::FakeClock& clock = Fake();
    Cancel token = NewCancel();
    Cmd cmd = Sh("echo x >> '" + count_ + "'; exec sleep 30");
    ASSERT_PK_OK(pk_command_cancel_on(cmd.get(), token.get()));
    std::thread canceller([&] {
        for (int i = 0; i < 1000 && LineCount(count_) < 1; i++)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        EXPECT_EQ(PK_OK, pk_cancel_trigger(token.get()));
    });
    pk_retry_options o = Opts(5, 100, 2.0, 30000, 0);
    Seen seen;
    pk_result* r = nullptr;
    auto t0 = Clock::now();
    int rc = pk_command_run_retry(cmd.get(), &o, Classify, &seen, &r);
    canceller.join();
    ASSERT_EQ(PK_OK, rc) << pk_last_error();
    Result owner(r);
    EXPECT_LT(MsSince(t0), 10000);
    EXPECT_EQ(PK_OUTCOME_CANCELLED, Info(r).outcome);
    EXPECT_EQ(PK_ERR_CANCELLED, pk_result_check(r));
    EXPECT_EQ(1, LineCount(count_)) << "a cancelled run is never retried";
    EXPECT_TRUE(seen.attempts.empty()) << "nor classified";
    EXPECT_TRUE(clock.Sleeps().empty());
}

TEST_F(Retry, CancelDuringBackoffStopsAtOnce) {
    pktest::FakeClock& clock = Fake();
    Cancel token = NewCancel();
    pk_cancel* raw = token.get();
    clock.OnSleep([raw](uint64_t, int cancel_fd) {
        EXPECT_GE(cancel_fd, 0) << "the sleep must watch the command's token";
        EXPECT_EQ(PK_OK, pk_cancel_trigger(raw));
    });
    Cmd cmd = Counting(1);
    ASSERT_PK_OK(pk_command_cancel_on(cmd.get(), token.get()));
    pk_retry_options o = Opts(5, 100, 2.0, 30000, 0);
    pk_result* r = nullptr;
    int rc = pk_command_run_retry(cmd.get(), &o, nullptr, nullptr, &r);
    EXPECT_EQ(PK_ERR_CANCELLED, rc);
    EXPECT_NE(std::string::npos, std::string(pk_last_error()).find("retry")) << pk_last_error();
    EXPECT_EQ(nullptr, r);
    EXPECT_EQ(1, LineCount(count_));
    EXPECT_EQ((std::vector<uint64_t>{100}), clock.Sleeps());
}

TEST_F(Retry, RealSleepWakesWhenTheTokenTriggers) {
    Cancel token = NewCancel();
    Cmd cmd = Counting(1);
    ASSERT_PK_OK(pk_command_cancel_on(cmd.get(), token.get()));
    std::thread canceller([&] {
        for (int i = 0; i < 1000 && LineCount(count_) < 1; i++)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        EXPECT_EQ(PK_OK, pk_cancel_trigger(token.get()));
    });
    pk_retry_options o = Opts(5, 60000, 2.0, 60000, 0);  // a minute's backoff, real clock
    pk_result* r = nullptr;
    auto t0 = Clock::now();
    int rc = pk_command_run_retry(cmd.get(), &o, nullptr, nullptr, &r);
    canceller.join();
    EXPECT_EQ(PK_ERR_CANCELLED, rc) << pk_last_error();
    EXPECT_LT(MsSince(t0), 10000);
    EXPECT_EQ(1, LineCount(count_));
}

TEST_F(Retry, AlreadyCancelledStartsNothing) {
    Fake();
    Cancel token = NewCancel();
    ASSERT_PK_OK(pk_cancel_trigger(token.get()));
    Cmd cmd = Counting(1);
    ASSERT_PK_OK(pk_command_cancel_on(cmd.get(), token.get()));
    pk_result* r = nullptr;
    EXPECT_EQ(PK_ERR_CANCELLED, pk_command_run_retry(cmd.get(), nullptr, nullptr, nullptr, &r));
    EXPECT_EQ(nullptr, r);
    EXPECT_FALSE(Exists(count_));
}

// ---- stdin ----------------------------------------------------------------

TEST_F(Retry, OneShotStdinIsRefusedUpFront) {
    Fake();
    Cmd piped = Counting(1);
    ASSERT_PK_OK(pk_command_stdin_pipe(piped.get()));
    pk_result* r = nullptr;
    EXPECT_EQ(PK_ERR_INVALID, pk_command_run_retry(piped.get(), nullptr, nullptr, nullptr, &r));
    EXPECT_NE(std::string::npos, std::string(pk_last_error()).find("cannot be replayed")) << pk_last_error();
    EXPECT_EQ(nullptr, r);

    int fds[2];
    ASSERT_EQ(0, pipe2(fds, O_CLOEXEC));
    Cmd from_fd = Counting(1);
    ASSERT_PK_OK(pk_command_stdin_fd(from_fd.get(), fds[0]));
    EXPECT_EQ(PK_ERR_INVALID, pk_command_run_retry(from_fd.get(), nullptr, nullptr, nullptr, &r));
    EXPECT_NE(std::string::npos, std::string(pk_last_error()).find("caller fd")) << pk_last_error();
    close(fds[0]);
    close(fds[1]);
    EXPECT_FALSE(Exists(count_)) << "nothing may run";
}

TEST_F(Retry, StdinBytesAreReplayedOnEveryAttempt) {
    pktest::FakeClock& clock = Fake();
    Cmd cmd = Sh("cat; echo x >> '" + count_ + "'; exit 1");
    ASSERT_PK_OK(pk_command_stdin_bytes(cmd.get(), "hello", 5));
    pk_retry_options o = Opts(3, 1, 2.0, 30000, 0);
    pk_result* r = nullptr;
    ASSERT_PK_OK(pk_command_run_retry(cmd.get(), &o, nullptr, nullptr, &r));
    Result owner(r);
    EXPECT_EQ("hello", Stdout(r));
    EXPECT_EQ(3, LineCount(count_));
    EXPECT_EQ(2u, clock.Sleeps().size());
}

// ---- jitter ---------------------------------------------------------------

TEST_F(Retry, FullJitterStaysWithinTheDelay) {
    pktest::FakeClock& clock = Fake();
    clock.QueueRandom({0.0, 0.9999999, 0.5, 0.25});
    Cmd cmd = Counting(1);
    pk_retry_options o = Opts(5, 100, 2.0, 350, 1);
    pk_result* r = nullptr;
    ASSERT_PK_OK(pk_command_run_retry(cmd.get(), &o, nullptr, nullptr, &r));
    Result owner(r);
    const std::vector<uint64_t> delays = {100, 200, 350, 350};
    std::vector<uint64_t> sleeps = clock.Sleeps();
    ASSERT_EQ(delays.size(), sleeps.size());
    for (size_t i = 0; i < sleeps.size(); i++)
        EXPECT_LE(sleeps[i], delays[i]) << "sleep " << i;
    // Uniform over the whole ms range [0, delay]: floor(r * (delay + 1)).
    EXPECT_EQ((std::vector<uint64_t>{0, 200, 175, 87}), sleeps);
    EXPECT_EQ(4, clock.RandomCalls());
}

TEST_F(Retry, RandomSourceOutOfRangeIsClamped) {
    pktest::FakeClock& clock = Fake();
    clock.QueueRandom({1.5, -3.0, std::nan("")});
    Cmd cmd = Counting(1);
    pk_retry_options o = Opts(4, 100, 1.0, 350, 1);
    pk_result* r = nullptr;
    ASSERT_PK_OK(pk_command_run_retry(cmd.get(), &o, nullptr, nullptr, &r));
    Result owner(r);
    EXPECT_EQ((std::vector<uint64_t>{100, 0, 0}), clock.Sleeps());
}

// ---- options and errors ---------------------------------------------------

TEST_F(Retry, BadOptionsAreRefused) {
    Fake();
    Cmd cmd = Counting(0);
    pk_result* r = nullptr;
    auto refused = [&](pk_retry_options o, const char* what) {
        EXPECT_EQ(PK_ERR_INVALID, pk_command_run_retry(cmd.get(), &o, nullptr, nullptr, &r)) << what;
        EXPECT_STRNE("", pk_last_error()) << what;
    };
    pk_retry_options o = PK_RETRY_OPTIONS_INIT;
    o.max_attempts = 0;
    refused(o, "max_attempts 0");
    o = PK_RETRY_OPTIONS_INIT;
    o.multiplier = 0.5;
    refused(o, "multiplier < 1");
    o.multiplier = std::numeric_limits<double>::infinity();
    refused(o, "infinite multiplier");
    o.multiplier = std::nan("");
    refused(o, "NaN multiplier");
    o = PK_RETRY_OPTIONS_INIT;
    o.reserved = 1;
    refused(o, "reserved");
    o = PK_RETRY_OPTIONS_INIT;
    o.size = 2;
    refused(o, "size");
    EXPECT_EQ(PK_ERR_INVALID, pk_command_run_retry(cmd.get(), nullptr, nullptr, nullptr, nullptr));
    EXPECT_EQ(PK_ERR_HANDLE, pk_command_run_retry(nullptr, nullptr, nullptr, nullptr, &r));
    EXPECT_EQ(nullptr, r);
    EXPECT_FALSE(Exists(count_));

    // An older caller's struct (just max_attempts) gets the defaults for the rest.
    pk_retry_options old = PK_RETRY_OPTIONS_INIT;
    old.size = offsetof(pk_retry_options, max_attempts) + sizeof old.max_attempts;
    old.max_attempts = 1;
    old.multiplier = -1;  // beyond the caller's size: not read
    ASSERT_PK_OK(pk_command_run_retry(cmd.get(), &old, nullptr, nullptr, &r));
    pk_result_free(r);
}

TEST_F(Retry, DefaultsAreThreeAttemptsDoublingFrom100WithJitter) {
    pktest::FakeClock& clock = Fake();
    clock.QueueRandom({0.9999999, 0.9999999});
    Cmd cmd = Counting(1);
    pk_result* r = nullptr;
    ASSERT_PK_OK(pk_command_run_retry(cmd.get(), nullptr, nullptr, nullptr, &r));
    Result owner(r);
    EXPECT_EQ(3, LineCount(count_));
    EXPECT_EQ((std::vector<uint64_t>{100, 200}), clock.Sleeps());
}

TEST_F(Retry, SpawnFailureIsAnErrorNotRetried) {
    pktest::FakeClock& clock = Fake();
    pk_command* c = nullptr;
    ASSERT_PK_OK(pk_command_new("/nonexistent/pk-retry-test", &c));
    Cmd cmd(c);
    pk_result* r = nullptr;
    EXPECT_EQ(PK_ERR_NOT_FOUND, pk_command_run_retry(cmd.get(), nullptr, nullptr, nullptr, &r));
    EXPECT_EQ(nullptr, r);
    EXPECT_TRUE(clock.Sleeps().empty());
}

// ---- the real clock behind the seam ---------------------------------------

TEST_F(Retry, RealBackoffSleeps) {
    Cmd cmd = Counting(1);
    pk_retry_options o = Opts(3, 50, 2.0, 30000, 0);
    pk_result* r = nullptr;
    auto t0 = Clock::now();
    ASSERT_PK_OK(pk_command_run_retry(cmd.get(), &o, nullptr, nullptr, &r));
    Result owner(r);
    EXPECT_GE(MsSince(t0), 150);  // 50 + 100
    EXPECT_EQ(3, LineCount(count_));
}

TEST(RealClock, NowIsMonotonicAndSleepSleeps) {
    uint64_t a = pk__clock_now_ms();
    pk__clock_sleep_ms(30, -1);
    uint64_t b = pk__clock_now_ms();
    EXPECT_GE(b - a, 30u);
    EXPECT_LT(b - a, 5000u);
    pk__clock_sleep_ms(0, -1);
}

TEST(RealClock, SleepEndsEarlyWhenTheFdIsReadable) {
    int efd = eventfd(0, EFD_CLOEXEC);
    ASSERT_GE(efd, 0);
    std::thread poke([efd] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        uint64_t one = 1;
        EXPECT_EQ(8, write(efd, &one, sizeof one));
    });
    auto t0 = Clock::now();
    pk__clock_sleep_ms(60000, efd);
    EXPECT_LT(MsSince(t0), 10000);
    poke.join();
    // Already readable: no wait at all.
    t0 = Clock::now();
    pk__clock_sleep_ms(60000, efd);
    EXPECT_LT(MsSince(t0), 1000);
    close(efd);
}

TEST(RealClock, RandomIsUniformInUnitIntervalFromManyThreads) {
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    std::vector<double> sums(8, 0.0);
    for (int t = 0; t < 8; t++)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 20000; i++) {
                double r = pk__clock_random();
                if (!(r >= 0.0 && r < 1.0))
                    bad++;
                sums[t] += r;
            }
        });
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(0, bad.load());
    double mean = 0;
    for (double s : sums)
        mean += s;
    mean /= 8 * 20000;
    EXPECT_NEAR(0.5, mean, 0.02);
    EXPECT_NE(pk__clock_random(), pk__clock_random());
}

}  // namespace
