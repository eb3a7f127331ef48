// Stress: many small random process trees, spawned in batches into groups on
// both Linux backends, then killed by pk_group_free. Kinds of tree:
//
//   chain    a fork chain of shells, depth 1-4, ending in `sleep 60`
//   daemon   a double fork: `(sleep 60 &) ; exit 0` (the sleep is orphaned)
//   escaper  `setsid sleep 60 &` inside a shell (leaves session and group)
//   burst    8 `sleep 60 &` forked in a loop, freed right after the spawn so
//            the forks race the kill
//
// Every tree writes "P <pid>" (or "E <pid>" for the setsid escaper) for each
// of its processes to its own pid file; on cgroup v2 the test also lists the
// members with pk_group_members before the kill. Processes are identified by
// pid plus start time, so a recycled pid never reads as a survivor, and a
// zombie counts as dead.
//
// Expectations after pk_group_free:
//   cgroup v2      zero survivors, escapers included (PK_FEATURE_CONTAINS_SETSID).
//   process group  the only survivors are setsid escapers, which the mechanism
//                  report predicted (no PK_FEATURE_CONTAINS_SETSID); the test
//                  kills them itself.
//
// The test is the subreaper of everything its trees create, so any process a
// tree made (even one no pid file names, like a burst's fork that raced the
// kill) comes back to it as a child: after each batch every live child is a
// survivor, and nothing can outlive the test unseen.
//
// Knobs: PK_STRESS_TREES (trees per backend, default 1000),
// PK_STRESS_TREES_BUDGET_MS (wall time per backend, default 55000),
// PK_STRESS_SEED (random seed, default: time based; printed).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "processkit.h"
#include "tests/support/proc_util.h"
#include "tests/stress/stress_util.h"

namespace {

using pkstress::Clock;

enum Kind { kChain = 0, kDaemon = 1, kEscaper = 2, kBurst = 3 };
const char* const kKindNames[] = {"chain", "daemon", "escaper", "burst"};

// One script for every kind: tree.sh KIND PIDFILE [DEPTH].
const char kTreeScript[] = R"(f=$2
echo "P $$" >> "$f"
case $1 in
chain)
  if [ "$3" -gt 1 ]; then
    sh "$0" chain "$f" $(($3 - 1)) &
  else
    sleep 60 &
    echo "P $!" >> "$f"
  fi
  wait ;;
daemon)
  (sleep 60 & echo "P $!" >> "$f")
  exit 0 ;;
escaper)
  setsid sleep 60 &
  echo "E $!" >> "$f"
  wait ;;
burst)
  for i in 1 2 3 4 5 6 7 8; do sleep 60 & echo "P $!" >> "$f"; done
  wait ;;
esac
)";

constexpr int kBatch = 20;         // trees alive at once
constexpr int kSharedGroups = 4;   // groups per batch for the non-burst trees
constexpr int kSetupMs = 10000;    // a batch's pid files must be complete by then
constexpr int kDeathMs = 5000;     // a killed process must be gone by then

struct Tree {
    Kind kind;
    int depth;
    std::string pidfile;
    pk_child* child = nullptr;
};

struct Rec {
    pktest::ProcId id;
    bool escaper;
    int tree;
};

struct Line {
    char tag;
    pid_t pid;
};

std::vector<Line> ReadLines(const std::string& path) {
    std::vector<Line> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (in.eof())
            break;  // a line still being written
        char tag = 0;
        int pid = 0;
        if (sscanf(line.c_str(), "%c %d", &tag, &pid) == 2 && pid > 0)
            out.push_back({tag, static_cast<pid_t>(pid)});
    }
    return out;
}

int ExpectedLines(const Tree& t) {
    switch (t.kind) {
    case kChain: return t.depth + 1;
    case kDaemon: return 2;
    case kEscaper: return 2;
    default: return -1;  // a burst is killed before it is done
    }
}

