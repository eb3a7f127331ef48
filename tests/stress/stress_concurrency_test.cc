// Stress: concurrent use, and soak of the blocking run.
//
// 1. Eight threads do random spawn / signal / kill / members / stats /
//    shutdown (escalating) / child-handle operations on two shared groups,
//    for a bounded number of operations or time; then the groups are freed:
//    no survivor (every process ever seen, by pid + start time, and every
//    process the trees made, which come back to the test as its subreaper),
//    no leaked fd, no cgroup leaf. Every call must return what its contract
//    allows.
// 2. 10k pk_command_run of `true` from 4 threads: every run succeeds, and
//    afterwards no fd leaked, VmRSS grew by less than 20 MiB after a warm-up
//    of 200 runs (not checked under ASan/TSan), no cgroup directory and no
//    child is left.
//
// Knobs: PK_STRESS_OPS (default 2000), PK_STRESS_OPS_BUDGET_MS (per backend,
// default 20000), PK_STRESS_RUNS (default 10000), PK_STRESS_RUNS_BUDGET_MS
// (default 120000), PK_STRESS_SEED.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "processkit.h"
#include "tests/support/proc_util.h"
#include "tests/stress/stress_util.h"

// Sanitizers keep freed memory (ASan's quarantine) and grow their own
// metadata (TSan), so VmRSS says nothing about the library there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PK_STRESS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define PK_STRESS_SANITIZED 1
#endif
#endif
#ifndef PK_STRESS_SANITIZED
#define PK_STRESS_SANITIZED 0
#endif

namespace {

using pkstress::Clock;

constexpr int kThreads = 8;
constexpr int kDeathMs = 5000;

// Errors from worker threads, reported by the main thread.
class Errors {
  public:
    void Add(const std::string& what) {
        std::lock_guard<std::mutex> lock(mu_);
        if (list_.size() < 20)
            list_.push_back(what);
        count_++;
    }
    long count() const { return count_; }
    std::string Summary() const {
        std::ostringstream out;
        for (const std::string& s : list_)
            out << "  " << s << "\n";
        return out.str();
    }

