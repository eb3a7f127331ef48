// Eight threads spawn, signal and kill in one group at once, while others
// read members and stats: the library's locking must keep this race-free
// (run under --config=tsan) and leave nothing behind.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <thread>
#include <vector>

#include "processkit.h"
#include "support/proc_util.h"

namespace {

class ConcurrencyTest : public ::testing::TestWithParam<int> {};

TEST_P(ConcurrencyTest, EightThreadsSpawnSignalAndKillOneGroup) {
    const int fds_before = pktest::OpenFdCount();
    pk_group_options o = PK_GROUP_OPTIONS_INIT;
    o.backend = GetParam();
    pk_group* g = nullptr;
    ASSERT_EQ(PK_OK, pk_group_create(&o, &g)) << pk_last_error();

    std::atomic<int> spawned{0}, failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; t++) {
        threads.emplace_back([&, t] {
            const char* argv[] = {"sleep", "30", nullptr};
            pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
            so.argv = argv;
            so.stdin_fd = PK_STDIO_NULL;
            for (int i = 0; i < 10; i++) {
                switch ((t + i) % 4) {
                case 0:
                case 1: {
                    pk_child* c = nullptr;
                    if (pk_group_spawn(g, &so, &c) == PK_OK) {
                        spawned++;
                        if (i % 3 == 0)
                            pk_child_signal(c, SIGTERM);
                        pk_child_free(c);
                    } else {
                        failures++;
                    }
                    break;
                }
                case 2:
                    if (pk_group_signal(g, SIGCONT) != PK_OK)
                        failures++;
                    if (pk_group_kill(g) != PK_OK)
                        failures++;
                    break;
                default: {
                    int32_t pids[64];
                    size_t n = 0;
                    pk_group_stats st = PK_GROUP_STATS_INIT;
                    if (pk_group_members(g, pids, 64, &n) != PK_OK || pk_group_stats_get(g, &st) != PK_OK)
                        failures++;
                    break;
                }
                }
            }
        });
    }
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(0, failures.load());
    EXPECT_GT(spawned.load(), 0);
    ASSERT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
    EXPECT_EQ(fds_before, pktest::OpenFdCount());
    EXPECT_TRUE(pktest::OurCgroupLeaves().empty());
}

TEST(Concurrency, FreeRacingUseIsAnErrorNotACrash) {
    for (int round = 0; round < 20; round++) {
        pk_group* g = nullptr;
        ASSERT_EQ(PK_OK, pk_group_create(nullptr, &g)) << pk_last_error();
        std::atomic<bool> go{false};
        std::thread user([&] {
            while (!go.load()) {
            }
            for (int i = 0; i < 50; i++) {
                int rc = pk_group_kill(g);
                EXPECT_TRUE(rc == PK_OK || rc == PK_ERR_HANDLE) << rc;
            }
        });
        go = true;
        EXPECT_EQ(PK_OK, pk_group_free(g));
        user.join();
    }
    EXPECT_TRUE(pktest::OurCgroupLeaves().empty());
}

TEST(Concurrency, LastErrorIsPerThread) {
    std::thread other([] {
        EXPECT_EQ(PK_ERR_INVALID, pk_group_create(nullptr, nullptr));
        EXPECT_STRNE("", pk_last_error());
    });
    other.join();
    pk_containment c = PK_CONTAINMENT_INIT;
    EXPECT_EQ(PK_OK, pk_host_probe(PK_BACKEND_AUTO, &c));
    EXPECT_STREQ("", pk_last_error());
}

INSTANTIATE_TEST_SUITE_P(Backends, ConcurrencyTest,
                         ::testing::Values(PK_BACKEND_CGROUP_V2, PK_BACKEND_PROCESS_GROUP),
                         [](const ::testing::TestParamInfo<int>& info) {
                             return info.param == PK_BACKEND_CGROUP_V2 ? "CgroupV2" : "ProcessGroup";
                         });

}  // namespace
