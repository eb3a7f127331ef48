// What every suite that calls the C API shares: assertions that print the
// library's error message, and owning handles that free (and check the free)
// on scope exit. Header-only, for Linux and the Windows suites alike.
#ifndef PK_TESTS_PK_TEST_H
#define PK_TESTS_PK_TEST_H

#include <memory>

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

}  // namespace pktest

#define EXPECT_PK_ERR(code, call) EXPECT_TRUE(::pktest::PkErr((code), (call), #call))
#define EXPECT_PK_OK(call) EXPECT_EQ(PK_OK, (call)) << #call << ": " << pk_last_error()
#define ASSERT_PK_OK(call) ASSERT_EQ(PK_OK, (call)) << #call << ": " << pk_last_error()

#endif