struct Totals {
    long trees[4] = {0, 0, 0, 0};
    long groups = 0;
    long identified = 0;   // processes known by pid + start time before the kill
    long escaped = 0;      // setsid escapers alive after free (process group only)
    long swept_zombies = 0;
    long failures = 0;
};

// Frees what a batch still holds when an assertion leaves the loop early.
struct BatchGuard {
    std::vector<pk_group*> groups;
    std::vector<pk_child*> children;
    ~BatchGuard() {
        for (pk_group* g : groups)
            pk_group_free(g);
        for (pk_child* ch : children) {
            pk_child_signal(ch, SIGKILL);
            pk_child_wait(ch, kDeathMs, nullptr);
            pk_child_free(ch);
        }
    }
};

class StressTrees : public testing::TestWithParam<int> {
  protected:
    bool IsCgroup() const { return GetParam() == PK_BACKEND_CGROUP_V2; }

    // Whatever happened, nothing outlives the test: every process the trees
    // made is our child (subreaper), so kill and reap them all.
    void TearDown() override {
        for (pid_t p : pkstress::LiveChildrenAfter(0))
            pktest::KillIfAlive(pktest::Identify(p));
        std::vector<pid_t> left = pkstress::LiveChildrenAfter(kDeathMs);
        EXPECT_TRUE(left.empty()) << left.size() << " process(es) left at teardown";
    }

    pk_group* NewGroup() {
        pk_group_options o = PK_GROUP_OPTIONS_INIT;
        o.backend = GetParam();
        pk_group* g = nullptr;
        int rc = pk_group_create(&o, &g);
        EXPECT_EQ(PK_OK, rc) << pk_last_error();
        return rc == PK_OK ? g : nullptr;
    }

    pk_child* SpawnTree(pk_group* g, const std::string& script, const Tree& t) {
        std::string depth = std::to_string(t.depth);
        const char* argv[] = {"sh", script.c_str(), kKindNames[t.kind], t.pidfile.c_str(), depth.c_str(), nullptr};
        pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
        so.argv = argv;
        so.stdin_fd = PK_STDIO_NULL;
        so.stdout_fd = PK_STDIO_NULL;
        so.stderr_fd = PK_STDIO_NULL;
        pk_child* ch = nullptr;
        int rc = pk_group_spawn(g, &so, &ch);
        EXPECT_EQ(PK_OK, rc) << kKindNames[t.kind] << ": " << pk_last_error();
        return rc == PK_OK ? ch : nullptr;
    }

    static void ReleaseChild(pk_child* ch) {
        if (!ch)
            return;
        pk_exit_status st = PK_EXIT_STATUS_INIT;
        int rc = pk_child_wait(ch, kDeathMs, &st);
        EXPECT_EQ(PK_OK, rc) << "a tree's shell was not reaped after its group was freed: " << pk_last_error();
        if (rc != PK_OK) {
            pk_child_signal(ch, SIGKILL);
            pk_child_wait(ch, kDeathMs, &st);
        }
        EXPECT_EQ(PK_OK, pk_child_free(ch));
    }
};

