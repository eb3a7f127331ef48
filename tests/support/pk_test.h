// What every suite that calls the C API shares: assertions that print the
// library's error message, and owning handles that free (and check the free)
// on scope exit. Header-only, for Linux and the Windows suites alike.
#ifndef PK_TESTS_PK_TEST_H
#define PK_TESTS_PK_TEST_H

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "processkit.h"

namespace pktest {

// rc must be `code`, and the thread's message must say something.
inline ::testing::AssertionResult PkErr(int code, int rc, const char* expr) {
    const char* msg = pk_last_error();
    if (rc != code)
        return ::testing::AssertionFailure() << expr << " returned " << rc << " (" << pk_strerror(rc) << "), want "
                                             << code << " (" << pk_strerror(code) << "); message: " << msg;
    if (!msg || !msg[0])
        return ::testing::AssertionFailure() << expr << " failed with " << rc << " but left pk_last_error() empty";
    return ::testing::AssertionSuccess();
}

// Owning handles: freed on scope exit, and the free must succeed.
#define PKTEST_OWNER(Name, type, free_fn)                                                          \
    struct Name##Free {                                                                            \
        void operator()(type* h) const { EXPECT_EQ(PK_OK, free_fn(h)) << #free_fn ": " << pk_last_error(); } \
    };                                                                                             \
    using Name = std::unique_ptr<type, Name##Free>
PKTEST_OWNER(Cmd, pk_command, pk_command_free);
PKTEST_OWNER(Loop, pk_loop, pk_loop_free);
PKTEST_OWNER(Proc, pk_process, pk_process_free);
PKTEST_OWNER(Result, pk_result, pk_result_free);
PKTEST_OWNER(Cancel, pk_cancel, pk_cancel_free);
PKTEST_OWNER(Pipeline, pk_pipeline, pk_pipeline_free);
PKTEST_OWNER(Group, pk_group, pk_group_free);
#undef PKTEST_OWNER

// New objects, owned; a failure is a test failure (and an empty owner).
inline Cmd NewCmd(const std::vector<std::string>& args) {
    pk_command* c = nullptr;
    int rc = pk_command_new(args[0].c_str(), &c);
    EXPECT_EQ(PK_OK, rc) << pk_last_error();
    if (rc != PK_OK)
        return Cmd();
    for (size_t i = 1; i < args.size(); i++)
        EXPECT_EQ(PK_OK, pk_command_arg(c, args[i].c_str())) << pk_last_error();
    return Cmd(c);
}

inline Cmd Sh(const std::string& script) { return NewCmd({"sh", "-c", script}); }

inline Loop NewLoop() {
    pk_loop* l = nullptr;
    EXPECT_EQ(PK_OK, pk_loop_new(&l)) << pk_last_error();
    return Loop(l);
}

inline Cancel NewCancel() {
    pk_cancel* c = nullptr;
    EXPECT_EQ(PK_OK, pk_cancel_new(&c)) << pk_last_error();
    return Cancel(c);
}

inline Pipeline NewPipeline() {
    pk_pipeline* p = nullptr;
    EXPECT_EQ(PK_OK, pk_pipeline_new(&p)) << pk_last_error();
    return Pipeline(p);
}

inline Group NewGroup() {
    pk_group* g = nullptr;
    EXPECT_EQ(PK_OK, pk_group_create(nullptr, &g)) << pk_last_error();
    return Group(g);
}

}  // namespace pktest

#define EXPECT_PK_ERR(code, call) EXPECT_TRUE(::pktest::PkErr((code), (call), #call))
#define EXPECT_PK_OK(call) EXPECT_EQ(PK_OK, (call)) << #call << ": " << pk_last_error()
#define ASSERT_PK_OK(call) ASSERT_EQ(PK_OK, (call)) << #call << ": " << pk_last_error()

#endif
