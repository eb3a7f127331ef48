#include <gtest/gtest.h>

#include "processkit.h"
#include "support/proc_util.h"

TEST(Smoke, GrandchildDiesWithGroup) {
    pktest::TempDir tmp;
    std::string pidfile = tmp.File("gc.pid");
    std::string script = "sleep 30 & echo $! > " + pidfile + "; wait";
    const char* argv[] = {"sh", "-c", script.c_str(), nullptr};
    for (int backend : {PK_BACKEND_CGROUP_V2, PK_BACKEND_PROCESS_GROUP}) {
        pk_group_options o = PK_GROUP_OPTIONS_INIT;
        o.backend = backend;
        pk_group* g = nullptr;
        ASSERT_EQ(PK_OK, pk_group_create(&o, &g)) << pk_last_error();
        pk_containment c = PK_CONTAINMENT_INIT;
        ASSERT_EQ(PK_OK, pk_group_containment(g, &c));
        printf("mechanism %s reason '%s' path '%s'\n", pk_mechanism_name(c.mechanism), c.reason, c.cgroup_path);
        pk_spawn_options so = PK_SPAWN_OPTIONS_INIT;
        so.argv = argv;
        pk_child* ch = nullptr;
        ASSERT_EQ(PK_OK, pk_group_spawn(g, &so, &ch)) << pk_last_error();
        pid_t gc = pktest::ReadPidFile(pidfile, 5000);
        ASSERT_GT(gc, 0);
        pktest::ProcId gid = pktest::Identify(gc);
        EXPECT_TRUE(pktest::Alive(gid));
        ASSERT_EQ(PK_OK, pk_group_free(g)) << pk_last_error();
        EXPECT_TRUE(pktest::WaitDead(gid, 5000));
        pk_exit_status st = PK_EXIT_STATUS_INIT;
        EXPECT_EQ(PK_OK, pk_child_wait(ch, 0, &st)) << pk_last_error();
        EXPECT_EQ(PK_EXIT_SIGNAL, st.kind);
        EXPECT_EQ(9, st.signal);
        EXPECT_EQ(PK_OK, pk_child_free(ch));
        unlink(pidfile.c_str());
        EXPECT_TRUE(pktest::OurCgroupLeaves().empty());
    }
}