TEST_P(StressTrees, RandomTreesLeaveNoSurvivorButPredictedEscapers) {
    ASSERT_TRUE(pkstress::BecomeSubreaper()) << "prctl(PR_SET_CHILD_SUBREAPER)";
    const long total = pkstress::EnvLong("PK_STRESS_TREES", 1000);
    pkstress::Budget budget(total, pkstress::EnvLong("PK_STRESS_TREES_BUDGET_MS", 55000));
    const unsigned seed = static_cast<unsigned>(
        pkstress::EnvLong("PK_STRESS_SEED", static_cast<long>(Clock::now().time_since_epoch().count() & 0x7fffffff)));
    std::mt19937 rng(seed);

    pktest::TempDir tmp;
    ASSERT_FALSE(tmp.path().empty());
    const std::string script = tmp.File("tree.sh");
    {
        std::ofstream out(script);
        out << kTreeScript;
    }

    // What the mechanism promises decides what may survive.
    bool contains_setsid;
    {
        pk_group* probe = NewGroup();
        ASSERT_NE(nullptr, probe);
        pk_containment c = PK_CONTAINMENT_INIT;
        ASSERT_EQ(PK_OK, pk_group_containment(probe, &c)) << pk_last_error();
        ASSERT_EQ(IsCgroup() ? PK_MECHANISM_CGROUP_V2 : PK_MECHANISM_PROCESS_GROUP, c.mechanism) << c.reason;
        contains_setsid = (c.features & PK_FEATURE_CONTAINS_SETSID) != 0;
        EXPECT_EQ(IsCgroup(), contains_setsid);
        ASSERT_EQ(PK_OK, pk_group_free(probe)) << pk_last_error();
    }
    const int fds_before = pktest::OpenFdCount();

    Totals tot;
    long done = 0;
    int batch_no = 0;
    while (done < budget.count() && budget.TimeLeft() && tot.failures == 0) {
        const int n = static_cast<int>(std::min<long>(kBatch, budget.count() - done));
        BatchGuard guard;
        std::vector<pk_group*>& shared = guard.groups;
        for (int i = 0; i < kSharedGroups; i++) {
            pk_group* g = NewGroup();
            ASSERT_NE(nullptr, g);
            shared.push_back(g);
            tot.groups++;
        }
        std::vector<Tree> trees;
        for (int i = 0; i < n; i++) {
            Tree t;
            unsigned r = rng() % 100;
            t.kind = r < 35 ? kChain : r < 60 ? kDaemon : r < 80 ? kEscaper : kBurst;
            t.depth = t.kind == kChain ? 1 + static_cast<int>(rng() % 4) : 0;
            t.pidfile = tmp.File("b" + std::to_string(batch_no) + "-t" + std::to_string(i) + ".pids");
            tot.trees[t.kind]++;
            if (t.kind == kBurst) {
                // Its own group, freed the moment the spawn returns.
                pk_group* g = NewGroup();
                ASSERT_NE(nullptr, g);
                tot.groups++;
                t.child = SpawnTree(g, script, t);
                EXPECT_EQ(PK_OK, pk_group_free(g)) << "burst free: " << pk_last_error();
            } else {
                t.child = SpawnTree(shared[rng() % shared.size()], script, t);
            }
            if (t.child)
                guard.children.push_back(t.child);
            trees.push_back(t);
        }

        // Wait for every non-burst tree to be fully built, then identify it.
        std::vector<Rec> recs;
        auto setup_end = Clock::now() + std::chrono::milliseconds(kSetupMs);
        for (int i = 0; i < n; i++) {
            const Tree& t = trees[i];
            if (t.kind == kBurst || !t.child)
                continue;
            std::vector<Line> lines;
            while (static_cast<int>((lines = ReadLines(t.pidfile)).size()) < ExpectedLines(t) &&
                   Clock::now() < setup_end)
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            EXPECT_EQ(ExpectedLines(t), static_cast<int>(lines.size()))
                << kKindNames[t.kind] << " tree " << i << " of batch " << batch_no << " did not finish its setup";
            for (const Line& l : lines) {
                pktest::ProcId id = pktest::Identify(l.pid);
                if (id.start_time)
                    recs.push_back({id, l.tag == 'E', i});
            }
        }
        if (IsCgroup()) {
            // Every member, whatever the pid files say.
            for (pk_group* g : shared) {
                int32_t pids[512];
                size_t count = 0;
                ASSERT_EQ(PK_OK, pk_group_members(g, pids, 512, &count)) << pk_last_error();
                for (size_t k = 0; k < count && k < 512; k++) {
                    pktest::ProcId id = pktest::Identify(pids[k]);
                    if (id.start_time)
                        recs.push_back({id, false, -1});
                }
            }
        }
        for (const Rec& r : recs)
            if (r.tree >= 0)
                tot.identified++;

        for (pk_group* g : shared)
            EXPECT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
        shared.clear();
        for (Tree& t : trees)
            ReleaseChild(t.child);
        guard.children.clear();

        // Identified processes: dead, but for escapers the mechanism said it
        // cannot hold.
        for (const Rec& r : recs) {
            if (r.escaper && !contains_setsid) {
                if (pktest::Alive(r.id)) {
                    tot.escaped++;
                    pktest::KillIfAlive(r.id);
                }
                continue;
            }
            if (!pktest::WaitDead(r.id, kDeathMs)) {
                tot.failures++;
                ADD_FAILURE() << "pid " << r.id.pid << " (" << pkstress::Cmdline(r.id.pid) << ") of "
                              << (r.tree >= 0 ? kKindNames[trees[r.tree].kind] : "a member") << " tree survived "
                              << "pk_group_free on " << (IsCgroup() ? "cgroup v2" : "the process group");
                pktest::KillIfAlive(r.id);
            }
        }
        // Everything else the trees made is our child now (we are their
        // subreaper): any live one is a survivor no pid file named.
        int reaped_before = pkstress::ReapOrphans();
        tot.swept_zombies += reaped_before;
        for (pid_t p : pkstress::LiveChildrenAfter(200)) {
            pktest::ProcId id = pktest::Identify(p);
            const bool escaper = pkstress::SessionOf(p) == p;
            if (escaper && !contains_setsid) {
                tot.escaped++;  // an escaper no pid file named yet (killed before it could be written)
            } else {
                tot.failures++;
                ADD_FAILURE() << "unlisted survivor pid " << p << " (" << pkstress::Cmdline(p) << ", state "
                              << pktest::State(p) << ", sid " << pkstress::SessionOf(p) << ") after batch "
                              << batch_no;
            }
            pktest::KillIfAlive(id);
        }
        std::vector<pid_t> left = pkstress::LiveChildrenAfter(kDeathMs);
        EXPECT_TRUE(left.empty()) << left.size() << " process(es) survived even our own SIGKILL";
        for (Tree& t : trees)
            unlink(t.pidfile.c_str());
        done += n;
        batch_no++;
    }

    const int64_t ms = budget.elapsed_ms();
    printf("[stress_trees] backend=%s seed=%u trees=%ld/%ld (chain %ld, daemon %ld, escaper %ld, burst %ld) "
           "groups=%ld identified=%ld escaped_and_killed=%ld orphans_reaped=%ld failures=%ld in %lld ms "
           "(budget %lld ms)\n",
           IsCgroup() ? "cgroup-v2" : "process-group", seed, done, budget.count(), tot.trees[0], tot.trees[1],
           tot.trees[2], tot.trees[3], tot.groups, tot.identified, tot.escaped, tot.swept_zombies, tot.failures,
           static_cast<long long>(ms), static_cast<long long>(budget.budget_ms()));
    if (done < budget.count())
        printf("[stress_trees] wall-time budget reached after %ld of %ld trees\n", done, budget.count());
    fflush(stdout);
    EXPECT_GT(done, 0);
    if (IsCgroup()) {
        EXPECT_EQ(0, tot.escaped);
    }
    EXPECT_EQ(0, tot.failures);
    EXPECT_EQ(fds_before, pktest::OpenFdCount()) << "fds leaked";
    EXPECT_TRUE(pktest::OurCgroupLeaves().empty()) << "cgroup leaves left behind";
    EXPECT_TRUE(pkstress::LiveChildrenAfter(0).empty());
    EXPECT_TRUE(pktest::Children().empty()) << "zombie children left behind";
}

INSTANTIATE_TEST_SUITE_P(Backends, StressTrees,
                         testing::Values(static_cast<int>(PK_BACKEND_CGROUP_V2),
                                         static_cast<int>(PK_BACKEND_PROCESS_GROUP)),
                         [](const testing::TestParamInfo<int>& info) {
                             return info.param == PK_BACKEND_CGROUP_V2 ? std::string("CgroupV2")
                                                                       : std::string("ProcessGroup");
                         });

}  // namespace