  private:
    std::mutex mu_;
    std::vector<std::string> list_;
    std::atomic<long> count_{0};
};

enum Op { kSpawn, kSignal, kKill, kMembers, kStats, kShutdown, kChildOp, kOpCount };
const char* const kOpNames[] = {"spawn", "signal", "kill", "members", "stats", "shutdown", "child"};

// Small trees; none leaves its session, so both backends must hold them all.
const char* const kScripts[] = {
    "exec sleep 60",
    "sleep 60 & sleep 60 & wait",
    "exit 0",
    "(sleep 60 &) ; exit 0",
    "sh -c 'sleep 60 & wait' & wait",
    "for i in 1 2 3 4; do sleep 60 & done; wait",
};

class StressConcurrency : public testing::TestWithParam<int> {
  protected:
    void TearDown() override {
        // Nothing outlives the test, whatever failed: the trees' processes are
        // all our descendants, and orphans come back to us (subreaper).
        for (pid_t p : pkstress::LiveChildrenAfter(0))
            pktest::KillIfAlive(pktest::Identify(p));
        std::vector<pid_t> left = pkstress::LiveChildrenAfter(kDeathMs);
        EXPECT_TRUE(left.empty()) << left.size() << " process(es) left at teardown";
    }
};

struct Worker {
    std::vector<pk_child*> children;
    std::vector<pktest::ProcId> seen;
    long ops[kOpCount] = {0};
};

TEST_P(StressConcurrency, EightThreadsRandomOpsOnTwoSharedGroups) {
    ASSERT_TRUE(pkstress::BecomeSubreaper());
    const bool cgroup = GetParam() == PK_BACKEND_CGROUP_V2;
    pkstress::Budget budget(pkstress::EnvLong("PK_STRESS_OPS", 2000),
                            pkstress::EnvLong("PK_STRESS_OPS_BUDGET_MS", 20000));
    const unsigned seed = static_cast<unsigned>(
        pkstress::EnvLong("PK_STRESS_SEED", static_cast<long>(Clock::now().time_since_epoch().count() & 0x7fffffff)));
    const int fds_before = pktest::OpenFdCount();

    pk_group* groups[2] = {nullptr, nullptr};
    for (pk_group*& g : groups) {
        pk_group_options o = PK_GROUP_OPTIONS_INIT;
        o.backend = GetParam();
        ASSERT_EQ(PK_OK, pk_group_create(&o, &g)) << pk_last_error();
    }

    Errors errors;
    std::atomic<long> next_op{0};
    std::vector<Worker> workers(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) {
        threads.emplace_back([&, t] {
            Worker& w = workers[t];
            std::mt19937 rng(seed + static_cast<unsigned>(t) * 7919u);
            auto check = [&](int rc, std::initializer_list<int> allowed, const char* what) {
                if (std::find(allowed.begin(), allowed.end(), rc) == allowed.end()) {
                    std::ostringstream m;
                    m << "thread " << t << ": " << what << " returned " << rc << " (" << pk_strerror(rc)
                      << "): " << pk_last_error();
                    errors.Add(m.str());
                }
            };
            while (next_op.fetch_add(1) < budget.count() && budget.TimeLeft()) {
                pk_group* g = groups[rng() % 2];
                unsigned r = rng() % 100;
                Op op = r < 30 ? kSpawn : r < 40 ? kSignal : r < 48 ? kKill : r < 60 ? kMembers
                      : r < 72 ? kStats : r < 76 ? kShutdown : kChildOp;
                if (op == kChildOp && w.children.empty())
                    op = kSpawn;
                w.ops[op]++;
                switch (op) {
                case kSpawn: {
                    const char* script = kScripts[rng() % (sizeof kScripts / sizeof kScripts[0])];
                    const char* argv[] = {"sh", "-c", script, nullptr};
                    pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
                    so.argv = argv;
                    so.stdin_fd = PK_STDIO_NULL;
                    so.stdout_fd = PK_STDIO_NULL;
                    so.stderr_fd = PK_STDIO_NULL;
                    pk_child* ch = nullptr;
                    int rc = pk_group_spawn(g, &so, &ch);
                    check(rc, {PK_OK}, "pk_group_spawn");
                    if (rc == PK_OK) {
                        int32_t pid = 0;
                        check(pk_child_pid(ch, &pid), {PK_OK}, "pk_child_pid");
                        pktest::ProcId id = pktest::Identify(pid);
                        if (id.start_time)
                            w.seen.push_back(id);
                        w.children.push_back(ch);
                    }
                    break;
                }
                case kSignal: {
                    static const int sigs[] = {SIGTERM, SIGCONT, SIGHUP, SIGUSR1};
                    check(pk_group_signal(g, sigs[rng() % 4]), {PK_OK}, "pk_group_signal");
                    break;
                }
                case kKill:
                    check(pk_group_kill(g), {PK_OK}, "pk_group_kill");
                    break;
                case kMembers: {
                    int32_t pids[256];
                    size_t count = 0;
                    int rc = pk_group_members(g, pids, 256, &count);
                    check(rc, {PK_OK}, "pk_group_members");
                    for (size_t k = 0; rc == PK_OK && k < count && k < 256; k++) {
                        pktest::ProcId id = pktest::Identify(pids[k]);
                        if (id.start_time)
                            w.seen.push_back(id);
                    }
                    break;
                }
                case kStats: {
                    pk_group_stats st = PK_GROUP_STATS_INIT;
                    check(pk_group_stats_get(g, &st), {PK_OK}, "pk_group_stats_get");
                    break;
                }
                case kShutdown: {
                    pk_shutdown_options so = PK_SHUTDOWN_OPTIONS_INIT;
                    so.grace_ms = 50 + rng() % 100;
                    so.escalate = 1;
                    pk_shutdown_report rep = PK_SHUTDOWN_REPORT_INIT;
                    check(pk_group_shutdown(g, &so, &rep), {PK_OK}, "pk_group_shutdown");
                    break;
                }
                case kChildOp: {
                    size_t i = rng() % w.children.size();
                    pk_child* ch = w.children[i];
                    switch (rng() % 4) {
                    case 0:
                        check(pk_child_signal(ch, rng() % 2 ? SIGTERM : SIGKILL), {PK_OK, PK_ERR_NO_PROCESS},
                              "pk_child_signal");
                        break;
                    case 1: {
                        pk_exit_status st = PK_EXIT_STATUS_INIT;
                        check(pk_child_wait(ch, 0, &st), {PK_OK, PK_ERR_TIMEOUT}, "pk_child_wait(0)");
                        break;
                    }
                    default:
                        // Release the handle; the group keeps and reaps the process.
                        check(pk_child_free(ch), {PK_OK}, "pk_child_free");
                        w.children.erase(w.children.begin() + static_cast<long>(i));
                        break;
                    }
                    break;
                }
                default:
                    break;
                }
            }
        });
    }
    for (std::thread& th : threads)
        th.join();
    const int64_t ops_ms = budget.elapsed_ms();

    for (pk_group* g : groups)
        EXPECT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();

    long ops[kOpCount] = {0}, seen = 0, handles = 0;
    for (Worker& w : workers) {
        for (int i = 0; i < kOpCount; i++)
            ops[i] += w.ops[i];
        for (pk_child* ch : w.children) {
            pk_exit_status st = PK_EXIT_STATUS_INIT;
            EXPECT_EQ(PK_OK, pk_child_wait(ch, kDeathMs, &st)) << "a child outlived its freed group: "
                                                               << pk_last_error();
            EXPECT_NE(PK_EXIT_RUNNING, st.kind);
            EXPECT_EQ(PK_OK, pk_child_free(ch));
            handles++;
        }
        w.children.clear();
        for (const pktest::ProcId& id : w.seen) {
            seen++;
            EXPECT_TRUE(pktest::WaitDead(id, kDeathMs))
                << "pid " << id.pid << " (" << pkstress::Cmdline(id.pid) << ") survived pk_group_free";
        }
    }
    std::vector<pid_t> live = pkstress::LiveChildrenAfter(kDeathMs);
    EXPECT_TRUE(live.empty()) << live.size() << " descendant(s) survived the free, first " << live[0] << " ("
                              << pkstress::Cmdline(live[0]) << ")";
    long total_ops = 0;
    for (long n : ops)
        total_ops += n;
    printf("[stress_concurrency] backend=%s seed=%u threads=%d ops=%ld/%ld in %lld ms (budget %lld ms): "
           "spawn %ld, signal %ld, kill %ld, members %ld, stats %ld, shutdown %ld, child %ld; "
           "processes seen %ld, handles still open at free %ld, bad returns %ld\n",
           cgroup ? "cgroup-v2" : "process-group", seed, kThreads, total_ops, budget.count(),
           static_cast<long long>(ops_ms), static_cast<long long>(budget.budget_ms()), ops[kSpawn], ops[kSignal],
           ops[kKill], ops[kMembers], ops[kStats], ops[kShutdown], ops[kChildOp], seen, handles, errors.count());
    if (total_ops < budget.count())
        printf("[stress_concurrency] wall-time budget reached after %ld of %ld operations\n", total_ops,
               budget.count());
    fflush(stdout);
    EXPECT_EQ(0, errors.count()) << "unexpected return codes:\n" << errors.Summary();
    EXPECT_GT(ops[kSpawn], 0);
    EXPECT_EQ(fds_before, pktest::OpenFdCount()) << "fds leaked";
    EXPECT_TRUE(pktest::OurCgroupLeaves().empty()) << "cgroup leaves left behind";
    EXPECT_TRUE(pktest::Children().empty()) << "children left behind";
}

INSTANTIATE_TEST_SUITE_P(Backends, StressConcurrency,
                         testing::Values(static_cast<int>(PK_BACKEND_CGROUP_V2),
                                         static_cast<int>(PK_BACKEND_PROCESS_GROUP)),
                         [](const testing::TestParamInfo<int>& info) {
                             return info.param == PK_BACKEND_CGROUP_V2 ? std::string("CgroupV2")
                                                                       : std::string("ProcessGroup");
                         });

// ---------------------------------------------------------------------------

TEST(StressRuns, TenThousandRunsOfTrueLeakNothing) {
    constexpr int kRunThreads = 4;
    constexpr int kWarmup = 200;
    pkstress::Budget budget(pkstress::EnvLong("PK_STRESS_RUNS", 10000),
                            pkstress::EnvLong("PK_STRESS_RUNS_BUDGET_MS", 120000));

    pk_command* cmd = nullptr;  // one builder shared by every thread
    ASSERT_EQ(PK_OK, pk_command_new("true", &cmd)) << pk_last_error();

    Errors errors;
    std::atomic<long> completed{0};
    auto run_one = [&](long i) {
        completed++;
        pk_result* res = nullptr;
        int rc = pk_command_run(cmd, &res);
        if (rc != PK_OK) {
            errors.Add("run " + std::to_string(i) + ": pk_command_run returned " + std::to_string(rc) + ": " +
                       pk_last_error());
            return;
        }
        pk_run_info info = PK_RUN_INFO_INIT;
        rc = pk_result_info(res, &info);
        if (rc != PK_OK || info.outcome != PK_OUTCOME_EXITED || info.exit_code != 0 || !info.success)
            errors.Add("run " + std::to_string(i) + ": rc " + std::to_string(rc) + " outcome " +
                       std::to_string(info.outcome) + " exit " + std::to_string(info.exit_code) + " signal " +
                       std::to_string(info.signal));
        if (pk_result_free(res) != PK_OK)
            errors.Add("pk_result_free failed");
    };
    auto run_many = [&](std::atomic<long>* next, long count, bool bounded) {
        std::vector<std::thread> threads;
        for (int t = 0; t < kRunThreads; t++)
            threads.emplace_back([&, next, count, bounded] {
                long i;
                while ((i = next->fetch_add(1)) < count && (!bounded || budget.TimeLeft()))
                    run_one(i);
            });
        for (std::thread& th : threads)
            th.join();
    };

    // Warm-up: thread-local state, allocator arenas, the keeper.
    std::atomic<long> warm{0};
    run_many(&warm, kWarmup, false);
    ASSERT_EQ(0, errors.count()) << errors.Summary();
    const int fds_before = pktest::OpenFdCount();
    const long rss_before = pkstress::VmRssKiB();

    std::atomic<long> next{0};
    completed = 0;
    auto t0 = Clock::now();
    run_many(&next, budget.count(), true);
    const int64_t ms = pkstress::MsSince(t0);
    const long done = completed.load();
    const long rss_after = pkstress::VmRssKiB();
    const int fds_after = pktest::OpenFdCount();

    printf("[stress_runs] runs=%ld/%ld threads=%d in %lld ms (%.3f ms/run wall, budget %lld ms); "
           "VmRSS %ld KiB -> %ld KiB (%+ld KiB); fds %d -> %d; failures %ld\n",
           done, budget.count(), kRunThreads, static_cast<long long>(ms), done ? static_cast<double>(ms) / done : 0.0,
           static_cast<long long>(budget.budget_ms()), rss_before, rss_after, rss_after - rss_before, fds_before,
           fds_after, errors.count());
    if (done < budget.count())
        printf("[stress_runs] wall-time budget reached after %ld of %ld runs\n", done, budget.count());
    fflush(stdout);

    EXPECT_EQ(PK_OK, pk_command_free(cmd));
    EXPECT_EQ(0, errors.count()) << errors.Summary();
    EXPECT_GT(done, 0);
    EXPECT_EQ(fds_before, fds_after) << "fds leaked over " << done << " runs";
    if (!PK_STRESS_SANITIZED) {
        EXPECT_LT(rss_after - rss_before, 20 * 1024) << "VmRSS grew by " << (rss_after - rss_before) << " KiB";
    }
    EXPECT_TRUE(pktest::OurCgroupLeaves().empty()) << "cgroup leaves left behind";
    EXPECT_TRUE(pktest::Children().empty()) << "children left behind";
}

}  // namespace
